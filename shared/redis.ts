import IORedis, { Cluster, Redis, RedisOptions } from 'ioredis';
import type { RedisClusterConfig } from './config';

/**
 * One Redis or a Redis Cluster: everything the platform does with Redis (queues,
 * rate limits, line and endpoint slots, cache invalidation) takes either. Keys
 * that a script or a transaction touches together share a hash tag (`{…}`), so
 * they land in one slot of a cluster.
 */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `Config` fits, and so does a bare `redis://` URL. */
export interface RedisTarget {
  redisUrl: string;
  redisCluster: RedisClusterConfig | null;
}

/**
 * Producers (request handlers) fail fast when Redis is down instead of queueing
 * commands in memory; workers wait for Redis forever, as BullMQ requires.
 */
export function createRedis(target: string, role: 'producer' | 'worker', extra?: RedisOptions): Redis;
export function createRedis(target: string | RedisTarget, role: 'producer' | 'worker', extra?: RedisOptions): RedisClient;
export function createRedis(target: string | RedisTarget, role: 'producer' | 'worker', extra: RedisOptions = {}): RedisClient {
  const options: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: role === 'worker',
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    ...extra,
  };
  const cluster = typeof target === 'string' ? null : target.redisCluster;
  if (cluster) {
    return new Cluster(cluster.nodes, {
      enableOfflineQueue: options.enableOfflineQueue,
      redisOptions: { ...options, ...(cluster.password ? { password: cluster.password } : {}) },
    });
  }
  return new IORedis(typeof target === 'string' ? target : target.redisUrl, options);
}

/** Waits until a client is ready, or fails with a readable reason. */
export async function waitForRedis(client: RedisClient, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}
