import { withTenant } from '../../shared/db/tenant';
import { campaignCounts, CampaignRow, completionCheckJob, getCampaign, markCampaignCompleted } from '../../shared/data/campaigns';
import { campaignHasUnfinishedMessages } from '../../shared/data/messages';
import { emitEvent } from '../../shared/events';
import { addToOutbox, consumeOutbox, enqueueAll, OutboxJob } from '../../shared/outbox';
import type { WorkerDeps } from '../deps';
import { deferred, done, JobOutcome, skipped } from '../runtime';

const MIN_CHECK_MS = 1000;
const MAX_CHECK_MS = 30000;

/**
 * How long until the next look: about 1/30 of the time since launch, so a
 * campaign that runs a minute is seen complete within ~2 s and one stuck for
 * hours (no line, deferred to midnight) costs one query every 30 s.
 */
export function nextCheckDelayMs(campaign: Pick<CampaignRow, 'status' | 'launched_at'>, now = Date.now()): number {
  if (campaign.status === 'paused' || !campaign.launched_at) return MAX_CHECK_MS;
  return Math.min(MAX_CHECK_MS, Math.max(MIN_CHECK_MS, Math.round((now - campaign.launched_at.getTime()) / 30)));
}

/**
 * Watches a launched campaign until every recipient has a message and every
 * message is terminal (delivered, read, failed or blocked), then records
 * `campaign.completed` once. One job per campaign that re-delays itself,
 * rather than a check per message status change: that would put one outbox
 * row (or one job) per message, or every message transition on one hot row.
 * Exactly once: the completion is a conditional UPDATE (completed_at IS NULL)
 * in the same transaction as the event.
 */
export function createCompletionCheck(deps: WorkerDeps) {
  return async function checkCompletion(payload: { tenantId: string; campaignId: string }): Promise<JobOutcome> {
    const { tenantId, campaignId } = payload;
    const outcome = await withTenant(deps.db.app, tenantId, async (t): Promise<{ jobs: OutboxJob[]; result: JobOutcome }> => {
      const campaign = await getCampaign(t, campaignId);
      if (campaign.status === 'completed' || campaign.status === 'cancelled') {
        await consumeOutbox(t, 'campaigns', 'check-completion', campaignId);
        return { jobs: [], result: skipped(`campaign is ${campaign.status}`) };
      }
      if (campaign.launched_at && campaign.fanned_out >= campaign.total && ['sending', 'paused'].includes(campaign.status)) {
        if (!(await campaignHasUnfinishedMessages(t, campaignId))) {
          await consumeOutbox(t, 'campaigns', 'check-completion', campaignId);
          const completed = await markCampaignCompleted(t, campaignId);
          if (!completed) return { jobs: [], result: skipped('already completed') };
          const counts = (await campaignCounts(t, [completed])).get(campaignId);
          const event = await emitEvent(
            t,
            'campaign.completed',
            { campaign_id: campaignId, name: completed.name, status: 'completed', total: completed.total, counts },
            { sandbox: completed.sandbox },
          );
          return { jobs: [event], result: done('completed') };
        }
      }
      const delayMs = nextCheckDelayMs(campaign);
      // Keeps the outbox row (the relay's copy of this job) due at the next look.
      await addToOutbox(t, [completionCheckJob(tenantId, campaignId, delayMs)]);
      return { jobs: [], result: deferred(new Date(Date.now() + delayMs), 'not complete yet') };
    });
    await enqueueAll(deps.queues, outcome.jobs);
    return outcome.result;
  };
}
