import { withTenant } from '../../shared/db/tenant';
import { completionCheckJob, fanOutChunkJob, getCampaign, markCampaignLaunched } from '../../shared/data/campaigns';
import { addToOutbox, consumeOutbox, enqueueAll, OutboxJob, postponeOutboxRow } from '../../shared/outbox';
import type { WorkerDeps } from '../deps';
import { deferred, done, JobOutcome, skipped } from '../runtime';

/** A launch that arrives this early (clock skew between processes) still goes. */
const EARLY_TOLERANCE_MS = 1000;

/**
 * Starts a campaign's fan-out when it is due: the first chunk job and the
 * completion check, in the transaction that marks it launched. Runs once:
 * a launched, cancelled or completed campaign is left alone.
 */
export function createCampaignLauncher(deps: WorkerDeps) {
  return async function launchCampaign(payload: { tenantId: string; campaignId: string }): Promise<JobOutcome> {
    const { tenantId, campaignId } = payload;
    const outcome = await withTenant(deps.db.app, tenantId, async (t): Promise<{ jobs: OutboxJob[]; result: JobOutcome }> => {
      const campaign = await getCampaign(t, campaignId, { forUpdate: true });
      if (campaign.launched_at || !['queued', 'scheduled', 'paused'].includes(campaign.status)) {
        await consumeOutbox(t, 'campaigns', 'launch-campaign', campaignId);
        return { jobs: [], result: skipped(`not launched: campaign is ${campaign.status}`) };
      }
      if (campaign.scheduled_at && campaign.scheduled_at.getTime() > Date.now() + EARLY_TOLERANCE_MS) {
        await postponeOutboxRow(t, 'campaigns', 'launch-campaign', campaignId, campaign.scheduled_at);
        return { jobs: [], result: deferred(campaign.scheduled_at, 'not due yet') };
      }
      await consumeOutbox(t, 'campaigns', 'launch-campaign', campaignId);
      if (campaign.status === 'paused') {
        // Due while paused: resuming starts the fan-out.
        await markCampaignLaunched(t, campaignId, { sending: false });
        return { jobs: [], result: done('due while paused') };
      }
      await markCampaignLaunched(t, campaignId, { sending: true });
      const jobs = [fanOutChunkJob(tenantId, campaignId), completionCheckJob(tenantId, campaignId)];
      await addToOutbox(t, jobs);
      return { jobs, result: done('launched') };
    });
    await enqueueAll(deps.queues, outcome.jobs);
    return outcome.result;
  };
}
