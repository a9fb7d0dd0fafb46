import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import supertest from 'supertest';
import type { Express } from 'express';
import pg from 'pg';
import { loadConfig, Config } from '../../shared/config';
import { createDatabase, Database, ensureDatabaseExists, migrateLatest } from '../../shared/db';
import { createRedis } from '../../shared/redis';
import { createQueues, Queues } from '../../shared/queues';
import { logger } from '../../shared/logger';
import { createApiApp, ApiApp } from '../../api/app';

export interface Harness {
  config: Config;
  env: Record<string, string>;
  db: Database;
  redis: Redis;
  subscriber: Redis;
  workerRedis: Redis;
  queues: Queues;
  api: ApiApp;
  app: Express;
  databaseName: string;
}

let current: Harness | null = null;

const BASE_URL = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || 'postgres://localhost:5432/postgres';

export function testEnv(databaseName: string, prefix: string): Record<string, string> {
  const url = new URL(BASE_URL);
  url.pathname = `/${databaseName}`;
  return {
    NODE_ENV: 'test',
    DATABASE_URL: url.toString(),
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    ADMIN_API_KEY: 'test_admin_' + crypto.randomBytes(16).toString('hex'),
    ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: '1',
    LOG_LEVEL: process.env.LOG_LEVEL || 'silent',
    AUTH_CACHE_SECONDS: '5',
  };
}

export async function startHarness(): Promise<Harness> {
  if (current) return current;
  const runId = `${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;
  const databaseName = `senderz_test_${runId}`;
  const env = testEnv(databaseName, `senderz_test_${runId}`);
  const config = loadConfig(env);
  logger.level = env.LOG_LEVEL;
  // Loggers made later in this process (the device simulator's) read the level from the environment.
  process.env.LOG_LEVEL = env.LOG_LEVEL;
  await ensureDatabaseExists(config.databaseUrl);
  const db = createDatabase(config);
  await migrateLatest(db.owner, config.appDatabaseRole, config.appDatabasePassword);
  const redis = createRedis(config.redisUrl, 'producer');
  const subscriber = createRedis(config.redisUrl, 'worker');
  const workerRedis = createRedis(config.redisUrl, 'worker');
  const queues = createQueues(redis, config.queuePrefix);
  const api = createApiApp({ config, db, redis, subscriber, queues, log: logger });
  current = { config, env, db, redis, subscriber, workerRedis, queues, api, app: api.app, databaseName };
  return current;
}

export function harness(): Harness {
  if (!current) throw new Error('test harness not started');
  return current;
}

export async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

export async function stopHarness(): Promise<void> {
  if (!current) return;
  const h = current;
  current = null;
  await h.api.close();
  await h.queues.close();
  await deleteRedisPrefix(h.redis, h.config.queuePrefix);
  h.redis.disconnect();
  h.subscriber.disconnect();
  h.workerRedis.disconnect();
  await h.db.destroy();
  const maintenance = new URL(h.config.databaseUrl);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(h.databaseName)} WITH (FORCE)`);
  await client.end();
}

export function api() {
  return supertest(harness().app);
}

export function adminHeaders() {
  return { Authorization: `Bearer ${harness().config.adminApiKey}` };
}

export interface TestTenant {
  id: string;
  name: string;
  key: string;
  keyId: string;
  testKey: string;
  auth: { Authorization: string };
  sandboxAuth: { Authorization: string };
}

let tenantCounter = 0;

/** A fresh tenant with a live and a test key, created through the operator API. */
export async function createTenant(options: { plan?: string; is_agency?: boolean; pool?: string; limits?: Record<string, number | null>; rateLimit?: number | null } = {}): Promise<TestTenant> {
  tenantCounter += 1;
  const name = `Tenant ${tenantCounter}`;
  const created = await api()
    .post('/admin/tenants')
    .set(adminHeaders())
    .send({ name, plan: options.plan, is_agency: options.is_agency, pool: options.pool, limits: options.limits });
  if (created.status !== 201) throw new Error(`tenant create failed: ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.data.id as string;
  const rateLimit = options.rateLimit === undefined ? null : options.rateLimit;
  const live = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: id, name: 'live', prefix: 'tf_live', rate_limit: rateLimit });
  const test = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: id, name: 'test', prefix: 'tf_test', rate_limit: rateLimit });
  if (live.status !== 201 || test.status !== 201) throw new Error(`key create failed: ${live.status} ${test.status}`);
  return {
    id,
    name,
    key: live.body.data.key,
    keyId: live.body.data.id,
    testKey: test.body.data.key,
    auth: { Authorization: `Bearer ${live.body.data.key}` },
    sandboxAuth: { Authorization: `Bearer ${test.body.data.key}` },
  };
}

/** Polls until `check` returns a truthy value, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 10000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** What `work` returned, and the SQL of every statement the app pool (the web's and the workers' pool) sent while it ran. */
export async function appStatementsDuring<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const statements: string[] = [];
  const onQuery = (query: { sql: string }) => statements.push(query.sql);
  harness().db.app.on('query', onQuery);
  try {
    return { result: await work(), statements };
  } finally {
    harness().db.app.off('query', onQuery);
  }
}
