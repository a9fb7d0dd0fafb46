import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import type { Channel, MessageType, RequestedChannel } from './messages';
import type { MessageStatus } from '../messages/status';
import type { Plan, TenantLimits } from '../schemas/admin';
import type { CapabilityResult } from '../device/client';
import { usageSlotArguments } from '../compliance/caps';
import { nextUtcMidnight } from '../compliance/calendar';

/**
 * The router's two statements: one read of everything a routing decision
 * needs (senderz_route_context) and one write that commits the decision
 * (senderz_route_commit). Both set the tenant for themselves, so row-level
 * security applies as for any tenant statement.
 */
export interface RouteContext {
  status: MessageStatus;
  direction: 'outbound' | 'inbound';
  sandbox: boolean;
  system_reply: boolean;
  to_number: string;
  requested_channel: RequestedChannel;
  message_type: MessageType;
  campaign_id: string | null;
  pinned_from: string | null;
  created_at: Date;
  opted_out: boolean;
  sticky_line_id: string | null;
  cap_imessage: boolean | null;
  cap_sms: boolean | null;
  cap_rcs: boolean | null;
  held_lines: string[];
  plan: Plan;
  limits: TenantLimits;
  pool: string;
}

/** The message and what routing needs to know about it, or null when the tenant has no such message. */
export async function loadRouteContext(app: Knex, tenantId: string, messageId: string): Promise<RouteContext | null> {
  const result = await app.raw('SELECT * FROM senderz_route_context(?, ?)', [tenantId, messageId]);
  return (result.rows[0] as RouteContext | undefined) ?? null;
}

export type RouteAction =
  | { action: 'dispatch'; lineId: string; from: string; channel: Channel; dispatchId: string; priority: number }
  | { action: 'wait'; until: Date }
  | { action: 'defer'; until: Date; reason: string }
  | { action: 'block'; reason: string }
  | { action: 'fail'; reason: string };

/**
 * dispatch / block / fail: done; wait / defer: still queued; held: another
 * tenant holds the recipient on that pooled line; line_gone: the line is no
 * longer enabled and online; not_queued / missing: nothing to do.
 */
export type RouteCommitOutcome = 'dispatch' | 'wait' | 'defer' | 'block' | 'fail' | 'held' | 'line_gone' | 'not_queued' | 'missing';

export interface RouteCommit {
  outcome: RouteCommitOutcome;
  /** The history sequence of the status written, and whether a webhook job was recorded for it. */
  sequence: number;
  announced: boolean;
}

/**
 * Commits a routing decision in one statement. With `meterAt`, the message's
 * usage is taken under the tenant's plan caps first (over a daily cap it
 * waits until the next UTC midnight; at the monthly cap it is blocked).
 */
export async function commitRoute(
  app: Knex,
  tenantId: string,
  messageId: string,
  decision: RouteAction,
  options: { meterAt?: Date | null; tenant: { plan: Plan; limits: TenantLimits }; learned?: CapabilityResult | null },
): Promise<RouteCommit> {
  const dispatch = decision.action === 'dispatch' ? decision : null;
  const until = decision.action === 'wait' || decision.action === 'defer' ? decision.until : null;
  const reason = decision.action === 'defer' || decision.action === 'block' || decision.action === 'fail' ? decision.reason : null;
  const meter = options.meterAt ? usageSlotArguments(options.tenant, options.meterAt) : [null, null, null, null, null, null];
  const result = await app.raw('SELECT * FROM senderz_route_commit(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?::text[], ?)', [
    tenantId,
    messageId,
    decision.action,
    reason,
    dispatch?.lineId ?? null,
    dispatch?.from ?? null,
    dispatch?.channel ?? null,
    dispatch?.dispatchId ?? null,
    dispatch?.priority ?? 0,
    until,
    options.learned ? JSON.stringify(options.learned) : null,
    ...meter,
    options.meterAt ? nextUtcMidnight(options.meterAt) : null,
  ]);
  const row = result.rows[0] as { outcome: RouteCommitOutcome; seq: number; announced: boolean };
  return { outcome: row.outcome, sequence: row.seq, announced: row.announced };
}

/** Pooled lines on which another tenant holds an active conversation with the number (line ids only). */
export async function linesHeldByOthers(t: TenantTx, phoneNumber: string): Promise<string[]> {
  const result = await t.trx.raw('SELECT senderz_lines_held_by_others(?, ?) AS lines', [t.tenantId, phoneNumber]);
  return (result.rows[0]?.lines as string[] | undefined) ?? [];
}
