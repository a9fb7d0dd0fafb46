import type { Request, RequestHandler } from 'express';
import type { RedisClient } from '../../shared/redis';
import type { Knex } from 'knex';
import { createRemoteJWKSet, jwtVerify, JWTVerifyGetKey } from 'jose';
import { findKeyByHash, hashApiKey, touchApiKeys, type AuthenticatedKey } from '../../shared/data/api-keys';
import { findOwnTenant } from '../../shared/data/tenants';
import { addApiCallCounts } from '../../shared/data/usage';
import { ForbiddenError, UnauthorizedError } from '../../shared/errors';
import { extendContext } from '../../shared/context';
import { withTenant } from '../../shared/db/tenant';
import { effectiveLimit } from '../../shared/plans';
import type { Caller } from '../types';
import type { Config } from '../../shared/config';
import type { Logger } from '../../shared/logger';

type KeyRecord = AuthenticatedKey;

interface CacheEntry {
  record: KeyRecord | null;
  expiresAt: number;
}

export interface Authenticator {
  middleware: RequestHandler;
  /** Drops cached credentials here and, through Redis, in every other process. */
  invalidate(target: { keyHash?: string; tenantId?: string }): Promise<void>;
  /** Writes batched last_used_at and API call counts. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

function invalidationChannel(prefix: string): string {
  return `${prefix}:auth-invalidate`;
}

function rateLimitFor(record: KeyRecord): number | null {
  if (record.rate_limit_unlimited) return null;
  if (record.rate_limit !== null) return record.rate_limit;
  return effectiveLimit(record.plan, record.limits ?? {}, 'requests_per_minute');
}

/**
 * API-key and portal-JWT authentication. Key rows are cached in process for a
 * few seconds (the hot path must not pay a PostgreSQL round trip per request);
 * revocation and suspension publish an invalidation that every process applies
 * before its next request, and the revoking process drops its entry at once.
 */
export function createAuthenticator(deps: { config: Config; app: Knex; redis: RedisClient; subscriber: RedisClient; log: Logger }): Authenticator {
  const { config, app, redis, subscriber, log } = deps;
  const cache = new Map<string, CacheEntry>();
  const lastUsed = new Map<string, Date>();
  const callCounts = new Map<string, { tenantId: string; keyId: string; day: string; calls: number }>();
  const channel = invalidationChannel(config.queuePrefix);
  const jwks: JWTVerifyGetKey | null = config.jwt ? createRemoteJWKSet(new URL(config.jwt.jwksUrl)) : null;

  const drop = (target: { keyHash?: string; tenantId?: string }) => {
    if (target.keyHash) cache.delete(target.keyHash);
    if (target.tenantId) {
      for (const [hash, entry] of cache) {
        if (entry.record?.tenant_id === target.tenantId) cache.delete(hash);
      }
      for (const [hash, entry] of jwtTenantCache) if (entry.tenantId === target.tenantId) jwtTenantCache.delete(hash);
    }
  };
  const jwtTenantCache = new Map<string, { tenantId: string; record: KeyRecord | null; expiresAt: number }>();

  subscriber.on('message', (received: string, message: string) => {
    if (received !== channel) return;
    try {
      drop(JSON.parse(message) as { keyHash?: string; tenantId?: string });
    } catch {
      log.warn('ignored malformed auth invalidation');
    }
  });
  void subscriber.subscribe(channel).catch((error: unknown) => log.error({ err: error }, 'auth invalidation subscribe failed'));

  async function lookupKey(hash: string): Promise<KeyRecord | null> {
    const now = Date.now();
    const cached = cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.record;
    const record = await findKeyByHash(app, hash);
    if (config.authCacheSeconds > 0) cache.set(hash, { record, expiresAt: now + config.authCacheSeconds * 1000 });
    if (cache.size > 50000) cache.clear();
    return record;
  }

  async function lookupTenantForJwt(tenantId: string): Promise<KeyRecord | null> {
    const now = Date.now();
    const cached = jwtTenantCache.get(tenantId);
    if (cached && cached.expiresAt > now) return cached.record;
    const row = await withTenant(app, tenantId, findOwnTenant);
    const record: KeyRecord | null = row
      ? {
          key_id: '',
          tenant_id: row.id,
          prefix: 'tf_live',
          permissions: 'full',
          rate_limit: null,
          rate_limit_unlimited: false,
          key_status: 'active',
          tenant_status: row.status,
          plan: row.plan,
          limits: row.limits,
          tenant_name: row.name,
          pool: row.pool,
        }
      : null;
    jwtTenantCache.set(tenantId, { tenantId, record, expiresAt: now + config.authCacheSeconds * 1000 });
    return record;
  }

  function callerFrom(record: KeyRecord, via: Caller['via'], subject: string): Caller {
    return {
      tenantId: record.tenant_id,
      tenantName: record.tenant_name,
      pool: record.pool,
      plan: record.plan,
      limits: record.limits ?? {},
      via,
      keyId: via === 'api_key' ? record.key_id : null,
      subject,
      sandbox: record.prefix === 'tf_test',
      permissions: record.permissions,
      rateLimit: rateLimitFor(record),
      tenantRateLimit: typeof record.limits?.requests_per_minute === 'number' ? record.limits.requests_per_minute : null,
    };
  }

  async function authenticate(req: Request): Promise<Caller> {
    const header = req.headers.authorization;
    if (!header) throw new UnauthorizedError('Missing API key: send "Authorization: Bearer <key>".');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new UnauthorizedError('Malformed Authorization header: expected "Bearer <key>".');
    const token = match[1];

    if (token.startsWith('tf_live_') || token.startsWith('tf_test_')) {
      const hash = hashApiKey(token);
      const record = await lookupKey(hash);
      if (!record || record.key_status === 'revoked') throw new UnauthorizedError('Invalid API key.');
      if (record.key_status === 'inactive') throw new ForbiddenError('This API key is deactivated.', 'KEY_INACTIVE');
      if (record.tenant_status === 'suspended') throw new ForbiddenError('This account is suspended.', 'TENANT_SUSPENDED');
      lastUsed.set(record.key_id, new Date());
      const day = new Date().toISOString().slice(0, 10);
      const countKey = `${record.key_id}/${day}`;
      const counter = callCounts.get(countKey) ?? { tenantId: record.tenant_id, keyId: record.key_id, day, calls: 0 };
      counter.calls += 1;
      callCounts.set(countKey, counter);
      return callerFrom(record, 'api_key', `key:${record.key_id}`);
    }

    if (jwks && config.jwt && token.split('.').length === 3) {
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: config.jwt.issuer,
          audience: config.jwt.audience,
          requiredClaims: ['exp'],
        }));
      } catch {
        throw new UnauthorizedError('Invalid or expired token.', 'INVALID_API_KEY');
      }
      const tenantId = payload[config.jwt.tenantClaim];
      if (typeof tenantId !== 'string' || !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(tenantId)) {
        throw new UnauthorizedError('The token names no tenant.');
      }
      const record = await lookupTenantForJwt(tenantId);
      if (!record) throw new UnauthorizedError('The token names no tenant.');
      if (record.tenant_status === 'suspended') throw new ForbiddenError('This account is suspended.', 'TENANT_SUSPENDED');
      return callerFrom(record, 'jwt', `jwt:${tenantId}:${String(payload.sub ?? '')}`);
    }

    throw new UnauthorizedError('Invalid API key.');
  }

  const middleware: RequestHandler = (req, _res, next) => {
    authenticate(req)
      .then((caller) => {
        req.caller = caller;
        extendContext({ tenantId: caller.tenantId });
        if (caller.permissions === 'read_only' && !['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
          throw new ForbiddenError('This API key is read-only.');
        }
        next();
      })
      .catch(next);
  };

  async function flush(): Promise<void> {
    if (lastUsed.size > 0) {
      const ids = [...lastUsed.keys()];
      const at = new Date(Math.max(...[...lastUsed.values()].map((date) => date.getTime())));
      lastUsed.clear();
      await touchApiKeys(app, ids, at);
    }
    if (callCounts.size > 0) {
      const counts = [...callCounts.values()];
      callCounts.clear();
      const byTenant = new Map<string, typeof counts>();
      for (const count of counts) byTenant.set(count.tenantId, [...(byTenant.get(count.tenantId) ?? []), count]);
      for (const [tenantId, rows] of byTenant) {
        await withTenant(app, tenantId, (t) => addApiCallCounts(t, rows));
      }
    }
  }

  const timer = setInterval(() => {
    flush().catch((error: unknown) => log.warn({ err: error }, 'auth usage flush failed'));
  }, 5000);
  timer.unref();

  return {
    middleware,
    async invalidate(target) {
      drop(target);
      await redis.publish(channel, JSON.stringify(target));
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush().catch((error: unknown) => log.warn({ err: error }, 'auth usage flush failed'));
    },
  };
}
