import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import os from 'node:os';
import { QUEUE_NAMES, QueueName } from './queues';

/** Typed, validated configuration. Built once at boot from the environment. */
export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  databaseUrl: string;
  /** Connection string for the runtime role that Row-Level Security applies to. */
  appDatabaseUrl: string;
  appDatabaseRole: string;
  appDatabasePassword: string | null;
  redisUrl: string;
  /**
   * A Redis Cluster (`REDIS_CLUSTER_NODES=host:port,…`, `REDIS_PASSWORD`); null = the one Redis at `redisUrl`.
   * On a cluster every BullMQ queue gets a hash-tagged prefix (shared/queues.ts).
   */
  redisCluster: RedisClusterConfig | null;
  queuePrefix: string;
  adminApiKey: string;
  encryptionKey: Buffer;
  webhookAllowPrivateNetworks: boolean;
  jwt: { jwksUrl: string; issuer: string; audience: string; tenantClaim: string } | null;
  simulator: { enabled: boolean; port: number; controlToken: string | null };
  /** The admin key came from ADMIN_API_KEY (not generated into the local secrets file). */
  adminApiKeyFromEnv: boolean;
  logLevel: LogLevel;
  /** Public base URL printed in examples. */
  publicUrl: string;
  /** METRICS_PROCESS=1: prom-client's process and Node.js series on every /metrics (shared/metrics.ts). */
  processMetrics: boolean;
  bodyLimitBytes: number;
  /** Seconds an API key row may be served from the in-process cache. */
  authCacheSeconds: number;
  webhooks: { timeoutMs: number; retryScheduleSeconds: number[]; disableAfterDays: number; rotationOverlapHours: number; maxConcurrencyPerEndpoint: number };
  device: { timeoutMs: number; offlineAfterSeconds: number; timestampToleranceSeconds: number };
  /** BullMQ lock and stall detection: how soon a job of a killed worker is handed to another. */
  /** `concurrency`: `<POOL>_CONCURRENCY` per pool where set (jobs in flight per process); the pools' own defaults otherwise. */
  /**
   * `metricsPort`: WORKER_METRICS_PORT, the base of the pools' Prometheus listeners (a pool process
   * listens on base + its pool's index, bin/worker.ts); null (unset) runs none. `metricsHost`: WORKER_METRICS_HOST, else HOST.
   */
  workers: { lockDurationMs: number; stalledIntervalMs: number; concurrency: Partial<Record<QueueName, number>>; metricsPort: number | null; metricsHost: string };
  /** CAMPAIGN_MAX_PER_SECOND: campaign messages routed per second across the deployment (shared/routing/bulk-pace.ts); 0 = unpaced. */
  campaigns: { maxPerSecond: number };
  /** HEAP_GROWING_PERCENT: how far V8 lets the old generation grow past its live size before a full collection (shared/boot.ts); 0 = V8's own choice. */
  heapGrowingPercent: number;
  /** STATEMENT_GATHER_MS: how long a hot statement waits for others to share its commit (shared/db/index.ts); 0 = only those ready together. */
  statementGatherMs: number;
}

export class ConfigError extends Error {}

/**
 * Campaign messages a second, deployment-wide: half to three quarters of what
 * one 2-core box routes and dispatches unpaced (446–482 and 290–340 msg/s on
 * the two machines measured), so single sends keep their latency while a
 * campaign runs. Raise it with the machines.
 */
export const DEFAULT_CAMPAIGN_MAX_PER_SECOND = 250;

/**
 * V8 lets a busy process's old generation grow to several times its live
 * size before collecting it (the web process, about 30 MB live, reached
 * 220 MB RSS under the accept suite). At 50 % it collects at 1.5 times the
 * live size: 145 MB at the peak at the same throughput.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;

export interface RedisClusterConfig {
  /** Seed nodes; the client discovers the rest of the cluster from them. */
  nodes: { host: string; port: number }[];
  password: string | null;
}

/** `REDIS_CLUSTER_NODES=host:port,host:port` (IPv6 as `[::1]:7000`). */
export function redisCluster(env: Env): RedisClusterConfig | null {
  const raw = (env.REDIS_CLUSTER_NODES || '').trim();
  if (raw === '') return null;
  const nodes = raw.split(',').map((part) => {
    const entry = part.trim();
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : NaN;
    if (!match || port < 1 || port > 65535) throw new ConfigError(`REDIS_CLUSTER_NODES must be a comma-separated list of host:port, got "${entry}"`);
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  });
  return { nodes, password: env.REDIS_PASSWORD || null };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function logLevel(env: Env): LogLevel {
  const raw = env.LOG_LEVEL;
  if (raw === undefined || raw === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return raw as LogLevel;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be 1 or 0, got "${raw}"`);
}

function url(env: Env, name: string, fallback: string, protocols: string[]): string {
  const raw = env[name] || fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
  }
  return raw;
}

/** Parses a 32-byte key given as 64 hex characters or base64. */
export function parseEncryptionKey(raw: string): Buffer {
  const trimmed = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  const decoded = Buffer.from(trimmed, 'base64');
  if (decoded.length === 32) return decoded;
  throw new ConfigError('ENCRYPTION_KEY must be 32 bytes, as 64 hex characters or base64');
}

/** Like libpq: no user in the URL means the operating-system user. */
function withDefaultUser(databaseUrl: string): string {
  const parsed = new URL(databaseUrl);
  if (parsed.username) return databaseUrl;
  parsed.username = os.userInfo().username;
  return parsed.toString();
}

function appUrlFor(databaseUrl: string, role: string, password: string | null): string {
  const parsed = new URL(databaseUrl);
  parsed.username = role;
  parsed.password = password ?? '';
  return parsed.toString();
}

/**
 * Where `npm start` keeps generated development secrets, so that a restart keeps
 * the same admin key and can still decrypt what it encrypted.
 */
export const LOCAL_SECRETS_FILE = path.resolve(process.cwd(), '.senderz', 'secrets.json');

interface LocalSecrets {
  adminApiKey?: string;
  encryptionKey?: string;
  /** Guards the device simulator's control API under `npm start`. */
  simulatorControlToken?: string;
}

function localSecrets(create: boolean): LocalSecrets {
  let secrets: LocalSecrets = {};
  try {
    secrets = JSON.parse(fs.readFileSync(LOCAL_SECRETS_FILE, 'utf8')) as LocalSecrets;
  } catch {
    if (!create) return {};
  }
  if (!create || (secrets.adminApiKey && secrets.encryptionKey && secrets.simulatorControlToken)) return secrets;
  // Fill in what is missing (a file from an older version has no simulator token) and keep the rest.
  secrets = {
    adminApiKey: secrets.adminApiKey ?? 'sk_admin_' + crypto.randomBytes(24).toString('base64url'),
    encryptionKey: secrets.encryptionKey ?? crypto.randomBytes(32).toString('hex'),
    simulatorControlToken: secrets.simulatorControlToken ?? 'sim_' + crypto.randomBytes(24).toString('base64url'),
  };
  fs.mkdirSync(path.dirname(LOCAL_SECRETS_FILE), { recursive: true, mode: 0o700 });
  fs.writeFileSync(LOCAL_SECRETS_FILE, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

export interface LoadConfigOptions {
  /** Generate and persist development secrets when they are missing (npm start only). */
  generateLocalSecrets?: boolean;
  /** Migrations need no secrets; every other process does. */
  requireSecrets?: boolean;
}

export function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): Config {
  const nodeEnv = env.NODE_ENV === 'production' ? 'production' : env.NODE_ENV === 'test' ? 'test' : 'development';
  const databaseUrl = withDefaultUser(url(env, 'DATABASE_URL', 'postgres://localhost:5432/senderz', ['postgres:', 'postgresql:']));
  const appDatabaseRole = env.DATABASE_APP_ROLE || 'senderz_app';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(appDatabaseRole)) {
    throw new ConfigError('DATABASE_APP_ROLE must be a plain lower-case PostgreSQL role name');
  }
  const appDatabasePassword = env.DATABASE_APP_PASSWORD || null;
  const appDatabaseUrl = env.DATABASE_APP_URL
    ? url(env, 'DATABASE_APP_URL', '', ['postgres:', 'postgresql:'])
    : appUrlFor(databaseUrl, appDatabaseRole, appDatabasePassword);

  let adminApiKey = env.ADMIN_API_KEY || '';
  let encryptionKeyRaw = env.ENCRYPTION_KEY || '';
  if (options.requireSecrets === false) {
    adminApiKey ||= crypto.randomBytes(24).toString('hex');
    encryptionKeyRaw ||= crypto.randomBytes(32).toString('hex');
  } else if (nodeEnv === 'production') {
    if (!adminApiKey) throw new ConfigError('ADMIN_API_KEY is required when NODE_ENV=production');
    if (!encryptionKeyRaw) throw new ConfigError('ENCRYPTION_KEY is required when NODE_ENV=production');
  } else if (!adminApiKey || !encryptionKeyRaw) {
    const local = localSecrets(Boolean(options.generateLocalSecrets));
    adminApiKey ||= local.adminApiKey ?? '';
    encryptionKeyRaw ||= local.encryptionKey ?? '';
    if (!adminApiKey || !encryptionKeyRaw) {
      throw new ConfigError('ADMIN_API_KEY and ENCRYPTION_KEY are not set; run `npm start` once to generate development values, or set them');
    }
  }
  if (adminApiKey.length < 16) throw new ConfigError('ADMIN_API_KEY must be at least 16 characters');

  const jwksUrl = env.JWT_JWKS_URL;
  if (jwksUrl) {
    // Without both, a token minted for another application of the same identity provider would be accepted.
    if (!env.JWT_ISSUER) throw new ConfigError('JWT_ISSUER is required when JWT_JWKS_URL is set');
    if (!env.JWT_AUDIENCE) throw new ConfigError('JWT_AUDIENCE is required when JWT_JWKS_URL is set');
    if (nodeEnv === 'production' && !jwksUrl.startsWith('https://')) throw new ConfigError('JWT_JWKS_URL must be an https:// URL when NODE_ENV=production');
  }
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const host = env.HOST || '127.0.0.1';
  const retrySchedule = (env.WEBHOOK_RETRY_SCHEDULE || '30,120,600,1800,3600,10800,21600,43200,86400')
    .split(',')
    .map((part) => Number(part.trim()));
  if (retrySchedule.some((seconds) => !Number.isFinite(seconds) || seconds < 0)) {
    throw new ConfigError('WEBHOOK_RETRY_SCHEDULE must be a comma-separated list of seconds');
  }

  return {
    env: nodeEnv,
    port,
    host,
    databaseUrl,
    appDatabaseUrl,
    appDatabaseRole,
    appDatabasePassword,
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisCluster: redisCluster(env),
    queuePrefix: env.QUEUE_PREFIX || 'senderz',
    adminApiKey,
    encryptionKey: parseEncryptionKey(encryptionKeyRaw),
    webhookAllowPrivateNetworks: flag(env, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    jwt: jwksUrl
      ? {
          jwksUrl: url(env, 'JWT_JWKS_URL', '', ['http:', 'https:']),
          issuer: env.JWT_ISSUER as string,
          audience: env.JWT_AUDIENCE as string,
          tenantClaim: env.JWT_TENANT_CLAIM || 'tenant_id',
        }
      : null,
    simulator: {
      enabled: flag(env, 'SIMULATOR', true),
      port: integer(env, 'SIMULATOR_PORT', 4010, 0, 65535),
      controlToken: env.SIMULATOR_CONTROL_TOKEN || (options.generateLocalSecrets && nodeEnv !== 'production' ? (localSecrets(true).simulatorControlToken ?? null) : null),
    },
    adminApiKeyFromEnv: Boolean(env.ADMIN_API_KEY),
    logLevel: logLevel(env),
    processMetrics: env.METRICS_PROCESS === '1' || env.METRICS_PROCESS === 'true',
    publicUrl: env.PUBLIC_URL || `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024),
    authCacheSeconds: integer(env, 'AUTH_CACHE_SECONDS', 5, 0, 300),
    webhooks: {
      timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10000, 100),
      retryScheduleSeconds: retrySchedule,
      disableAfterDays: integer(env, 'WEBHOOK_DISABLE_AFTER_DAYS', 5, 1),
      rotationOverlapHours: integer(env, 'WEBHOOK_ROTATION_OVERLAP_HOURS', 24, 0),
      maxConcurrencyPerEndpoint: integer(env, 'WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT', 4, 1),
    },
    device: {
      timeoutMs: integer(env, 'DEVICE_TIMEOUT_MS', 10000, 100),
      offlineAfterSeconds: integer(env, 'LINE_OFFLINE_AFTER_SECONDS', 90, 1),
      timestampToleranceSeconds: 300,
    },
    workers: {
      lockDurationMs: integer(env, 'WORKER_LOCK_DURATION_MS', 30000, 1000),
      stalledIntervalMs: integer(env, 'WORKER_STALLED_INTERVAL_MS', 30000, 1000),
      concurrency: Object.fromEntries(
        QUEUE_NAMES.filter((pool) => env[`${pool.toUpperCase()}_CONCURRENCY`]).map((pool) => [pool, integer(env, `${pool.toUpperCase()}_CONCURRENCY`, 1, 1, 1000)]),
      ),
      metricsPort: env.WORKER_METRICS_PORT ? integer(env, 'WORKER_METRICS_PORT', 0, 1, 65535 - QUEUE_NAMES.length) : null,
      metricsHost: env.WORKER_METRICS_HOST || host,
    },
    campaigns: { maxPerSecond: integer(env, 'CAMPAIGN_MAX_PER_SECOND', DEFAULT_CAMPAIGN_MAX_PER_SECOND, 0, 100000) },
    heapGrowingPercent: integer(env, 'HEAP_GROWING_PERCENT', DEFAULT_HEAP_GROWING_PERCENT, 0, 1000),
    statementGatherMs: integer(env, 'STATEMENT_GATHER_MS', 0, 0, 50),
  };
}
