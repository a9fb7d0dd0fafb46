import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import type { Channel, MessageType, RequestedChannel } from './messages';
import type { MessageStatus } from '../messages/status';
import type { Plan, TenantLimits } from '../schemas/admin';
import type { CapabilityResult } from '../device/client';
import { capsFor, capEventIds } from '../compliance/caps';
import { nextUtcMidnight, utcDay, utcMonth } from '../compliance/calendar';
import { workerStatements } from './worker-statements';

/**
 * The router's two statements: one read of everything a routing decision
 * needs (senderz_route_context) and one write that commits the decision
 * (senderz_route_commit). Both set the tenant for themselves, item by item,
 * so row-level security applies as for any tenant statement.
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
  /** ISO 8601 when read in a batch. */
  created_at: Date | string;
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

export interface RouteStatements {
  /** The message and what routing needs to know about it, or null when the tenant has no such message. */
  context(tenantId: string, messageId: string): Promise<RouteContext | null>;
  /**
   * Commits a routing decision. With `meterAt`, the message's usage is taken
   * under the tenant's plan caps first (over a daily cap it waits until the
   * next UTC midnight; at the monthly cap it is blocked).
   */
  commit(
    tenantId: string,
    messageId: string,
    decision: RouteAction,
    options: { meterAt?: Date | null; tenant: { plan: Plan; limits: TenantLimits }; learned?: CapabilityResult | null },
  ): Promise<RouteCommit>;
}

/**
 * The router's statements, each call batched with the calls other jobs of
 * the process make at the same time, the dispatcher's included
 * (shared/data/worker-statements.ts).
 */
export function createRouteStatements(app: Knex): RouteStatements {
  const statement = workerStatements(app);
  const contexts = async (item: { tenant_id: string; message_id: string }) => (await statement({ kind: 'route_context', ...item })) as RouteContext | null;
  const commits = async (item: { tenant_id: string; message_id: string; [field: string]: unknown }): Promise<RouteCommit> => {
    const row = (await statement({ kind: 'route_commit', ...item })) as { outcome: RouteCommitOutcome; seq: number; announced: boolean } | null;
    if (!row) throw new Error('route commit returned no row');
    return { outcome: row.outcome, sequence: row.seq, announced: row.announced };
  };
  return {
    context: (tenantId, messageId) => contexts({ tenant_id: tenantId, message_id: messageId }),
    commit(tenantId, messageId, decision, options) {
      const dispatch = decision.action === 'dispatch' ? decision : null;
      const until = decision.action === 'wait' || decision.action === 'defer' ? decision.until : null;
      const reason = decision.action === 'defer' || decision.action === 'block' || decision.action === 'fail' ? decision.reason : null;
      const caps = options.meterAt ? capsFor(options.tenant) : null;
      return commits({
        tenant_id: tenantId,
        message_id: messageId,
        action: decision.action,
        reason,
        line_id: dispatch?.lineId ?? null,
        from: dispatch?.from ?? null,
        channel: dispatch?.channel ?? null,
        dispatch_id: dispatch?.dispatchId ?? null,
        priority: dispatch?.priority ?? 0,
        until: until?.toISOString() ?? null,
        capabilities: options.learned ?? null,
        new_per_day: caps?.newContactsPerDay ?? null,
        new_per_month: caps?.newContactsPerMonth ?? null,
        messages_per_day: caps?.messagesPerDay ?? null,
        day: options.meterAt ? utcDay(options.meterAt) : null,
        month: options.meterAt ? utcMonth(options.meterAt) : null,
        event_ids: options.meterAt ? capEventIds() : null,
        until_midnight: options.meterAt ? nextUtcMidnight(options.meterAt).toISOString() : null,
      });
    },
  };
}

/** Pooled lines on which another tenant holds an active conversation with the number (line ids only). */
export async function linesHeldByOthers(t: TenantTx, phoneNumber: string): Promise<string[]> {
  const result = await t.trx.raw('SELECT senderz_lines_held_by_others(?, ?) AS lines', [t.tenantId, phoneNumber]);
  return (result.rows[0]?.lines as string[] | undefined) ?? [];
}
