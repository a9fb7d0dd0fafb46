import type { TenantTx } from '../db/tenant';
import { newId, newSandboxMessageId } from '../ids';
import { addToOutbox, outboxJob, OutboxJob } from '../outbox';
import type { MessageRow, MessageType, RequestedChannel } from '../data/messages';
import { messageEventJob } from './status';
import { messagePriority } from './priority';

export interface NewOutboundMessage {
  to: string;
  body: string;
  requestedChannel: RequestedChannel;
  messageType: MessageType;
  pinnedFrom?: string | null;
  campaignId?: string | null;
  templateId?: string | null;
  sandbox: boolean;
  dispatchWebhook: boolean;
  /** A compliance confirmation (STOP/START/HELP reply): skips opt-out and caps. */
  systemReply?: boolean;
  /** Set to record a message refused before routing (e.g. opted out). */
  blockedReason?: string;
}

export interface AcceptedMessage {
  message: MessageRow;
  jobs: OutboxJob[];
}

/**
 * Records an outbound message as accepted: the message row, its first history
 * row, and the outbox rows for routing and the webhook, all in the caller's
 * tenant transaction. Enqueue the returned jobs after commit.
 */
export async function insertOutboundMessage(t: TenantTx, input: NewOutboundMessage): Promise<AcceptedMessage> {
  const id = input.sandbox ? newSandboxMessageId() : newId();
  const status = input.blockedReason ? 'blocked' : 'queued';
  const [message] = (await t
    .insert('messages', {
      id,
      direction: 'outbound',
      from_number: input.pinnedFrom ?? null,
      to_number: input.to,
      body: input.body,
      requested_channel: input.requestedChannel,
      message_type: input.messageType,
      status,
      reason: input.blockedReason ?? null,
      campaign_id: input.campaignId ?? null,
      template_id: input.templateId ?? null,
      pinned_from: input.pinnedFrom ?? null,
      sandbox: input.sandbox,
      dispatch_webhook: input.dispatchWebhook,
      system_reply: input.systemReply ?? false,
      last_sequence: 1,
    })
    .returning('*')) as MessageRow[];
  await t.insert('message_events', { message_id: id, sequence: 1, status, reason: input.blockedReason ?? null });

  const jobs: OutboxJob[] = [];
  if (status === 'queued') {
    const priority = messagePriority(input.messageType, Boolean(input.campaignId));
    jobs.push(
      input.sandbox
        ? outboxJob('sending', 'sandbox-advance', id, { tenantId: t.tenantId, messageId: id }, { priority })
        : outboxJob('sending', 'route-message', id, { tenantId: t.tenantId, messageId: id }, { priority }),
    );
  }
  const announce = messageEventJob(t.tenantId, id, 1, status);
  if (announce && (!input.sandbox || input.dispatchWebhook)) jobs.push(announce);
  await addToOutbox(t, jobs);
  return { message, jobs };
}
