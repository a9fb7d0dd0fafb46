import { withTenant } from '../../shared/db/tenant';
import { completionCheckJob, fanOutChunkJob, getCampaign } from '../../shared/data/campaigns';
import { addToOutbox, consumeOutbox, enqueueAll, OutboxJob } from '../../shared/outbox';
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
        await t.from('outbox').where({ queue: 'campaigns', job_name: 'launch-campaign', ref_id: campaignId }).update({ available_at: campaign.scheduled_at, enqueued_at: null });
        return { jobs: [], result: deferred(campaign.scheduled_at, 'not due yet') };
      }
      await consumeOutbox(t, 'campaigns', 'launch-campaign', campaignId);
      if (campaign.status === 'paused') {
        // Due while paused: resuming starts the fan-out.
        await t.from('campaigns').where({ id: campaignId }).update({ launched_at: t.trx.fn.now(), updated_at: t.trx.fn.now() });
        return { jobs: [], result: done('due while paused') };
      }
      await t.from('campaigns').where({ id: campaignId }).update({ status: 'sending', launched_at: t.trx.fn.now(), updated_at: t.trx.fn.now() });
      const jobs = [fanOutChunkJob(tenantId, campaignId), completionCheckJob(tenantId, campaignId)];
      await addToOutbox(t, jobs);
      return { jobs, result: done('launched') };
    });
    await enqueueAll(deps.queues, outcome.jobs);
    return outcome.result;
  };
}
