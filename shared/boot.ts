import v8 from 'node:v8';
import type { RedisClient } from './redis';
import { Config, ConfigError, loadConfig, LoadConfigOptions } from './config';
import { assertRowLevelSecurity, createDatabase, Database, DatabaseOptions, ping } from './db';
import { createRedis, waitForRedis } from './redis';
import { logger } from './logger';

/** A failure at boot that deserves one clear line, not a stack trace. */
export class BootError extends Error {}

function where(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || (parsed.protocol.startsWith('redis') ? '6379' : '5432')}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
  } catch {
    return url;
  }
}

export function bootConfig(options: LoadConfigOptions = {}): Config {
  try {
    const config = loadConfig(process.env, options);
    logger.level = config.logLevel;
    // Read by V8 each time it sets the next collection's threshold, so it takes effect from here on.
    if (config.heapGrowingPercent > 0) v8.setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) throw new BootError(`configuration error: ${error.message}`);
    throw error;
  }
}

export async function connectDatabase(config: Config, options: DatabaseOptions = {}): Promise<Database> {
  const db = createDatabase(config, { gatherMs: config.statementGatherMs, ...options });
  try {
    await ping(db.owner);
  } catch (error) {
    await db.destroy();
    throw new BootError(`PostgreSQL is unreachable at ${where(config.databaseUrl)}: ${(error as Error).message}`);
  }
  try {
    await ping(db.app);
  } catch (error) {
    await db.destroy();
    throw new BootError(
      `PostgreSQL refused the runtime role at ${where(config.appDatabaseUrl)} (run \`npm run migrate\` to create it): ${(error as Error).message}`,
    );
  }
  try {
    await assertRowLevelSecurity(db.app);
  } catch (error) {
    await db.destroy();
    throw new BootError(`refusing to start: ${(error as Error).message}`);
  }
  return db;
}

export async function connectRedis(config: Config, role: 'producer' | 'worker'): Promise<RedisClient> {
  const client = createRedis(config, role);
  client.on('error', () => undefined); // reported by waitForRedis / the readiness check
  try {
    await waitForRedis(client, 5000);
  } catch {
    client.disconnect();
    const at = config.redisCluster ? `the cluster nodes ${config.redisCluster.nodes.map((node) => `${node.host}:${node.port}`).join(', ')}` : where(config.redisUrl);
    throw new BootError(`Redis is unreachable at ${at}`);
  }
  const policy = (await client.config('GET', 'maxmemory-policy').catch(() => [])) as string[];
  if (policy[1] && policy[1] !== 'noeviction') {
    logger.warn({ policy: policy[1] }, 'Redis maxmemory-policy is not noeviction: queued jobs and locks may be evicted');
  }
  return client;
}

/** Runs a process main: a BootError prints one line and exits 1. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof BootError) {
      logger.fatal({ process: name }, error.message);
      process.stderr.write(`senderz ${name}: ${error.message}\n`);
    } else {
      logger.fatal({ err: error, process: name }, 'fatal error');
    }
    process.exit(1);
  });
}

/** SIGTERM/SIGINT: stop taking work, finish or return in-flight work, exit 0 within the bound. */
export function onShutdown(name: string, stop: () => Promise<void>, boundMs = 25000): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ process: name, signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.warn({ process: name }, 'shutdown bound reached; exiting');
      process.exit(0);
    }, boundMs);
    timer.unref();
    stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error, process: name }, 'error during shutdown');
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}
