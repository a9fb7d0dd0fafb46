import type { Knex } from 'knex';
import { jobId, Queues } from '../queues';
import type { TenantTx } from '../db/tenant';
import type { TenantRow } from './tenants';
import { effectiveLimit } from '../plans';
import { nextUtcMonth, startOfUtcMonth, utcDay, utcMonth } from '../compliance/calendar';

/**
 * Usage as the tenant and an external biller see it. Everything is per UTC
 * month; sandbox traffic is never counted.
 */

export interface NewContactUsage {
  used_today: number;
  limit_today: number | null;
  used_this_month: number;
  limit_this_month: number | null;
}

export interface MessageTotals {
  /** Messages that left a line (sent, delivered, read, or failed after sending). */
  sent: number;
  /** Messages the recipient's device confirmed (delivered or read). */
  delivered: number;
  failed: number;
  blocked: number;
}

export interface ChannelTotals {
  imessage: number;
  sms: number;
  rcs: number;
}

export interface UsageSummary {
  plan: TenantRow['plan'];
  period_start: string;
  period_end: string;
  new_contacts: NewContactUsage;
  messages: MessageTotals;
  channels: ChannelTotals;
}

/** New contacts counted today and this month (the counters the caps are enforced on). */
export async function newContactCounts(t: TenantTx, at: Date): Promise<{ today: number; month: number }> {
  // One connection per transaction: queries run one after the other.
  const daily = await t.from('usage_daily').where({ day: utcDay(at) }).first('new_contacts');
  const monthly = await t.from('usage_monthly').where({ period_start: utcMonth(at) }).first('new_contacts');
  return { today: (daily?.new_contacts as number | undefined) ?? 0, month: (monthly?.new_contacts as number | undefined) ?? 0 };
}

/** Outbound, non-sandbox messages created in [from, to): outcomes and channels used. */
export async function messageTotals(t: TenantTx, from: Date, to: Date): Promise<MessageTotals & { channels: ChannelTotals; pending: number }> {
  const row = (await t
    .from('messages')
    .where({ direction: 'outbound', sandbox: false })
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .first(
      t.trx.raw('count(*) FILTER (WHERE sent_at IS NOT NULL)::int AS sent'),
      t.trx.raw('count(*) FILTER (WHERE delivered_at IS NOT NULL)::int AS delivered'),
      t.trx.raw("count(*) FILTER (WHERE status = 'failed')::int AS failed"),
      t.trx.raw("count(*) FILTER (WHERE status = 'blocked')::int AS blocked"),
      t.trx.raw("count(*) FILTER (WHERE status IN ('queued', 'sending'))::int AS pending"),
      t.trx.raw("count(*) FILTER (WHERE sent_at IS NOT NULL AND channel = 'imessage')::int AS imessage"),
      t.trx.raw("count(*) FILTER (WHERE sent_at IS NOT NULL AND channel = 'sms')::int AS sms"),
      t.trx.raw("count(*) FILTER (WHERE sent_at IS NOT NULL AND channel = 'rcs')::int AS rcs"),
    )) as Record<string, number>;
  return {
    sent: row.sent,
    delivered: row.delivered,
    failed: row.failed,
    blocked: row.blocked,
    pending: row.pending,
    channels: { imessage: row.imessage, sms: row.sms, rcs: row.rcs },
  };
}

/** `GET /v1/billing/usage`: the current UTC month. */
export async function usageSummary(t: TenantTx, tenant: TenantRow, at: Date): Promise<UsageSummary> {
  const from = startOfUtcMonth(at);
  const to = nextUtcMonth(at);
  const counts = await newContactCounts(t, at);
  const totals = await messageTotals(t, from, to);
  return {
    plan: tenant.plan,
    period_start: from.toISOString(),
    period_end: to.toISOString(),
    new_contacts: {
      used_today: counts.today,
      limit_today: effectiveLimit(tenant.plan, tenant.limits ?? {}, 'new_contacts_per_day'),
      used_this_month: counts.month,
      limit_this_month: effectiveLimit(tenant.plan, tenant.limits ?? {}, 'new_contacts_per_month'),
    },
    messages: { sent: totals.sent, delivered: totals.delivered, failed: totals.failed, blocked: totals.blocked },
    channels: totals.channels,
  };
}

export interface UsageRecordTotals {
  plan: TenantRow['plan'];
  period_end: string;
  messages: MessageTotals & { pending: number };
  channels: ChannelTotals;
  inbound: number;
  new_contacts: number;
  /** Live keys only (test-key calls are sandbox traffic); per key id. */
  api_calls: { total: number; by_key: Record<string, number> };
}

export interface UsageRecordRow {
  tenant_id: string;
  period_start: string;
  totals: UsageRecordTotals;
  rolled_up_at: Date;
}

/** Computes a month's totals and stores them as the tenant's usage record for that month. */
export async function rollUpUsage(t: TenantTx, tenant: TenantRow, periodStart: Date): Promise<UsageRecordRow> {
  const from = startOfUtcMonth(periodStart);
  const to = nextUtcMonth(from);
  const period = utcDay(from);
  const totals = await messageTotals(t, from, to);
  const inbound = (await t
    .from('messages')
    .where({ direction: 'inbound' })
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .first(t.trx.raw('count(*)::int AS n'))) as { n: number };
  const monthly = (await t.from('usage_monthly').where({ period_start: period }).first('new_contacts')) as { new_contacts: number } | undefined;
  const calls = (await t
    .from('api_call_counts as c')
    .join('api_keys as k', function joinKeys() {
      this.on('k.tenant_id', '=', 'c.tenant_id').andOn('k.id', '=', 'c.api_key_id');
    })
    .where('k.prefix', 'tf_live')
    .where('c.day', '>=', period)
    .where('c.day', '<', utcDay(to))
    .groupBy('c.api_key_id')
    .select('c.api_key_id', t.trx.raw('sum(c.calls)::int AS calls'))) as { api_key_id: string; calls: number }[];
  const byKey: Record<string, number> = {};
  for (const row of calls) byKey[row.api_key_id] = row.calls;
  const record: UsageRecordTotals = {
    plan: tenant.plan,
    period_end: to.toISOString(),
    messages: { sent: totals.sent, delivered: totals.delivered, failed: totals.failed, blocked: totals.blocked, pending: totals.pending },
    channels: totals.channels,
    inbound: inbound.n,
    new_contacts: monthly?.new_contacts ?? 0,
    api_calls: { total: calls.reduce((sum, row) => sum + row.calls, 0), by_key: byKey },
  };
  const [row] = (await t
    .insert('usage_records', { period_start: period, totals: JSON.stringify(record), rolled_up_at: t.trx.fn.now() })
    .onConflict(['tenant_id', 'period_start'])
    .merge(['totals', 'rolled_up_at'])
    .returning('*')) as UsageRecordRow[];
  return row;
}

export function presentUsageRecord(row: UsageRecordRow) {
  return { period_start: row.period_start, ...row.totals, rolled_up_at: row.rolled_up_at };
}

export async function listUsageRecords(t: TenantTx, limit: number, cursor: string | null): Promise<UsageRecordRow[]> {
  const query = t.from('usage_records').orderBy('period_start', 'desc').limit(limit + 1);
  if (cursor) void query.where('period_start', '<', cursor);
  return (await query) as UsageRecordRow[];
}

/**
 * The daily maintenance tick (cross-tenant, owner pool): one billing job per
 * tenant for the current month (usage to date) and for the previous month
 * (its final totals; repeated daily, so a lost job is made good the next
 * day). Job ids are deterministic per tenant, period and day: two ticks or
 * two schedulers enqueue each roll-up once.
 */
export async function enqueueUsageRollUps(deps: { db: { owner: Knex }; queues: Queues }, now: Date = new Date()): Promise<number> {
  const current = utcMonth(now);
  const previous = utcMonth(new Date(startOfUtcMonth(now).getTime() - 1));
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  let enqueued = 0;
  let after = '';
  for (;;) {
    const tenants = (await deps.db.owner('tenants').where('id', '>', after).orderBy('id').limit(500).select('id')) as { id: string }[];
    if (tenants.length === 0) break;
    await Promise.all(
      tenants.flatMap((tenant) =>
        [previous, current].map((periodStart) =>
          deps.queues.add('billing', 'roll-up-usage', { tenantId: tenant.id, periodStart }, { jobId: jobId('roll-up-usage', tenant.id, periodStart.replace(/-/g, ''), day) }),
        ),
      ),
    );
    enqueued += tenants.length * 2;
    after = tenants[tenants.length - 1].id;
  }
  return enqueued;
}

/** A day's API calls by one key, counted in process and added up here. */
export interface ApiCallCount {
  keyId: string;
  day: string;
  calls: number;
}

/** Adds a batch of one tenant's API call counts in one statement. */
export async function addApiCallCounts(t: TenantTx, counts: ApiCallCount[]): Promise<void> {
  if (counts.length === 0) return;
  await t.trx.raw(
    `INSERT INTO api_call_counts (tenant_id, api_key_id, day, calls)
     SELECT ?, c.key_id, c.day::date, c.calls FROM jsonb_to_recordset(?::jsonb) AS c(key_id text, day text, calls int)
     ON CONFLICT (tenant_id, api_key_id, day) DO UPDATE SET calls = api_call_counts.calls + EXCLUDED.calls`,
    [t.tenantId, JSON.stringify(counts.map((count) => ({ key_id: count.keyId, day: count.day, calls: count.calls })))],
  );
}

/** The caps and calendar keys one usage-slot claim is taken under. */
export interface UsageSlotClaim {
  messageId: string;
  newContactsPerDay: number | null;
  newContactsPerMonth: number | null;
  messagesPerDay: number | null;
  day: string;
  month: string;
  /** Ids for the billing events the claim may record (ULIDs). */
  eventIds: string[];
}

/** Takes a message's usage slots in one statement (senderz_take_usage_slots); returns `ok` or `<period>:<counter>`. */
export async function claimUsageSlots(t: TenantTx, claim: UsageSlotClaim): Promise<string> {
  // The ids as a PostgreSQL array literal: ULIDs need no quoting.
  const result = await t.trx.raw('SELECT senderz_take_usage_slots(?, ?, ?, ?, ?, ?, ?, ?::text[]) AS outcome', [
    t.tenantId,
    claim.messageId,
    claim.newContactsPerDay,
    claim.newContactsPerMonth,
    claim.messagesPerDay,
    claim.day,
    claim.month,
    `{${claim.eventIds.join(',')}}`,
  ]);
  return result.rows[0].outcome as string;
}

/** Today's and this month's counters of a tenant subscribed to usage alerts (owner pool, across tenants). */
export interface AlertSubscriberUsage {
  id: string;
  plan: TenantRow['plan'];
  limits: TenantRow['limits'];
  new_contacts_today: number;
  messages_today: number;
  new_contacts_this_month: number;
  /** The usage alerts its enabled endpoints subscribe to. */
  subscribed: string[];
}

/**
 * The usage-alert sweep's read: active tenants with an enabled endpoint
 * subscribed to `usage.cap_approaching` or `usage.cap_reached`, with their
 * counters for the UTC day and month of `at`. Tenants nobody listens for cost nothing.
 */
export async function usageOfAlertSubscribers(owner: Knex, at: Date): Promise<AlertSubscriberUsage[]> {
  const result = await owner.raw(
    `SELECT t.id, t.plan, t.limits,
            COALESCE(d.new_contacts, 0)::int AS new_contacts_today, COALESCE(d.messages, 0)::int AS messages_today,
            COALESCE(m.new_contacts, 0)::int AS new_contacts_this_month,
            ARRAY(SELECT DISTINCT e FROM webhooks w, unnest(w.events) e
                   WHERE w.tenant_id = t.id AND w.enabled AND e IN ('usage.cap_approaching', 'usage.cap_reached')) AS subscribed
       FROM tenants t
       LEFT JOIN usage_daily d ON d.tenant_id = t.id AND d.day = ?::date
       LEFT JOIN usage_monthly m ON m.tenant_id = t.id AND m.period_start = ?::date
      WHERE t.status = 'active'
        AND EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = t.id AND w.enabled AND w.events && ARRAY['usage.cap_approaching', 'usage.cap_reached'])
      ORDER BY t.id`,
    [utcDay(at), utcMonth(at)],
  );
  return result.rows as AlertSubscriberUsage[];
}
