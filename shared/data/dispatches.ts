import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import type { Channel, MessageType, RequestedChannel } from './messages';
import type { MessageStatus } from '../messages/status';

/**
 * Dispatches: one push of a message to one line's bridge. A `pending`
 * dispatch is the durable intent to push it (the outbox relay finds pending
 * dispatches whose job never ran); `accepted` means the bridge took it and it
 * must never be pushed elsewhere; the bridge's reports move it on from there.
 * This module is the only writer of the table.
 */
export type DispatchStatus = 'pending' | 'accepted' | 'sent' | 'delivered' | 'read' | 'failed' | 'rejected' | 'rerouted' | 'cancelled';

export interface DispatchRow {
  tenant_id: string;
  id: string;
  message_id: string;
  line_id: string;
  channel: Channel;
  status: DispatchStatus;
  attempts: number;
  priority: number;
}

/** What the dispatcher needs, read in one statement (senderz_dispatch_context). */
export interface DispatchContext {
  dispatch_status: DispatchStatus;
  message_id: string;
  line_id: string;
  channel: Channel;
  message_status: MessageStatus;
  to_number: string;
  body: string | null;
  requested_channel: RequestedChannel;
  message_type: MessageType;
  line_enabled: boolean;
  line_status: 'online' | 'offline';
}

/** The dispatch and its message in the tenant's scope, or null when the tenant has no such dispatch. */
export async function loadDispatchContext(app: Knex, tenantId: string, dispatchId: string): Promise<DispatchContext | null> {
  const result = await app.raw('SELECT * FROM senderz_dispatch_context(?, ?)', [tenantId, dispatchId]);
  return (result.rows[0] as DispatchContext | undefined) ?? null;
}

/** Records several bridge acceptances in one statement, each in its own tenant's scope. */
export async function recordAccepted(app: Knex, accepted: { tenantId: string; dispatchId: string }[]): Promise<number> {
  if (accepted.length === 0) return 0;
  const items = accepted.map((item) => ({ tenant_id: item.tenantId, dispatch_id: item.dispatchId }));
  const result = await app.raw('SELECT senderz_record_accepted(?::jsonb) AS n', [JSON.stringify(items)]);
  return Number(result.rows[0].n);
}

/** Moves a still-pending dispatch to a final state; false when it had already moved on. */
export async function settlePendingDispatch(t: TenantTx, dispatchId: string, status: 'rejected' | 'rerouted' | 'failed', error: string | null): Promise<boolean> {
  const updated = await t.from('dispatches').where({ id: dispatchId, status: 'pending' }).update({ status, last_error: error, updated_at: t.trx.fn.now() });
  return updated > 0;
}

/** Holds a pending dispatch until `until` (e.g. its line's warm-up cap for the day is spent). */
export async function deferDispatch(t: TenantTx, dispatchId: string, until: Date): Promise<void> {
  await t.from('dispatches').where({ id: dispatchId, status: 'pending' }).update({ available_at: until, enqueued_at: null });
}

/**
 * A new pending dispatch of a message that is already `sending` (a re-route):
 * the message's line and channel, the dispatch row and the conversation.
 */
export async function insertReroutedDispatch(
  t: TenantTx,
  message: { id: string; to_number: string },
  dispatch: { id: string; lineId: string; from: string; channel: Channel; priority: number },
): Promise<void> {
  await t.from('messages').where({ id: message.id }).update({ line_id: dispatch.lineId, from_number: dispatch.from, channel: dispatch.channel, updated_at: t.trx.fn.now() });
  await t.insert('dispatches', { id: dispatch.id, message_id: message.id, line_id: dispatch.lineId, channel: dispatch.channel, priority: dispatch.priority });
  await t.trx.raw(
    `INSERT INTO conversations (tenant_id, line_id, phone_number, last_outbound_at) VALUES (?, ?, ?, now())
     ON CONFLICT (tenant_id, line_id, phone_number) DO UPDATE SET last_outbound_at = now()`,
    [t.tenantId, dispatch.lineId, message.to_number],
  );
}

export interface PendingDispatch {
  tenant_id: string;
  id: string;
  message_id: string;
  priority: number;
}

/**
 * The relay's side (owner pool, across tenants): claims pending dispatches
 * that are due and were not looked at recently, `SKIP LOCKED` so several
 * relays never claim the same rows.
 */
export async function claimDueDispatches(owner: Knex, graceSeconds: number, recheckSeconds: number, limit: number): Promise<PendingDispatch[]> {
  return owner.transaction(async (trx) => {
    const rows = (await trx('dispatches')
      .where('status', 'pending')
      .andWhere('available_at', '<=', trx.raw('now() - make_interval(secs => ?)', [graceSeconds]))
      .andWhere((scope) => void scope.whereNull('enqueued_at').orWhere('enqueued_at', '<', trx.raw('now() - make_interval(secs => ?)', [recheckSeconds])))
      .orderBy('available_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .select('tenant_id', 'id', 'message_id', 'priority')) as PendingDispatch[];
    if (rows.length > 0) await trx('dispatches').whereIn('id', rows.map((row) => row.id)).update({ enqueued_at: trx.fn.now() });
    return rows;
  });
}
