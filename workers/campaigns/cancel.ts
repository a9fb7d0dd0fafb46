import { withTenant } from '../../shared/db/tenant';
import { getCampaign } from '../../shared/data/campaigns';
import { queuedCampaignMessageIds } from '../../shared/data/messages';
import { transitionMessage } from '../../shared/messages/status';
import { consumeOutbox, dropOutboxRows, enqueueAll, OutboxJob } from '../../shared/outbox';
import type { WorkerDeps } from '../deps';
import { done, JobOutcome } from '../runtime';

/** Messages failed per transaction. */
const CANCEL_BATCH = 200;

/**
 * After a cancel: every message of the campaign still queued (not yet handed
 * to a line) is failed with reason `cancelled`, in batches, and its routing
 * job's outbox row is dropped. A message the router already took is past
 * recall; transitionMessage only moves a message that is still queued.
 */
export function createCancelMessages(deps: WorkerDeps) {
  return async function cancelCampaignMessages(payload: { tenantId: string; campaignId: string }): Promise<JobOutcome> {
    const { tenantId, campaignId } = payload;
    let cancelled = 0;
    for (;;) {
      const batch = await withTenant(deps.db.app, tenantId, async (t) => {
        const campaign = await getCampaign(t, campaignId);
        const ids = campaign.status === 'cancelled' ? await queuedCampaignMessageIds(t, campaignId, CANCEL_BATCH) : [];
        const jobs: OutboxJob[] = [];
        for (const id of ids) {
          const transition = await transitionMessage(t, id, 'failed', { reason: 'cancelled' });
          if (!transition.changed) continue;
          jobs.push(...transition.jobs);
          cancelled += 1;
          await dropOutboxRows(t, 'sending', ['route-message', 'sandbox-advance'], [id]);
        }
        const done = ids.length < CANCEL_BATCH;
        if (done) await consumeOutbox(t, 'campaigns', 'cancel-campaign', campaignId);
        return { jobs, done };
      });
      await enqueueAll(deps.queues, batch.jobs);
      if (batch.done) return done(`cancelled ${cancelled} queued messages`);
    }
  };
}
