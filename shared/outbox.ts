import type { JobsOptions } from 'bullmq';
import type { TenantTx } from './db/tenant';
import { jobId, JobName, JobPayload, QueueName, Queues } from './queues';

/**
 * Work that must reach a queue is first a row in `outbox`, written in the same
 * transaction as the change it follows from. After commit the writer enqueues
 * it at once; a relay re-enqueues rows whose job never ran (a crash between
 * commit and enqueue, or a Redis restart that lost the job). The consumer
 * deletes the row in the transaction that does the work, and its conditional
 * updates make a second run harmless.
 */
export interface OutboxJob {
  queue: QueueName;
  job: string;
  refId: string;
  payload: Record<string, unknown>;
  priority: number;
  delayMs: number;
}

export function outboxJob<Q extends QueueName, J extends JobName<Q>>(
  queue: Q,
  job: J,
  refId: string,
  payload: JobPayload<Q, J>,
  options: { priority?: number; delayMs?: number } = {},
): OutboxJob {
  return { queue, job, refId, payload: payload as Record<string, unknown>, priority: options.priority ?? 0, delayMs: options.delayMs ?? 0 };
}

export function outboxRow(tenantId: string, job: OutboxJob) {
  return {
    tenant_id: tenantId,
    queue: job.queue,
    job_name: job.job,
    ref_id: job.refId,
    payload: JSON.stringify(job.payload),
    priority: job.priority,
    available_at: new Date(Date.now() + job.delayMs),
  };
}

/** Records jobs in the outbox inside the tenant transaction (idempotent per queue/job/ref). */
export async function addToOutbox(t: TenantTx, jobs: OutboxJob[]): Promise<void> {
  if (jobs.length === 0) return;
  await t
    .insert('outbox', jobs.map((job) => outboxRow(t.tenantId, job)))
    .onConflict(['queue', 'job_name', 'ref_id'])
    .merge(['payload', 'priority', 'available_at']);
}

/** Deletes the outbox row of the job being processed; call inside the work's transaction. */
export async function consumeOutbox(t: TenantTx, queue: QueueName, job: string, refId: string): Promise<void> {
  await t.from('outbox').where({ queue, job_name: job, ref_id: refId }).delete();
}

export function bullJobId(job: Pick<OutboxJob, 'job' | 'refId'>): string {
  return jobId(job.job, job.refId);
}

export function jobOptions(job: OutboxJob): JobsOptions {
  const options: JobsOptions = { jobId: bullJobId(job) };
  if (job.priority > 0) options.priority = job.priority;
  if (job.delayMs > 0) options.delay = job.delayMs;
  return options;
}

/** Enqueues committed outbox jobs; a failure here is repaired by the relay. */
export async function enqueueAll(queues: Queues, jobs: OutboxJob[]): Promise<void> {
  await Promise.all(
    jobs.map((job) =>
      queues.get(job.queue).add(job.job, job.payload, jobOptions(job)),
    ),
  );
}
