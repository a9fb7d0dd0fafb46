import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '../shared/redis';
import { JobName, JobPayload, payloadProblem, QueueName, jobNames, queuePrefix } from '../shared/queues';
import { runWithContext } from '../shared/context';
import { NotFoundError, AppError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { jobDuration, jobsTotal } from '../shared/metrics';
import { inSpan, SpanKind } from '../shared/tracing';

export type JobHandler<Q extends QueueName, J extends JobName<Q>> = (payload: JobPayload<Q, J>, job: Job, token?: string) => Promise<unknown>;
export type QueueHandlers<Q extends QueueName> = { [J in JobName<Q>]: JobHandler<Q, J> };

/**
 * What a handler says happened, written once per kind instead of by hand in
 * every handler:
 * - `done`: the work happened (`detail` says what, for logs and Bull Board);
 * - `skipped`: nothing to do, now or ever (already settled, not this tenant's):
 *   the job completes and its outbox row, if any, is dropped;
 * - `deferred`: not yet; the job goes back to the queue until `until` without
 *   using an attempt (a line busy, a cap reached, no line yet);
 * - `failed`: a permanent failure; never retried.
 * A handler run directly (no lock token, as in tests) gets its outcome back as is.
 */
export type JobOutcome =
  | { kind: 'done'; detail?: string }
  | { kind: 'skipped'; reason: string }
  | { kind: 'deferred'; until: Date; reason: string }
  | { kind: 'failed'; reason: string };

export const done = (detail?: string): JobOutcome => (detail === undefined ? { kind: 'done' } : { kind: 'done', detail });
export const skipped = (reason: string): JobOutcome => ({ kind: 'skipped', reason });
export const deferred = (until: Date, reason: string): JobOutcome => ({ kind: 'deferred', until, reason });
export const failed = (reason: string): JobOutcome => ({ kind: 'failed', reason });

function isOutcome(value: unknown): value is JobOutcome {
  return Boolean(value) && typeof value === 'object' && ['done', 'skipped', 'deferred', 'failed'].includes((value as { kind?: string }).kind ?? '');
}

/** Drops a job's own outbox row, so the relay does not bring back work that can never run. */
export type OutboxDropper = (tenantId: string, queue: QueueName, job: string, refId: string) => Promise<void>;

/**
 * Runs one job through the registry's checks and acts on its outcome: a
 * payload that does not match its schema, or whose records are missing or
 * belong to another tenant, is a terminal failure (never retried, its outbox
 * row dropped); a `deferred` outcome delays the job; a `failed` outcome or a
 * client error is unrecoverable; anything else thrown is retried with backoff.
 */
export async function runJob<Q extends QueueName>(queue: Q, handlers: QueueHandlers<Q>, job: Job, log: Logger, token?: string, dropOutbox?: OutboxDropper): Promise<unknown> {
  const problem = payloadProblem(queue, job.name, job.data);
  if (problem) {
    log.error({ queue, job: job.name, jobId: job.id, problem }, 'job payload rejected');
    throw new UnrecoverableError(`invalid payload: ${problem}`);
  }
  const tenantId = (job.data as { tenantId?: string }).tenantId;
  // A job's id is `<job name>__<ref id>` (jobId in shared/queues.ts), as its outbox row's key.
  const dropOwnOutboxRow = async () => {
    const prefix = `${job.name}__`;
    if (!dropOutbox || !tenantId || !job.id?.startsWith(prefix)) return;
    await dropOutbox(tenantId, queue, job.name, job.id.slice(prefix.length));
  };
  const traceparent = (job.data as { traceparent?: string }).traceparent;
  const span = { kind: SpanKind.CONSUMER, traceparent, attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': queue, 'messaging.message.id': job.id ?? '', 'senderz.job': job.name } };
  return runWithContext({ jobId: job.id, queue, tenantId }, () => inSpan(`${queue} ${job.name}`, span, async () => {
    const handler = handlers[job.name as JobName<Q>] as unknown as (payload: unknown, job: Job, token?: string) => Promise<unknown>;
    let outcome: unknown;
    try {
      outcome = await handler(job.data, job, token);
    } catch (error) {
      if (error instanceof NotFoundError) {
        log.warn({ job: job.name }, "job skipped: record missing or not this tenant's");
        await dropOwnOutboxRow();
        throw new UnrecoverableError(`skipped: ${error.message}`);
      }
      if (error instanceof AppError && error.status < 500 && error.status !== 429) {
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
    if (!isOutcome(outcome)) return outcome;
    switch (outcome.kind) {
      case 'deferred':
        if (!token) return outcome;
        await job.moveToDelayed(outcome.until.getTime(), token);
        throw new DelayedError();
      case 'failed':
        if (!token) return outcome;
        throw new UnrecoverableError(outcome.reason);
      case 'skipped':
        await dropOwnOutboxRow();
        return outcome;
      default:
        return outcome;
    }
  }, (error) => error instanceof DelayedError));
}

/** What a job run came to, for senderz_jobs_total (shared/metrics.ts). */
function runOutcome(job: Job, result: unknown, error: unknown): string {
  if (error === undefined) return isOutcome(result) && result.kind !== 'done' ? result.kind : 'completed';
  if (error instanceof DelayedError) return 'deferred';
  if (error instanceof UnrecoverableError) return 'failed';
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1) ? 'failed' : 'retried';
}

/** runJob with its duration and outcome counted: a few in-memory increments per job. */
async function measuredJob<Q extends QueueName>(queue: Q, handlers: QueueHandlers<Q>, job: Job, log: Logger, token?: string, dropOutbox?: OutboxDropper): Promise<unknown> {
  const started = process.hrtime.bigint();
  let result: unknown;
  let error: unknown;
  try {
    result = await runJob(queue, handlers, job, log, token, dropOutbox);
    return result;
  } catch (caught) {
    error = caught;
    throw caught;
  } finally {
    // A name the registry does not know (a rejected payload) is not a label of its own.
    const labels = { queue, job: (jobNames(queue) as string[]).includes(job.name) ? job.name : 'unknown', outcome: runOutcome(job, result, error) };
    jobsTotal.inc(labels);
    jobDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

export interface PoolWorkerOptions<Q extends QueueName> {
  queue: Q;
  handlers: QueueHandlers<Q>;
  connection: RedisClient;
  prefix: string;
  concurrency: number;
  log: Logger;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  dropOutbox?: OutboxDropper;
}

/** A BullMQ worker for one queue; refuses to start when a job of the queue has no handler. */
export function createPoolWorker<Q extends QueueName>(options: PoolWorkerOptions<Q>): Worker {
  const missing = jobNames(options.queue).filter((name) => typeof (options.handlers as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) throw new Error(`queue "${options.queue}" has no handler for: ${missing.join(', ')}`);
  const worker = new Worker(options.queue, (job, token) => measuredJob(options.queue, options.handlers, job, options.log, token, options.dropOutbox), {
    connection: options.connection,
    prefix: queuePrefix(options.prefix, options.queue, options.connection.isCluster),
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
