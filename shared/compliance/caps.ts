import type { TenantTx } from '../db/tenant';
import type { MessageRow } from '../data/messages';
import type { TenantRow } from '../data/tenants';
import { claimUsageSlots } from '../data/usage';
import { effectiveLimit } from '../plans';
import { newId } from '../ids';
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

/** The counters in the order senderz_take_usage_slots numbers them (one billing event id each). */
const CAP_KEYS = ['day:new_contacts', 'month:new_contacts', 'day:messages'] as const;

/** Ids for the billing events a metering may record, one per counter. */
export function capEventIds(): string[] {
  return CAP_KEYS.map(() => newId());
}

export function slotOutcome(result: string): SlotOutcome {
  if (result === 'ok') return { ok: true };
  const [period, counter] = result.split(':') as ['day' | 'month', CapCounter];
  return { ok: false, period, counter };
}

/**
 * Takes the message's slots under the caps, atomically, in one statement
 * (senderz_take_usage_slots), inside the caller's tenant transaction. A number
 * is a new contact when the tenant has never successfully messaged it
 * (`known_recipients`). Exactness under concurrent routing comes from
 * PostgreSQL alone:
 * - a claim row per (tenant, month, number) counts a new number once per
 *   month however many messages go to it (and however often a job re-runs);
 * - the counters only move through conditional upserts
 *   (`… DO UPDATE SET n = n + 1 WHERE n < cap RETURNING`), so N routers racing
 *   at the boundary take exactly the slots that are left;
 * - it all happens in a savepoint: a message refused by one cap gives back
 *   what it took under the others, and its flags stay unset so it is metered
 *   again when it is released;
 * - the message's flags (`counted_new_contact`, `counted_daily_message`) make a
 *   re-run of the same message a no-op;
 * - the first time a counter reaches its cap (or a message meets it), one
 *   billing event per tenant and period is recorded (a dedupe key).
 */
export async function takeUsageSlots(t: TenantTx, message: Pick<MessageRow, 'id'>, tenant: TenantRow, now: Date): Promise<SlotOutcome> {
  const caps = capsFor(tenant);
  const outcome = await claimUsageSlots(t, {
    messageId: message.id,
    newContactsPerDay: caps.newContactsPerDay,
    newContactsPerMonth: caps.newContactsPerMonth,
    messagesPerDay: caps.messagesPerDay,
    day: utcDay(now),
    month: utcMonth(now),
    eventIds: capEventIds(),
  });
  return slotOutcome(outcome);
}
