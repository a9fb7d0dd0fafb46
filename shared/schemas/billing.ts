import { listQuery } from './common';

export const BILLING_EVENT_TYPES = [
  'plan.changed',
  'new_contacts.daily_cap_reached',
  'new_contacts.monthly_cap_reached',
  'messages.daily_cap_reached',
  'usage.period_closed',
] as const;
export type BillingEventType = (typeof BILLING_EVENT_TYPES)[number];

export const listBillingEventsQuery = {
  ...listQuery,
  type: { type: 'string', enum: BILLING_EVENT_TYPES },
} as const;
