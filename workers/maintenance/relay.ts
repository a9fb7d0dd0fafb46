import type { WorkerDeps } from '../deps';
import { jobId, QueueName } from '../../shared/queues';
import { claimDueDispatches } from '../../shared/data/dispatches';
import { claimDueOutboxRows } from '../../shared/outbox';

/** Rows younger than this are still on their way through the normal path. */
const GRACE_SECONDS = 5;
/** A row the relay looked at is looked at again after this long if still there. */
const RECHECK_SECONDS = 60;
const BATCH = 500;
const LIVE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * The outbox relay: finds work whose job never ran (crash between commit and
 * enqueue, a Redis restart that lost every job, a job that gave up) and puts
 * it back on its queue under the same job id. Runs across tenants on the owner
 * pool; several relays never claim the same rows.
 */
export async function relayOutbox(deps: WorkerDeps, options: { graceSeconds?: number; maxMs?: number } = {}): Promise<number> {
  // A Redis restart can leave thousands of rows to rebuild: keep going batch by
  // batch (bounded in time) instead of one batch per scheduler tick.
  const deadline = Date.now() + (options.maxMs ?? 20000);
  let total = 0;
  for (;;) {
    const { looked, requeued } = await relayBatch(deps, options.graceSeconds ?? GRACE_SECONDS);
    total += requeued;
    if (looked < BATCH || Date.now() > deadline) break;
  }
  for (;;) {
    const { looked, requeued } = await relayDispatches(deps, options.graceSeconds ?? GRACE_SECONDS);
    total += requeued;
    if (looked < BATCH || Date.now() > deadline) break;
  }
  if (total > 0) deps.log.info({ requeued: total }, 'outbox relay re-enqueued work');
  return total;
}

/** Puts a job back under its id unless it is still waiting, delayed or running. */
async function requeue(deps: WorkerDeps, queueName: QueueName, job: string, refId: string, payload: Record<string, unknown>, priority: number): Promise<boolean> {
  const queue = deps.queues.get(queueName);
  const id = jobId(job, refId);
  const state = await queue.getJobState(id);
  if (LIVE_STATES.has(state)) return false;
  if (state === 'completed' || state === 'failed') await queue.remove(id);
  await queue.add(job, payload, { jobId: id, ...(priority > 0 ? { priority } : {}) });
  return true;
}

/** A pending dispatch is its own outbox row: one whose job is gone is pushed again. */
async function relayDispatches(deps: WorkerDeps, grace: number): Promise<{ looked: number; requeued: number }> {
  const rows = await claimDueDispatches(deps.db.owner, grace, RECHECK_SECONDS, BATCH);
  const requeued = await Promise.all(
    rows.map((row) => requeue(deps, 'dispatch', 'dispatch-message', row.id, { tenantId: row.tenant_id, messageId: row.message_id, dispatchId: row.id }, row.priority)),
  );
  return { looked: rows.length, requeued: requeued.filter(Boolean).length };
}

async function relayBatch(deps: WorkerDeps, grace: number): Promise<{ looked: number; requeued: number }> {
  const rows = await claimDueOutboxRows(deps.db.owner, grace, RECHECK_SECONDS, BATCH);
  const requeued = (await Promise.all(rows.map((row) => requeue(deps, row.queue, row.job_name, row.ref_id, row.payload, row.priority)))).filter(Boolean).length;
  return { looked: rows.length, requeued };
}
