import { withTenant, TenantTx } from '../../shared/db/tenant';
import { CampaignRow, fanOutChunkJob, getCampaign, linkRecipientMessages, recipientsWithoutMessage, recordFanOutProgress } from '../../shared/data/campaigns';
import { contactsByIds, ContactRow } from '../../shared/data/contacts';
import { unroutedCampaignMessages } from '../../shared/data/messages';
import { insertOutboundMessages, NewOutboundMessage } from '../../shared/messages/outbound';
import { addToOutbox, consumeOutbox, enqueueAll, hasOutboxRow, OutboxJob, postponeOutboxRow } from '../../shared/outbox';
import { MAX_BODY_LENGTH } from '../../shared/schemas/messages';
import { MissingTemplateVariableError, renderTemplate } from '../../shared/templates';
import { reserveBulkStarts } from '../../shared/routing/bulk-pace';
import type { WorkerDeps } from '../deps';
import { deferred, done, JobOutcome, skipped } from '../runtime';

/**
 * Recipients per chunk job: one transaction of a few statements, the messages
 * of the chunk in one of them (each a row, its first history row and its
 * outbox rows), well under a second here, so a pause or cancel waits at most
 * that long for the lock.
 */
export const FAN_OUT_CHUNK = 500;
/**
 * The fan-out runs at most this many not-yet-routed messages ahead of the
 * router. Without it, 10,000 messages would exist seconds after launch and a
 * pause could hold back nothing; with it a pause leaves at most this window
 * plus one chunk to go out. Messages deferred by a cap (release_at set) do not
 * count, so a capped campaign still fans out.
 */
export const FAN_OUT_WINDOW = 1000;
/**
 * How soon a chunk job that found the window full looks again: a quarter of
 * the time a chunk takes at the campaign pace (shared/routing/bulk-pace.ts),
 * between 200 ms (unpaced) and 30 s, so a slow pace is not polled every 200 ms.
 */
export function windowRecheckMs(maxPerSecond: number): number {
  if (maxPerSecond <= 0) return 200;
  return Math.min(30000, Math.max(200, Math.round((FAN_OUT_CHUNK * 1000) / maxPerSecond / 4)));
}

/** Why a recipient's message is recorded as blocked instead of sent. */
export const RENDER_BLOCK_REASONS = { missingVariable: 'missing_template_var', tooLong: 'body_too_long' } as const;

/**
 * A recipient's template variables, from least to most specific: the
 * campaign's `data` (shared defaults, e.g. `{"name": "there"}`), the contact's
 * metadata fields by name (also as `metadata.<field>`), then the contact's own
 * `name`, `email` and `phone_number` where set.
 */
export function recipientVariables(campaign: Pick<CampaignRow, 'data'>, phoneNumber: string, contact: ContactRow | null): Record<string, unknown> {
  const variables: Record<string, unknown> = { ...campaign.data };
  if (contact) {
    Object.assign(variables, contact.metadata);
    variables.metadata = contact.metadata;
    if (contact.name !== null) variables.name = contact.name;
    if (contact.email !== null) variables.email = contact.email;
  }
  variables.phone_number = phoneNumber;
  return variables;
}

/** The text for one recipient, or the reason its message is blocked. */
export function renderForRecipient(body: string, variables: Record<string, unknown>): { text: string } | { blocked: string } {
  try {
    const text = renderTemplate(body, variables);
    return text.length > MAX_BODY_LENGTH ? { blocked: RENDER_BLOCK_REASONS.tooLong } : { text };
  } catch (error) {
    if (error instanceof MissingTemplateVariableError) return { blocked: RENDER_BLOCK_REASONS.missingVariable };
    throw error;
  }
}

/** Creates the messages of the next recipients, in the caller's transaction; returns the jobs to enqueue. */
async function createChunk(t: TenantTx, campaign: CampaignRow): Promise<{ created: number; jobs: OutboxJob[] }> {
  const recipients = await recipientsWithoutMessage(t, campaign.id, FAN_OUT_CHUNK);
  if (recipients.length === 0) return { created: 0, jobs: [] };

  const contactIds = [...new Set(recipients.flatMap((recipient) => (recipient.contact_id ? [recipient.contact_id] : [])))];
  const contacts = new Map((await contactsByIds(t, contactIds)).map((row): [string, ContactRow] => [row.id, row]));

  const inputs: NewOutboundMessage[] = recipients.map((recipient) => {
    const contact = recipient.contact_id ? (contacts.get(recipient.contact_id) ?? null) : null;
    const rendered = renderForRecipient(campaign.body, recipientVariables(campaign, recipient.phone_number, contact));
    return {
      to: recipient.phone_number,
      // A blocked message keeps the unrendered text, which shows what was missing.
      body: 'text' in rendered ? rendered.text : campaign.body,
      requestedChannel: campaign.channel,
      messageType: campaign.message_type,
      campaignId: campaign.id,
      templateId: campaign.template_id,
      sandbox: campaign.sandbox,
      dispatchWebhook: !campaign.sandbox,
      blockedReason: 'blocked' in rendered ? rendered.blocked : undefined,
    };
  });
  // The whole chunk in one statement, each recipient recorded as a single send would be.
  const accepted = await insertOutboundMessages(t, inputs);
  const links = accepted.map((message, index) => ({ phoneNumber: recipients[index].phone_number, messageId: message.id }));
  const jobs = accepted.flatMap((message) => message.jobs);
  // Same transaction as the messages: a re-run skips every recipient that has one.
  await linkRecipientMessages(t, campaign.id, links);
  return { created: recipients.length, jobs };
}

type ChunkOutcome = { jobs: OutboxJob[]; result: JobOutcome; sandbox?: boolean };

/**
 * One link of a campaign's fan-out chain: creates the next chunk of messages
 * (through insertOutboundMessages, so each is routed and checked exactly
 * like a single send, at bulk priority), records progress, and adds the next
 * link to the outbox in the same transaction. The next link is enqueued only
 * after this one committed; a crash before commit loses nothing (the job
 * retries) and a crash after it duplicates nothing (recipients with a message
 * are skipped, and a job whose outbox row is gone does nothing).
 */
export function createFanOutChunk(deps: WorkerDeps) {
  return async function fanOutChunk(payload: { tenantId: string; campaignId: string; chunkId: string }): Promise<JobOutcome> {
    const { tenantId, campaignId, chunkId } = payload;
    const outcome = await withTenant(deps.db.app, tenantId, async (t): Promise<ChunkOutcome> => {
      const campaign = await getCampaign(t, campaignId, { forUpdate: true });
      if (!(await hasOutboxRow(t, 'campaigns', 'fan-out-chunk', chunkId))) return { jobs: [], result: skipped('superseded: this chunk was already run, or the fan-out was restarted') };
      if (campaign.status !== 'sending') {
        await consumeOutbox(t, 'campaigns', 'fan-out-chunk', chunkId);
        return { jobs: [], result: skipped(`fan-out stopped: campaign is ${campaign.status}`) };
      }
      if ((await unroutedCampaignMessages(t, campaignId, FAN_OUT_WINDOW)) >= FAN_OUT_WINDOW) {
        const until = new Date(Date.now() + windowRecheckMs(deps.config.campaigns.maxPerSecond));
        await postponeOutboxRow(t, 'campaigns', 'fan-out-chunk', chunkId, until);
        return { jobs: [], result: deferred(until, 'waiting for the router to catch up') };
      }
      const { created, jobs } = await createChunk(t, campaign);
      const fannedOut = campaign.fanned_out + created;
      await recordFanOutProgress(t, campaignId, fannedOut);
      await consumeOutbox(t, 'campaigns', 'fan-out-chunk', chunkId);
      if (created > 0 && fannedOut < campaign.total) {
        const next = fanOutChunkJob(tenantId, campaignId);
        await addToOutbox(t, [next]);
        jobs.push(next);
      }
      return { jobs, result: done(`created ${created} messages (${fannedOut}/${campaign.total})`), sandbox: campaign.sandbox };
    });

    await enqueueAll(deps.queues, await paced(deps, outcome.jobs, outcome.sandbox === true));
    return outcome.result;
  };
}

/**
 * The chunk's first jobs on the sending queue (routing, or the sandbox's
 * steps), each delayed to its start on the deployment's campaign clock
 * (shared/routing/bulk-pace.ts; a sandbox campaign on the sandbox's own
 * clock); the other jobs (webhooks, the next link of the chain) go at once.
 * A job that is still delayed is alive for the relay, so its outbox row is
 * not enqueued a second time.
 */
async function paced(deps: WorkerDeps, jobs: OutboxJob[], sandbox: boolean): Promise<OutboxJob[]> {
  const sending = jobs.filter((job) => job.queue === 'sending');
  let delays: number[];
  try {
    delays = await reserveBulkStarts(deps.redis, deps.config.queuePrefix, sending.length, deps.config.campaigns.maxPerSecond, { sandbox });
  } catch (error) {
    // Redis is failing: the enqueue after this likely fails too, and the relay brings the jobs back unpaced.
    deps.log.warn({ err: (error as Error).message }, 'campaign pacing unavailable; enqueueing the chunk unpaced');
    return jobs;
  }
  const delayOf = new Map(sending.map((job, index) => [job, delays[index]]));
  return jobs.map((job) => {
    const delayMs = delayOf.get(job) ?? 0;
    return delayMs > 0 ? { ...job, delayMs: job.delayMs + delayMs } : job;
  });
}
