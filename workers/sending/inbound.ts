import { withTenant } from '../../shared/db/tenant';
import { getMessage } from '../../shared/data/messages';
import { getOwnTenant } from '../../shared/data/tenants';
import { recordOptIn, recordOptOut } from '../../shared/data/opt-outs';
import { helpPersona } from '../../shared/data/personas';
import { claimKeywordReply } from '../../shared/data/auto-replies';
import { insertOutboundMessage } from '../../shared/messages/outbound';
import { emitEvent } from '../../shared/events';
import { consumeOutbox, enqueueAll, OutboxJob } from '../../shared/outbox';
import type { WorkerDeps } from '../deps';
import { classifyKeyword, helpReply, PersonaForHelp, startReply, stopReply } from './keywords';
import { done, JobOutcome, skipped } from '../runtime';

/** Follow-ups of an inbound message that are not keywords (e.g. AI auto-reply) plug in here. */
export type InboundFollowUp = (deps: WorkerDeps, payload: { tenantId: string; messageId: string }) => Promise<void>;

/**
 * An inbound message: keywords first (STOP/START/HELP), before anything else
 * looks at it. The opt-out, its event and the confirmation reply commit together.
 */
export function createInboundProcessor(deps: WorkerDeps, followUps: InboundFollowUp[] = []) {
  return async function processInbound(payload: { tenantId: string; messageId: string }): Promise<JobOutcome> {
    const { tenantId, messageId } = payload;
    const outcome = await withTenant(deps.db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId);
      await consumeOutbox(t, 'sending', 'process-inbound', messageId);
      if (message.direction !== 'inbound') return { jobs: [] as OutboxJob[], result: skipped('not inbound'), keyword: false };
      const keyword = classifyKeyword(message.body ?? '');
      if (!keyword) return { jobs: [], result: done('no keyword'), keyword: false };

      const tenant = await getOwnTenant(t);
      const persona: PersonaForHelp | undefined = await helpPersona(t);
      const business = persona?.business_name || tenant.name;
      const sender = message.from_number!;
      const jobs: OutboxJob[] = [];
      let reply: string | null = null;
      // Claim the reply with a marker so a retried job never sends a second confirmation.
      if (!(await claimKeywordReply(t, sender, messageId))) return { jobs, result: skipped('already handled'), keyword: true };

      if (keyword.kind === 'stop') {
        if (await recordOptOut(t, sender, 'keyword', keyword.keyword)) {
          jobs.push(await emitEvent(t, 'opt_out.created', { phone_number: sender, source: 'keyword', keyword: keyword.keyword }));
        }
        // Every STOP is confirmed, a repeated one too (the sender may have missed
        // the first confirmation); the event fires only when the state changed.
        reply = stopReply(business);
      } else if (keyword.kind === 'start') {
        // A START/YES from a number that is not opted out changes nothing and
        // gets no reply: "YES" often answers an unrelated question.
        if (await recordOptIn(t, sender)) {
          jobs.push(await emitEvent(t, 'opt_out.removed', { phone_number: sender, source: 'keyword', keyword: keyword.keyword }));
          reply = startReply(business);
        }
      } else {
        reply = helpReply(persona, tenant.name);
      }
      if (reply) {
        const accepted = await insertOutboundMessage(t, {
          to: sender,
          body: reply,
          requestedChannel: message.channel ?? 'auto',
          messageType: 'alert',
          pinnedFrom: message.to_number,
          sandbox: false,
          dispatchWebhook: true,
          systemReply: true,
        });
        jobs.push(...accepted.jobs);
      }
      return { jobs, result: done(`keyword ${keyword.kind}`), keyword: true };
    });
    await enqueueAll(deps.queues, outcome.jobs);
    if (!outcome.keyword) for (const followUp of followUps) await followUp(deps, payload);
    return outcome.result;
  };
}
