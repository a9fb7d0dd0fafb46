import { withTenant } from '../../shared/db/tenant';
import { getMessage, MessageRow } from '../../shared/data/messages';
import { isOptedOut } from '../../shared/data/opt-outs';
import { autoReplyEnabled } from '../../shared/data/personas';
import { conversationTakenOver } from '../../shared/data/conversations';
import {
  autoRepliesInLastHour,
  autoReplyDecision,
  linkAutoReply,
  lockAutoReplyDecisions,
  markAutoReplied,
  recordAutoReplyDecision,
} from '../../shared/data/auto-replies';
import { insertOutboundMessage } from '../../shared/messages/outbound';
import { enqueueAll, OutboxJob } from '../../shared/outbox';
import { loadReplyContext, ReplyContext } from '../../shared/ai/context';
import { composeReply, DEFAULT_PROVIDER_TIMEOUT_MS } from '../../shared/ai/responder';
import type { WorkerDeps } from '../deps';
import type { InboundFollowUp } from './inbound';

export interface AutoReplyOptions {
  /** Loop guard: replies to one number per rolling hour (a bot talking to a bot stops here). */
  maxPerHour?: number;
  /** A person's send to a number pauses auto-reply to it for this long. */
  takeoverMinutes?: number;
  providerTimeoutMs?: number;
}

export const DEFAULT_MAX_AUTO_REPLIES_PER_HOUR = 3;
export const DEFAULT_TAKEOVER_MINUTES = 30;

type Claim = { skip: string } | { message: MessageRow; context: ReplyContext };

/**
 * AI auto-reply, a follow-up of an inbound message that was not a keyword.
 *
 * 1. Claim: in one transaction, under a lock per (tenant, number), check the
 *    guards (enabled, not opted out, not taken over, under the hourly cap) and
 *    record the decision in auto_reply_log keyed by the inbound message id. A
 *    retried job finds its row: "skipped" or "replied" ends it, "claimed"
 *    (a crash before sending) composes again.
 * 2. Compose outside any transaction (the provider may take seconds).
 * 3. Send: a conditional claimed → replied update and the outbound message
 *    commit together, so two runs can never both send.
 *
 * The reply is an ordinary outbound message (alert, pinned to the line the
 * inbound arrived on, not a system reply): the router's compliance checks,
 * opt-out first, apply to it like to any other send.
 */
export function createAutoReplyFollowUp(options: AutoReplyOptions = {}): InboundFollowUp {
  const maxPerHour = options.maxPerHour ?? DEFAULT_MAX_AUTO_REPLIES_PER_HOUR;
  const takeoverMinutes = options.takeoverMinutes ?? DEFAULT_TAKEOVER_MINUTES;
  const timeoutMs = options.providerTimeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS;

  return async function autoReply(deps: WorkerDeps, payload: { tenantId: string; messageId: string }): Promise<void> {
    const { tenantId, messageId } = payload;
    const claim = await withTenant(deps.db.app, tenantId, async (t): Promise<Claim> => {
      const message = await getMessage(t, messageId);
      if (message.direction !== 'inbound' || message.sandbox || !message.from_number || !message.body) return { skip: 'not an inbound text' };
      if (!(await autoReplyEnabled(t))) return { skip: 'auto-reply off' };
      const sender = message.from_number;
      // One decision at a time per number, so the hourly cap holds under concurrent inbound jobs.
      await lockAutoReplyDecisions(t, sender);
      const existing = await autoReplyDecision(t, messageId);
      if (existing && !(existing.kind === 'auto_reply' && existing.status === 'claimed')) return { skip: 'already handled' };
      if (!existing) {
        let reason: string | null = null;
        if (await isOptedOut(t, sender)) reason = 'opted_out';
        else if (await conversationTakenOver(t, sender, takeoverMinutes)) reason = 'manual_takeover';
        else if ((await autoRepliesInLastHour(t, sender)) >= maxPerHour) reason = 'rate_limited';
        await recordAutoReplyDecision(t, { phoneNumber: sender, messageId, skipReason: reason });
        if (reason) return { skip: reason };
      }
      return { message, context: await loadReplyContext(t, deps.config.encryptionKey) };
    });
    if ('skip' in claim) {
      deps.log.debug({ messageId, outcome: claim.skip }, 'no auto-reply');
      return;
    }

    const composed = await composeReply(
      { ...claim.context, message: claim.message.body! },
      { timeoutMs, allowPrivateNetworks: deps.config.webhookAllowPrivateNetworks },
    );

    const jobs = await withTenant(deps.db.app, tenantId, async (t): Promise<OutboxJob[]> => {
      if (!(await markAutoReplied(t, messageId, composed.responder))) return [];
      const accepted = await insertOutboundMessage(t, {
        to: claim.message.from_number!,
        body: composed.reply,
        requestedChannel: claim.message.channel ?? 'auto',
        messageType: 'alert',
        pinnedFrom: claim.message.to_number,
        sandbox: false,
        dispatchWebhook: true,
      });
      await linkAutoReply(t, messageId, accepted.message.id);
      return accepted.jobs;
    });
    await enqueueAll(deps.queues, jobs);
    deps.log.info(
      { messageId, replied: jobs.length > 0, responder: composed.responder, kind: composed.kind, providerError: composed.provider_error },
      'auto-reply',
    );
  };
}
