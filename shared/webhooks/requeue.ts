import { bullJobId, jobOptions, OutboxJob } from '../outbox';
import type { Queues } from '../queues';

/**
 * Enqueues a delivery that may already have a job under its id: a finished
 * job (kept a while by removeOnComplete/removeOnFail) would swallow a plain
 * add, and a delayed one (waiting for its next scheduled attempt) is brought
 * forward. A waiting or active job is left alone: it is about to attempt.
 */
export async function requeueDelivery(queues: Queues, job: OutboxJob): Promise<void> {
  const queue = queues.get(job.queue);
  const id = bullJobId(job);
  const state = await queue.getJobState(id);
  if (state === 'delayed') {
    const existing = await queue.getJob(id);
    // It may have started between the two calls; then it is attempting already.
    await existing?.promote().catch(() => undefined);
    return;
  }
  if (state === 'waiting' || state === 'active' || state === 'prioritized' || state === 'waiting-children') return;
  if (state === 'completed' || state === 'failed') await queue.remove(id);
  await queue.add(job.job, job.payload, jobOptions(job));
}
