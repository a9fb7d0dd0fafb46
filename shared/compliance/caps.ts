import type { TenantTx } from '../db/tenant';
import type { MessageRow } from '../data/messages';
import type { TenantRow } from '../data/tenants';
import { effectiveLimit } from '../plans';
import { recordBillingEvent } from '../data/billing';
import { utcDay, utcMonth } from './calendar';

/**
 * The plan caps a message is metered against (PRODUCT.md "Usage and
 * billing"): new contacts per UTC day and per UTC month, and, when the
 * operator set one, messages per UTC day. `null` = unlimited.
 */
export interface UsageCaps {
  newContactsPerDay: number | null;
  newContactsPerMonth: number | null;
  messagesPerDay: number | null;
}

export function capsFor(tenant: Pick<TenantRow, 'plan' | 'limits'>): UsageCaps {
  const limits = tenant.limits ?? {};
  return {
    newContactsPerDay: effectiveLimit(tenant.plan, limits, 'new_contacts_per_day'),
    newContactsPerMonth: effectiveLimit(tenant.plan, limits, 'new_contacts_per_month'),
    messagesPerDay: effectiveLimit(tenant.plan, limits, 'messages_per_day'),
  };
}

export type CapCounter = 'new_contacts' | 'messages';
export type SlotOutcome = { ok: true } | { ok: false; period: 'day' | 'month'; counter: CapCounter };

class OverCap extends Error {
  constructor(
    readonly period: 'day' | 'month',
    readonly counter: CapCounter,
  ) {
    super(`${counter} ${period} cap reached`);
  }
}

const CAP_EVENT = {
  'new_contacts/day': 'new_contacts.daily_cap_reached',
  'new_contacts/month': 'new_contacts.monthly_cap_reached',
  'messages/day': 'messages.daily_cap_reached',
} as const;

/** Once per tenant and period: the first time a counter reaches (or a message meets) its cap. */
async function recordCapReached(t: TenantTx, counter: CapCounter, period: 'day' | 'month', key: string, limit: number | null): Promise<void> {
  const type = CAP_EVENT[`${counter}/${period}` as keyof typeof CAP_EVENT];
  await recordBillingEvent(t, type, { [period === 'day' ? 'day' : 'period_start']: key, limit }, `${type}:${key}`);
}

/**
 * Takes the message's slots under the caps, atomically, inside the routing
 * transaction. A number is a new contact when the tenant has never
 * successfully messaged it (`known_recipients`). Exactness under concurrent
 * routing comes from PostgreSQL alone:
 * - a claim row per (tenant, month, number) counts a new number once per
 *   month however many messages go to it (and however often a job re-runs);
 * - the counters only move through conditional upserts
 *   (`… DO UPDATE SET n = n + 1 WHERE n < cap RETURNING`), so N routers racing
 *   at the boundary take exactly the slots that are left;
 * - everything happens in a savepoint: a message refused by one cap gives back
 *   what it took under the others, and its flags stay unset so it is metered
 *   again when it is released;
 * - the message's flags (`counted_new_contact`, `counted_daily_message`) make a
 *   re-run of the same message a no-op.
 */
export async function takeUsageSlots(
  t: TenantTx,
  message: MessageRow & { counted_daily_message?: boolean },
  tenant: TenantRow,
  now: Date,
): Promise<SlotOutcome> {
  if (message.sandbox || message.system_reply) return { ok: true };
  const caps = capsFor(tenant);
  const day = utcDay(now);
  const month = utcMonth(now);
  const needMessage = caps.messagesPerDay !== null && !message.counted_daily_message;
  let maybeNewContact = false;
  if (!message.counted_new_contact) {
    const known = await t.from('known_recipients').where({ phone_number: message.to_number }).first('phone_number');
    maybeNewContact = !known;
  }
  if (!maybeNewContact && !needMessage) return { ok: true };

  const reached: { counter: CapCounter; period: 'day' | 'month'; key: string; limit: number | null }[] = [];
  try {
    await t.trx.transaction(async (savepoint) => {
      // The message's own row first; the shared counter rows last, so their
      // locks are held for as short a time as possible before commit.
      const flags: Record<string, boolean> = {};
      if (maybeNewContact) flags.counted_new_contact = true;
      if (needMessage) flags.counted_daily_message = true;
      await savepoint('messages').where({ tenant_id: t.tenantId, id: message.id }).update(flags);
      let newContact = false;
      if (maybeNewContact) {
        const claim = await savepoint.raw(
          `INSERT INTO new_contact_claims (tenant_id, period_start, phone_number, day, message_id) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING RETURNING phone_number`,
          [t.tenantId, month, message.to_number, day, message.id],
        );
        newContact = claim.rows.length > 0;
      }
      if (newContact) {
        const cap = caps.newContactsPerMonth;
        if (cap === 0) throw new OverCap('month', 'new_contacts');
        const monthly = await savepoint.raw(
          `INSERT INTO usage_monthly (tenant_id, period_start, new_contacts) VALUES (?, ?, 1)
           ON CONFLICT (tenant_id, period_start) DO UPDATE SET new_contacts = usage_monthly.new_contacts + 1
             WHERE ?::int IS NULL OR usage_monthly.new_contacts < ?::int
           RETURNING new_contacts`,
          [t.tenantId, month, cap, cap],
        );
        if (monthly.rows.length === 0) throw new OverCap('month', 'new_contacts');
        if (cap !== null && monthly.rows[0].new_contacts >= cap) reached.push({ counter: 'new_contacts', period: 'month', key: month, limit: cap });
      }
      const addContact = newContact ? 1 : 0;
      const addMessage = needMessage ? 1 : 0;
      if (addContact || addMessage) {
        if (addContact && caps.newContactsPerDay === 0) throw new OverCap('day', 'new_contacts');
        if (addMessage && caps.messagesPerDay === 0) throw new OverCap('day', 'messages');
        const daily = await savepoint.raw(
          `INSERT INTO usage_daily (tenant_id, day, new_contacts, messages) VALUES (?, ?, ?, ?)
           ON CONFLICT (tenant_id, day) DO UPDATE
             SET new_contacts = usage_daily.new_contacts + EXCLUDED.new_contacts, messages = usage_daily.messages + EXCLUDED.messages
             WHERE (?::int IS NULL OR usage_daily.new_contacts + EXCLUDED.new_contacts <= ?::int)
               AND (?::int IS NULL OR usage_daily.messages + EXCLUDED.messages <= ?::int)
           RETURNING new_contacts, messages`,
          [t.tenantId, day, addContact, addMessage, caps.newContactsPerDay, caps.newContactsPerDay, caps.messagesPerDay, caps.messagesPerDay],
        );
        if (daily.rows.length === 0) {
          const current = (await savepoint('usage_daily').where({ tenant_id: t.tenantId, day }).first('new_contacts', 'messages')) as { new_contacts: number; messages: number };
          const contactsFull = addContact === 1 && caps.newContactsPerDay !== null && current.new_contacts >= caps.newContactsPerDay;
          throw new OverCap('day', contactsFull ? 'new_contacts' : 'messages');
        }
        const counts = daily.rows[0] as { new_contacts: number; messages: number };
        if (addContact && caps.newContactsPerDay !== null && counts.new_contacts >= caps.newContactsPerDay) {
          reached.push({ counter: 'new_contacts', period: 'day', key: day, limit: caps.newContactsPerDay });
        }
        if (addMessage && caps.messagesPerDay !== null && counts.messages >= caps.messagesPerDay) {
          reached.push({ counter: 'messages', period: 'day', key: day, limit: caps.messagesPerDay });
        }
      }
    });
  } catch (error) {
    if (!(error instanceof OverCap)) throw error;
    const key = error.period === 'day' ? day : month;
    const limit = error.counter === 'messages' ? caps.messagesPerDay : error.period === 'day' ? caps.newContactsPerDay : caps.newContactsPerMonth;
    await recordCapReached(t, error.counter, error.period, key, limit);
    return { ok: false, period: error.period, counter: error.counter };
  }
  for (const cap of reached) await recordCapReached(t, cap.counter, cap.period, cap.key, cap.limit);
  return { ok: true };
}
