import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import { workerStatements } from './worker-statements';
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
  /** The message's attachments in order (metadata, never the bytes); empty for text. */
  media: { id: string; status: 'pending' | 'stored' | 'failed'; content_type: string | null; size: number | null; filename: string | null }[];
}

export interface DispatchStatements {
  /** The dispatch, its message and its line's state in the tenant's scope, or null when the tenant has no such dispatch. */
  context(tenantId: string, dispatchId: string): Promise<DispatchContext | null>;
  /**
   * Records that the bridge accepted a push (pending → accepted). Resolves once
   * committed, so a job completes only after its acceptance is durable; a
   * process that dies before that leaves the dispatch pending, the relay runs
   * it again and the bridge, which de-duplicates by dispatch id, answers 202
   * without sending twice.
   */
  accepted(tenantId: string, dispatchId: string): Promise<void>;
}

/**
 * How long an accepted mark waits for the process's next routing decision
 * (its write lane) to ride with. The job (and its slot) completes only once
 * the mark commits.
 */
export const ACCEPTED_LINGER_MS = 15;

/**
 * The dispatcher's statements, each call batched with the calls other jobs of
 * the process make at the same time, the router's included
 * (shared/data/worker-statements.ts).
 */
export function createDispatchStatements(app: Knex): DispatchStatements {
  const statement = workerStatements(app);
  return {
    context: async (tenantId, dispatchId) => (await statement({ kind: 'dispatch_context', tenant_id: tenantId, dispatch_id: dispatchId })) as DispatchContext | null,
    // Off the latency path: the mark waits for the next write of the process, or goes alone after ACCEPTED_LINGER_MS.
    accepted: async (tenantId, dispatchId) => {
      await statement({ kind: 'accepted', tenant_id: tenantId, dispatch_id: dispatchId }, { lingerMs: ACCEPTED_LINGER_MS });
    },
  };
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
      // relay_at is available_at while the dispatch is pending, NULL otherwise (its own index).
      .whereNotNull('relay_at')
      .andWhere('relay_at', '<=', trx.raw('now() - make_interval(secs => ?)', [graceSeconds]))
      .andWhere((scope) => void scope.whereNull('enqueued_at').orWhere('enqueued_at', '<', trx.raw('now() - make_interval(secs => ?)', [recheckSeconds])))
      .orderBy('relay_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .select('tenant_id', 'id', 'message_id', 'priority')) as PendingDispatch[];
    if (rows.length > 0) await trx('dispatches').whereIn(['tenant_id', 'id'], rows.map((row) => [row.tenant_id, row.id])).update({ enqueued_at: trx.fn.now() });
    return rows;
  });
}
