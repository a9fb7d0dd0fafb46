import type { AlertSubscriberUsage } from '../data/usage';
import { capsFor } from './caps';
import { utcDay, utcMonth } from './calendar';

/** A usage alert is sent when a counter reaches this share of its cap, and again when it reaches the cap. */
export const APPROACHING_SHARE = 0.8;

export type CapName = 'new_contacts_per_day' | 'new_contacts_per_month' | 'messages_per_day';

export interface UsageAlert {
  type: 'usage.cap_approaching' | 'usage.cap_reached';
  cap: CapName;
  used: number;
  limit: number;
  /** The UTC day (daily caps) or the first day of the UTC month (monthly cap). */
  period_start: string;
  /** Once per tenant, alert, cap and period. */
  dedupeKey: string;
}

/**
 * The alerts a tenant's counters call for right now: `usage.cap_approaching`
 * at 80 % of a cap and `usage.cap_reached` at the cap (both, when a counter
 * jumped past 80 % between two sweeps), of the kinds the tenant subscribes
 * to. Unlimited caps and caps of 0 (nothing allowed at all) never alert. The
 * caller records each once per period.
 */
export function usageAlerts(tenant: AlertSubscriberUsage, at: Date): UsageAlert[] {
  const caps = capsFor(tenant);
  const counters: { cap: CapName; used: number; limit: number | null; period_start: string }[] = [
    { cap: 'new_contacts_per_day', used: tenant.new_contacts_today, limit: caps.newContactsPerDay, period_start: utcDay(at) },
    { cap: 'new_contacts_per_month', used: tenant.new_contacts_this_month, limit: caps.newContactsPerMonth, period_start: utcMonth(at) },
    { cap: 'messages_per_day', used: tenant.messages_today, limit: caps.messagesPerDay, period_start: utcDay(at) },
  ];
  const alerts: UsageAlert[] = [];
  for (const { cap, used, limit, period_start } of counters) {
    if (limit === null || limit <= 0) continue;
    const make = (type: UsageAlert['type']): UsageAlert => ({ type, cap, used, limit, period_start, dedupeKey: `${type}:${cap}:${period_start}` });
    if (used >= limit * APPROACHING_SHARE) alerts.push(make('usage.cap_approaching'));
    if (used >= limit) alerts.push(make('usage.cap_reached'));
  }
  return alerts.filter((alert) => tenant.subscribed.includes(alert.type));
}
