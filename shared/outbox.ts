import type { JobsOptions } from 'bullmq';
import type { Knex } from 'knex';
import { withTenant, TenantTx } from './db/tenant';
import { jobId, JobName, JobPayload, QueueName, Queues } from './queues';
import { withTraceparent } from './tracing';

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
    .onConflict(['tenant_id', 'queue', 'job_name', 'ref_id'])
    .merge(['payload', 'priority', 'available_at']);
}

/** Deletes the outbox row of the job being processed; call inside the work's transaction. */
export async function consumeOutbox(t: TenantTx, queue: QueueName, job: string, refId: string): Promise<void> {
  await t.from('outbox').where({ queue, job_name: job, ref_id: refId }).delete();
}

/**
 * Drops one job's outbox row in a transaction of its own, in the tenant's
 * scope: a row of another tenant (a payload naming foreign ids) is never touched.
 */
export async function dropOutboxRow(app: Knex, tenantId: string, queue: QueueName, job: string, refId: string): Promise<void> {
  await withTenant(app, tenantId, (t) => consumeOutbox(t, queue, job, refId));
}

/**
 * Drops the outbox rows of several jobs at once (a cancelled campaign's
 * routing jobs, a disabled endpoint's deliveries); `refIds` may be a subquery.
 */
export async function dropOutboxRows(t: TenantTx, queue: QueueName, jobs: string[], refIds: string[] | Knex.QueryBuilder): Promise<void> {
  await t.from('outbox').where({ queue }).whereIn('job_name', jobs).whereIn('ref_id', refIds).delete();
}

/** Whether the job's outbox row is still there (a job whose row is gone was superseded). */
export async function hasOutboxRow(t: TenantTx, queue: QueueName, job: string, refId: string): Promise<boolean> {
  return Boolean(await t.from('outbox').where({ queue, job_name: job, ref_id: refId }).first('id'));
}

/** Moves a job's outbox row to `until`, so the relay's copy of a deferred job is due when the job is. */
export async function postponeOutboxRow(t: TenantTx, queue: QueueName, job: string, refId: string, until: Date): Promise<void> {
  await t.from('outbox').where({ queue, job_name: job, ref_id: refId }).update({ available_at: until, enqueued_at: null });
}

export interface DueOutboxRow {
  id: number;
  tenant_id: string;
  queue: QueueName;
  job_name: string;
  ref_id: string;
  payload: Record<string, unknown>;
  priority: number;
  available_at: Date;
}

/**
 * The relay's claim, across tenants on the owner pool: rows due for at least
 * `graceSeconds` that were never looked at or were looked at more than
 * `recheckSeconds` ago, oldest first, stamped as looked at now. `SKIP LOCKED`
 * lets several relays run without claiming the same rows.
 */
export async function claimDueOutboxRows(owner: Knex, graceSeconds: number, recheckSeconds: number, limit: number): Promise<DueOutboxRow[]> {
  return owner.transaction(async (trx) => {
    const claimed = (await trx('outbox')
      .where('available_at', '<=', trx.raw('now() - make_interval(secs => ?)', [graceSeconds]))
      .andWhere((scope) => void scope.whereNull('enqueued_at').orWhere('enqueued_at', '<', trx.raw('now() - make_interval(secs => ?)', [recheckSeconds])))
      .orderBy('available_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .select('id', 'tenant_id', 'queue', 'job_name', 'ref_id', 'payload', 'priority', 'available_at')) as DueOutboxRow[];
    if (claimed.length > 0) {
      await trx('outbox')
        .whereIn(['tenant_id', 'id'], claimed.map((row) => [row.tenant_id, row.id]))
        .update({ enqueued_at: trx.fn.now() });
    }
    return claimed;
  });
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

/**
 * Enqueues committed outbox jobs; a failure here is repaired by the relay. The
 * running span's traceparent rides along (not in the outbox row: a job the
 * relay brings back starts a trace of its own).
 */
export async function enqueueAll(queues: Queues, jobs: OutboxJob[]): Promise<void> {
  await Promise.all(
    jobs.map((job) =>
      queues.get(job.queue).add(job.job, withTraceparent(job.payload), jobOptions(job)),
    ),
  );
}
