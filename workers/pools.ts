import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueName } from '../shared/queues';
import type { WorkerDeps } from './deps';
import { createPoolWorker, QueueHandlers } from './runtime';
import { createSendingHandlers } from './sending';
import { createDispatchHandlers } from './dispatch';
import { createMaintenanceHandlers } from './maintenance';

interface PoolDefinition<Q extends QueueName> {
  queue: Q;
  concurrency: number;
  handlers(deps: WorkerDeps): QueueHandlers<Q>;
}

/**
 * One pool per concern; each Procfile process type runs exactly one pool and
 * consumes only its own queue. Concurrency is per process
 * (`<POOL>_CONCURRENCY` overrides it): I/O-bound pools run many jobs at once.
 */
export const POOLS = {
  sending: { queue: 'sending', concurrency: 16, handlers: createSendingHandlers } as PoolDefinition<'sending'>,
  dispatch: { queue: 'dispatch', concurrency: 32, handlers: createDispatchHandlers } as PoolDefinition<'dispatch'>,
  maintenance: { queue: 'maintenance', concurrency: 2, handlers: createMaintenanceHandlers } as PoolDefinition<'maintenance'>,
} as const;

export type PoolName = keyof typeof POOLS;

export function isPoolName(name: string): name is PoolName {
  return Object.prototype.hasOwnProperty.call(POOLS, name);
}

export function startPool(name: PoolName, deps: WorkerDeps, connection: Redis, concurrency?: number): Worker {
  const pool = POOLS[name] as PoolDefinition<QueueName>;
  return createPoolWorker({
    queue: pool.queue,
    handlers: pool.handlers(deps),
    connection,
    prefix: deps.config.queuePrefix,
    concurrency: concurrency ?? pool.concurrency,
    log: deps.log,
    lockDurationMs: deps.config.workers.lockDurationMs,
    stalledIntervalMs: deps.config.workers.stalledIntervalMs,
  });
}
