import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import { newId, newSandboxMessageId } from '../ids';
import { outboxJob, OutboxJob } from '../outbox';
import { acceptOutboundRow, acceptOutboundRowsInTenant, AcceptOutboundInput, MessageType, RequestedChannel } from '../data/messages';
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
  /** Record the message as blocked with this reason instead of routing it. */
  blockedReason?: string;
  /** The tenant's own URL for this message's status changes (checked by the caller). */
  statusCallback?: string | null;
  /** The tenant's own reference (an order, a user), echoed wherever the message appears. */
  clientReference?: string | null;
  /** A scheduled send: accepted as `scheduled`, released at this time. */
  sendAt?: Date | null;
  /** The first job instead of routing: `fetch-media` downloads the attachments, then routes. */
  firstJob?: 'fetch-media';
  /** Refuse with no_line / pinned_unavailable when the tenant has no usable line (the API's 503/400). */
  checkLines?: { pool: string };
}

export type AcceptOutcome = 'scheduled' | 'queued' | 'blocked' | 'no_line' | 'pinned_unavailable';

export interface AcceptedMessage {
  id: string;
  /** The stored message's id and first status (kept for callers that read `message.id`). */
  message: { id: string; status: AcceptOutcome };
  /** scheduled, queued, or blocked (opted out); no_line / pinned_unavailable mean nothing was stored. */
  status: AcceptOutcome;
  jobs: OutboxJob[];
}

function firstJobOf(input: NewOutboundMessage): 'fetch-media' | 'sandbox-advance' | 'route-message' {
  return input.firstJob ?? (input.sandbox ? 'sandbox-advance' : 'route-message');
}

/** The jobs an accepted message puts in the outbox (mirrors senderz_accept_outbound). */
function acceptedJobs(tenantId: string, id: string, status: 'scheduled' | 'queued' | 'blocked', announced: boolean, input: NewOutboundMessage): OutboxJob[] {
  const jobs: OutboxJob[] = [];
  if (status === 'scheduled' && input.sendAt) {
    jobs.push(outboxJob('sending', 'release-scheduled', id, { tenantId, messageId: id }, { delayMs: Math.max(0, input.sendAt.getTime() - Date.now()) }));
  }
  if (status === 'queued') {
    const priority = messagePriority(input.messageType, Boolean(input.campaignId));
    jobs.push(outboxJob('sending', firstJobOf(input), id, { tenantId, messageId: id }, { priority }));
  }
  const announce = messageEventJob(tenantId, id, 1, status);
  if (announce && announced) jobs.push(announce);
  return jobs;
}

/** The row senderz_accept_outbound records for `input`, under a new id. */
function acceptRow(tenantId: string, input: NewOutboundMessage): AcceptOutboundInput {
  return {
    tenantId,
    linePool: input.checkLines?.pool ?? '',
    checkLines: Boolean(input.checkLines),
    checkOptOut: !input.systemReply,
    id: input.sandbox ? newSandboxMessageId() : newId(),
    to: input.to,
    body: input.body,
    requestedChannel: input.requestedChannel,
    messageType: input.messageType,
    pinnedFrom: input.pinnedFrom ?? null,
    campaignId: input.campaignId ?? null,
    templateId: input.templateId ?? null,
    sandbox: input.sandbox,
    dispatchWebhook: input.dispatchWebhook,
    systemReply: input.systemReply ?? false,
    jobName: firstJobOf(input),
    priority: messagePriority(input.messageType, Boolean(input.campaignId)),
    blockedReason: input.blockedReason ?? null,
    statusCallback: input.statusCallback ?? null,
    clientReference: input.clientReference ?? null,
    sendAt: input.sendAt ?? null,
  };
}

function acceptedMessage(tenantId: string, id: string, result: { status: string; announced: boolean }, input: NewOutboundMessage): AcceptedMessage {
  const status = result.status as AcceptOutcome;
  const jobs = status === 'scheduled' || status === 'queued' || status === 'blocked' ? acceptedJobs(tenantId, id, status, result.announced, input) : [];
  return { id, status, jobs, message: { id, status } };
}

/**
 * Records an outbound message as accepted: the message row, its first history
 * row and the outbox rows for routing and the webhook, in one statement
 * (senderz_accept_outbound). An opted-out recipient is recorded as blocked.
 * `db` is a tenant transaction or, on the hot path, the app pool itself: the
 * function sets the tenant for its own statement.
 */
export async function acceptOutbound(db: Knex | Knex.Transaction, tenantId: string, input: NewOutboundMessage): Promise<AcceptedMessage> {
  const row = acceptRow(tenantId, input);
  return acceptedMessage(tenantId, row.id, await acceptOutboundRow(db, row), input);
}

/** The same inside a tenant transaction (keyword replies, auto-replies; a campaign chunk uses insertOutboundMessages). */
export async function insertOutboundMessage(t: TenantTx, input: NewOutboundMessage): Promise<AcceptedMessage> {
  return acceptOutbound(t.trx, t.tenantId, input);
}

/**
 * Several messages inside a tenant transaction in one statement (a campaign
 * chunk): each exactly as insertOutboundMessage would record it, in order.
 */
export async function insertOutboundMessages(t: TenantTx, inputs: NewOutboundMessage[]): Promise<AcceptedMessage[]> {
  const rows = inputs.map((input) => acceptRow(t.tenantId, input));
  const results = await acceptOutboundRowsInTenant(t, rows);
  return results.map((result, index) => acceptedMessage(t.tenantId, rows[index].id, result, inputs[index]));
}
