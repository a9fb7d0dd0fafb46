import type { RedisClient } from '../shared/redis';
import type { Config } from '../shared/config';
import type { Database } from '../shared/db';
import type { Queues } from '../shared/queues';
import type { Logger } from '../shared/logger';

/** What every worker pool is wired with. */
export interface WorkerDeps {
  config: Config;
  db: Database;
  queues: Queues;
  /** A producer-side connection for counters (per-line throughput). */
  redis: RedisClient;
  log: Logger;
}
