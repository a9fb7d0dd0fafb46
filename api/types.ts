import type { RedisClient } from '../shared/redis';
import type { Config } from '../shared/config';
import type { Database } from '../shared/db';
import type { Queues } from '../shared/queues';
import type { Logger } from '../shared/logger';
import type { Plan, TenantLimits } from '../shared/schemas/admin';
import type { Permission } from '../shared/schemas/api-keys';

/** Everything the HTTP layer is wired with. */
export interface ApiDeps {
  config: Config;
  db: Database;
  redis: RedisClient;
  queues: Queues;
  log: Logger;
}

/** Who is calling: resolved from an API key or a portal user's JWT. */
export interface Caller {
  tenantId: string;
  tenantName: string;
  pool: string;
  plan: Plan;
  limits: TenantLimits;
  via: 'api_key' | 'jwt';
  keyId: string | null;
  subject: string;
  sandbox: boolean;
  permissions: Permission;
  /** Requests per minute for this caller; null = no limit. */
  rateLimit: number | null;
  /** The operator's per-tenant `limits.requests_per_minute`: one budget for all of the tenant's keys and portal users. */
  tenantRateLimit: number | null;
}

declare module 'express-serve-static-core' {
  interface Request {
    id: string;
    caller?: Caller;
    rawBody?: Buffer;
  }
}
