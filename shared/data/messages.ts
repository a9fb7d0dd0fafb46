import type { Knex } from 'knex';
import { createBatcher, rowsByItem } from '../db/batcher';
import { gatherWindowMs } from '../db';
import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { NotFoundError } from '../errors';
import type { MessageStatus } from '../messages/status';

export type Channel = 'imessage' | 'sms' | 'rcs';
export type RequestedChannel = Channel | 'auto';
export type MessageType = 'otp' | 'alert' | 'marketing';

export interface MessageRow {
  tenant_id: string;
  id: string;
  direction: 'outbound' | 'inbound';
  from_number: string | null;
  to_number: string;
  body: string | null;
  body_purged_at: Date | null;
  requested_channel: RequestedChannel;
  channel: Channel | null;
  message_type: MessageType;
  status: MessageStatus;
  reason: string | null;
  campaign_id: string | null;
  template_id: string | null;
  line_id: string | null;
  pinned_from: string | null;
  sandbox: boolean;
  dispatch_webhook: boolean;
  system_reply: boolean;
  last_sequence: number;
  attempts: number;
  counted_new_contact: boolean;
  release_at: Date | null;
  status_callback: string | null;
  client_reference: string | null;
  send_at: Date | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  read_at: Date | null;
  failed_at: Date | null;
  /** An auto message whose accepted iMessage failed as undeliverable and went again over SMS. */
  was_downgraded: boolean;
}

export function presentMessage(row: MessageRow) {
  return {
    id: row.id,
    direction: row.direction,
    from: row.from_number,
    to: row.to_number,
    body: row.body,
    channel: row.channel ?? row.requested_channel,
    message_type: row.message_type,
    status: row.status,
    reason: row.reason,
    campaign_id: row.campaign_id,
    client_reference: row.client_reference,
    status_callback: row.status_callback,
    send_at: row.send_at,
    sandbox: row.sandbox,
    was_downgraded: row.was_downgraded,
    created_at: row.created_at,
    updated_at: row.updated_at,
    sent_at: row.sent_at,
    delivered_at: row.delivered_at,
    read_at: row.read_at,
  };
}

export async function getMessage(t: TenantTx, id: string, options: { forUpdate?: boolean; sandbox?: boolean } = {}): Promise<MessageRow> {
  const row = await findOwned<MessageRow>(t, 'messages', id, 'message', options);
  // A live key does not see sandbox messages and a test key does not see live ones.
  if (options.sandbox !== undefined && row.sandbox !== options.sandbox) throw new NotFoundError('message');
  return row;
}

/**
 * A campaign's messages waiting for the router (queued, not deferred by a
 * cap), counted up to `upTo`: the fan-out stays at most that far ahead.
 */
export async function unroutedCampaignMessages(t: TenantTx, campaignId: string, upTo: number): Promise<number> {
  const result = await t.trx.raw(
    `SELECT count(*)::int AS n FROM (
       SELECT 1 FROM messages WHERE tenant_id = ? AND campaign_id = ? AND status = 'queued' AND release_at IS NULL LIMIT ?
     ) AS window_rows`,
    [t.tenantId, campaignId, upTo],
  );
  return (result.rows[0] as { n: number }).n;
}

/** Up to `limit` of a campaign's messages still queued (not yet taken by the router), in id order. */
export async function queuedCampaignMessageIds(t: TenantTx, campaignId: string, limit: number): Promise<string[]> {
  return (await t.from('messages').where({ campaign_id: campaignId, status: 'queued' }).orderBy('id').limit(limit).pluck('id')) as string[];
}

/** Whether any of a campaign's messages is not yet terminal (queued, sending or sent). */
export async function campaignHasUnfinishedMessages(t: TenantTx, campaignId: string): Promise<boolean> {
  return Boolean(await t.from('messages').where({ campaign_id: campaignId }).whereIn('status', ['queued', 'sending', 'sent']).first('id'));
}

/**
 * Retention, across tenants on the owner pool: clears the bodies of messages
 * older than `days` (metadata stays), in batches of `batch`; returns how many.
 */
export async function purgeOldBodies(owner: Knex, days: number, batch = 5000): Promise<number> {
  let purged = 0;
  for (;;) {
    const result = await owner.raw(
      `UPDATE messages SET body = NULL, body_purged_at = now()
        WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM messages
                WHERE body IS NOT NULL AND created_at < now() - make_interval(days => ?) LIMIT ?)`,
      [days, batch],
    );
    purged += result.rowCount ?? 0;
    if ((result.rowCount ?? 0) < batch) return purged;
  }
}

export interface MessageFilters {
  /** Live keys see live traffic, test keys sandbox traffic (like test and live modes elsewhere). */
  sandbox?: boolean;
  status?: MessageStatus;
  direction?: 'outbound' | 'inbound';
  channel?: Channel;
  to?: string;
  from?: string;
  campaign_id?: string;
  client_reference?: string;
  created_after?: string;
  created_before?: string;
}

/** Marks a message still being sent as held until `until`, with the reason shown to the tenant. */
export async function holdSendingMessage(t: TenantTx, id: string, reason: string, until: Date): Promise<void> {
  await t.from('messages').where({ id, status: 'sending' }).update({ reason, release_at: until, updated_at: t.trx.fn.now() });
}

export async function listMessages(t: TenantTx, filters: MessageFilters, limit: number, cursor: string | null): Promise<MessageRow[]> {
  const query: Knex.QueryBuilder = t.from('messages').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  if (filters.sandbox !== undefined) void query.where('sandbox', filters.sandbox);
  if (filters.status) void query.where('status', filters.status);
  if (filters.direction) void query.where('direction', filters.direction);
  if (filters.channel) void query.where('channel', filters.channel);
  if (filters.to) void query.where('to_number', filters.to);
  if (filters.from) void query.where('from_number', filters.from);
  if (filters.campaign_id) void query.where('campaign_id', filters.campaign_id);
  if (filters.client_reference) void query.where('client_reference', filters.client_reference);
  if (filters.created_after) void query.where('created_at', '>=', filters.created_after);
  if (filters.created_before) void query.where('created_at', '<', filters.created_before);
  return (await query) as MessageRow[];
}

export interface MessageEventRow {
  sequence: number;
  status: MessageStatus;
  reason: string | null;
  occurred_at: Date;
  /** The message's client_reference, echoed on each of its events. */
  client_reference: string | null;
}

export async function listMessageEvents(t: TenantTx, messageId: string, sandbox?: boolean): Promise<MessageEventRow[]> {
  const message = await getMessage(t, messageId, { sandbox });
  const rows = (await t
    .from('message_events')
    .where({ message_id: messageId })
    .orderBy('sequence', 'asc')
    .select('sequence', 'status', 'reason', 'occurred_at')) as Omit<MessageEventRow, 'client_reference'>[];
  return rows.map((row) => ({ ...row, client_reference: message.client_reference }));
}


/** An inbound message as the device gateway records it, with its first history row (`received`). */
export async function insertInboundMessage(
  t: TenantTx,
  message: { id: string; from: string; to: string; body: string; channel: string; lineId: string; deviceOccurredAt: Date },
): Promise<void> {
  await t.insert('messages', {
    id: message.id,
    direction: 'inbound',
    from_number: message.from,
    to_number: message.to,
    body: message.body,
    requested_channel: message.channel,
    channel: message.channel,
    message_type: 'alert',
    status: 'received',
    line_id: message.lineId,
    last_sequence: 1,
    // The platform's receive time orders the conversation; the device's own clock is kept beside it.
    device_occurred_at: message.deviceOccurredAt,
  });
  await t.insert('message_events', { message_id: message.id, sequence: 1, status: 'received' });
}

/**
 * One conditional move of a message's status with its history row, outbox
 * row and known-recipient mark (senderz_transition_message, the one
 * definition of which status may follow which).
 */
export async function transitionMessageRow(
  t: TenantTx,
  messageId: string,
  status: MessageStatus,
  reason: string | null,
  occurredAt: Date,
): Promise<{ changed: boolean; seq: number; announced: boolean }> {
  const result = await t.trx.raw('SELECT * FROM senderz_transition_message(?, ?, ?, ?, ?, NULL, NULL, NULL)', [t.tenantId, messageId, status, reason, occurredAt]);
  return result.rows[0] as { changed: boolean; seq: number; announced: boolean };
}

/** Sets more columns of one of the tenant's messages. */
export async function updateMessageColumns(t: TenantTx, messageId: string, set: Record<string, unknown>): Promise<void> {
  await t.from('messages').where({ id: messageId }).update(set);
}

/** Everything senderz_accept_outbound records for one accepted message. */
export interface AcceptOutboundInput {
  tenantId: string;
  /** The pool whose lines must be usable (empty when not checked). */
  linePool: string;
  checkLines: boolean;
  checkOptOut: boolean;
  id: string;
  to: string;
  body: string;
  requestedChannel: string;
  messageType: string;
  pinnedFrom: string | null;
  campaignId: string | null;
  templateId: string | null;
  sandbox: boolean;
  dispatchWebhook: boolean;
  systemReply: boolean;
  jobName: string;
  priority: number;
  blockedReason: string | null;
  statusCallback: string | null;
  clientReference: string | null;
  /** A scheduled send: recorded as `scheduled` with its release in the outbox at this time. */
  sendAt: Date | null;
}

/** One item of senderz_accept_outbounds: the same fields, by name. */
function acceptItem(input: AcceptOutboundInput): Record<string, unknown> {
  return {
    tenant_id: input.tenantId,
    line_pool: input.linePool,
    check_lines: input.checkLines,
    check_opt_out: input.checkOptOut,
    id: input.id,
    to: input.to,
    body: input.body,
    requested_channel: input.requestedChannel,
    message_type: input.messageType,
    pinned_from: input.pinnedFrom,
    campaign_id: input.campaignId,
    template_id: input.templateId,
    sandbox: input.sandbox,
    dispatch_webhook: input.dispatchWebhook,
    system_reply: input.systemReply,
    job_name: input.jobName,
    priority: input.priority,
    blocked_reason: input.blockedReason,
    status_callback: input.statusCallback,
    client_reference: input.clientReference,
    send_at: input.sendAt ? input.sendAt.toISOString() : null,
  };
}

export type AcceptResult = { status: string; announced: boolean };

/** One call of senderz_accept_outbounds (each item in its own tenant's scope): one result per input, in order. */
async function acceptMany(db: Knex | Knex.Transaction, inputs: AcceptOutboundInput[]): Promise<AcceptResult[]> {
  const result = await db.raw('SELECT item, status, announced FROM senderz_accept_outbounds(?::jsonb)', [JSON.stringify(inputs.map(acceptItem))]);
  return rowsByItem(result.rows as (AcceptResult & { item: number })[], inputs.length).map((row, index) => {
    if (!row) throw new Error(`senderz_accept_outbounds returned nothing for item ${index}`);
    return { status: row.status, announced: row.announced };
  });
}

/** Per pool: the accepts of requests in flight at the same time, as one statement (shared/db/batcher.ts). */
const acceptBatchers = new WeakMap<Knex, (input: AcceptOutboundInput) => Promise<AcceptResult>>();

function acceptBatcherFor(app: Knex): (input: AcceptOutboundInput) => Promise<AcceptResult> {
  let batcher = acceptBatchers.get(app);
  if (!batcher) {
    batcher = createBatcher<AcceptOutboundInput, AcceptResult>({
      lingerMs: gatherWindowMs(app),
      async run(items) {
        return acceptMany(app, items);
      },
    });
    acceptBatchers.set(app, batcher);
  }
  return batcher;
}

/**
 * Records an outbound message as accepted in one statement: the message row,
 * its first history row and the outbox rows for routing and the webhook.
 * `db` is a tenant transaction or the app pool itself: the function sets the
 * tenant for its own statement. On the pool, the accepts of concurrent
 * requests share one statement and one commit (each item in its own tenant's
 * scope; a failed batch is retried item by item); in a transaction the call
 * is the transaction's own statement.
 */
export async function acceptOutboundRow<S extends string>(db: Knex | Knex.Transaction, input: AcceptOutboundInput): Promise<{ status: S; announced: boolean }> {
  const isTransaction = (db as Knex.Transaction).isTransaction === true;
  const result = isTransaction ? await acceptOne(db, input) : await acceptBatcherFor(db as Knex)(input);
  return result as { status: S; announced: boolean };
}

/**
 * Records several outbound messages of the transaction's tenant in one
 * statement (senderz_accept_outbounds), as acceptOutboundRow does one: a
 * campaign chunk is one round trip instead of one per recipient. The batch
 * function sets the tenant per item and clears it at the end, so the
 * transaction's tenant is set again before anything else runs in it.
 */
export async function acceptOutboundRowsInTenant(t: TenantTx, inputs: AcceptOutboundInput[]): Promise<AcceptResult[]> {
  if (inputs.length === 0) return [];
  const stranger = inputs.find((input) => input.tenantId !== t.tenantId);
  if (stranger) throw new Error(`acceptOutboundRowsInTenant: an item of tenant ${stranger.tenantId} in a transaction of ${t.tenantId}`);
  const results = await acceptMany(t.trx, inputs);
  await t.trx.raw("SELECT set_config('app.tenant_id', ?, true)", [t.tenantId]);
  return results;
}

async function acceptOne(db: Knex | Knex.Transaction, input: AcceptOutboundInput): Promise<{ status: string; announced: boolean }> {
  const result = await db.raw('SELECT * FROM senderz_accept_outbound(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
    input.tenantId,
    input.linePool,
    input.checkLines,
    input.checkOptOut,
    input.id,
    input.to,
    input.body,
    input.requestedChannel,
    input.messageType,
    input.pinnedFrom,
    input.campaignId,
    input.templateId,
    input.sandbox,
    input.dispatchWebhook,
    input.systemReply,
    input.jobName,
    input.priority,
    input.blockedReason,
    input.statusCallback,
    input.clientReference,
    input.sendAt,
  ]);
  return result.rows[0] as { status: string; announced: boolean };
}
