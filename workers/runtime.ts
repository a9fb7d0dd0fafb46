import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobName, JobPayload, payloadProblem, QueueName, jobNames } from '../shared/queues';
import { runWithContext } from '../shared/context';
import { NotFoundError, AppError } from '../shared/errors';
import type { Logger } from '../shared/logger';

export type JobHandler<Q extends QueueName, J extends JobName<Q>> = (payload: JobPayload<Q, J>, job: Job, token?: string) => Promise<unknown>;
export type QueueHandlers<Q extends QueueName> = { [J in JobName<Q>]: JobHandler<Q, J> };

/**
 * Runs one job through the registry's checks: a payload that does not match
 * its schema, or whose records are missing or belong to another tenant, is a
 * terminal failure (never retried); anything else thrown is retried with backoff.
 */
export async function runJob<Q extends QueueName>(queue: Q, handlers: QueueHandlers<Q>, job: Job, log: Logger, token?: string): Promise<unknown> {
  const problem = payloadProblem(queue, job.name, job.data);
  if (problem) {
    log.error({ queue, job: job.name, jobId: job.id, problem }, 'job payload rejected');
    throw new UnrecoverableError(`invalid payload: ${problem}`);
  }
  const tenantId = (job.data as { tenantId?: string }).tenantId;
  return runWithContext({ jobId: job.id, queue, tenantId }, async () => {
    const handler = handlers[job.name as JobName<Q>] as unknown as (payload: unknown, job: Job, token?: string) => Promise<unknown>;
    try {
      return await handler(job.data, job, token);
    } catch (error) {
      if (error instanceof NotFoundError) {
        log.warn({ job: job.name }, 'job skipped: record missing or not this tenant\'s');
        throw new UnrecoverableError(`skipped: ${error.message}`);
      }
      if (error instanceof AppError && error.status < 500 && error.status !== 429) {
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
  });
}

/**
 * Puts the running job back until `until` without using an attempt (a line
 * busy, a cap reached, no line yet). Called without a lock token (a handler
 * run directly), it only returns `result`.
 */
export async function delayJob(job: Job, token: string | undefined, until: Date, result: string): Promise<string> {
  if (!token) return result;
  await job.moveToDelayed(until.getTime(), token);
  throw new DelayedError();
}

export interface PoolWorkerOptions<Q extends QueueName> {
  queue: Q;
  handlers: QueueHandlers<Q>;
  connection: Redis;
  prefix: string;
  concurrency: number;
  log: Logger;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

/** A BullMQ worker for one queue; refuses to start when a job of the queue has no handler. */
export function createPoolWorker<Q extends QueueName>(options: PoolWorkerOptions<Q>): Worker {
  const missing = jobNames(options.queue).filter((name) => typeof (options.handlers as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) throw new Error(`queue "${options.queue}" has no handler for: ${missing.join(', ')}`);
  const worker = new Worker(options.queue, (job, token) => runJob(options.queue, options.handlers, job, options.log, token), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
  });
  worker.on('failed', (job, error) => {
    options.log.warn({ queue: options.queue, job: job?.name, jobId: job?.id, attempts: job?.attemptsMade, err: error.message }, 'job failed');
  });
  worker.on('error', (error) => options.log.error({ queue: options.queue, err: error.message }, 'worker error'));
  return worker;
}

/** worker.close() waits for active jobs without a bound of its own. */
export async function closeWorkers(workers: Worker[], boundMs = 20000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bounded = new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)));
  await Promise.race([Promise.all(workers.map((worker) => worker.close())).then(() => undefined), bounded]);
  clearTimeout(timer);
  // Jobs still active after the bound go back to the queue through stall detection.
  await Promise.all(workers.map((worker) => (worker.isRunning() ? worker.close(true) : undefined)));
}
