import type { Worker } from 'bullmq';
import type { RedisClient } from '../shared/redis';
import type { QueueName } from '../shared/queues';
import type { WorkerDeps } from './deps';
import { dropOutboxRow } from '../shared/outbox';
import { createPoolWorker, QueueHandlers } from './runtime';
import { createSendingHandlers } from './sending';
import { createDispatchHandlers } from './dispatch';
import { createMaintenanceHandlers } from './maintenance';
import { createCampaignHandlers } from './campaigns';
import { createBillingHandlers } from './billing';
import { createWebhookHandlers } from './webhooks';

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
  // Webhook deliveries wait on receivers (up to the timeout): many at once per process.
  webhooks: { queue: 'webhooks', concurrency: 32, handlers: (deps: WorkerDeps) => createWebhookHandlers(deps) } as PoolDefinition<'webhooks'>,
  // Monthly roll-ups: a few aggregate queries per tenant, bounded so they never crowd PostgreSQL.
  billing: { queue: 'billing', concurrency: 4, handlers: createBillingHandlers } as PoolDefinition<'billing'>,
  // Imports and campaign fan-out: each job is a few large transactions; one campaign's chunks run one at a time.
  campaigns: { queue: 'campaigns', concurrency: 4, handlers: createCampaignHandlers } as PoolDefinition<'campaigns'>,
  maintenance: { queue: 'maintenance', concurrency: 2, handlers: createMaintenanceHandlers } as PoolDefinition<'maintenance'>,
} as const;

export type PoolName = keyof typeof POOLS;

export function isPoolName(name: string): name is PoolName {
  return Object.prototype.hasOwnProperty.call(POOLS, name);
}

/**
 * The port of a pool process's Prometheus listener: WORKER_METRICS_PORT plus
 * the index of its (first) pool in POOLS, so one machine runs every pool type
 * without two listeners on one port.
 */
export function metricsPort(base: number, pools: PoolName[]): number {
  return base + Object.keys(POOLS).indexOf(pools[0]);
}

export function startPool(name: PoolName, deps: WorkerDeps, connection: RedisClient, concurrency?: number): Worker {
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
    dropOutbox: (tenantId, queue, job, refId) => dropOutboxRow(deps.db.app, tenantId, queue, job, refId),
  });
}
