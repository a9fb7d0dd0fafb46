import type { Plan, TenantLimits } from './schemas/admin';

export interface PlanLimits {
  requestsPerMinute: number;
  newContactsPerDay: number;
  newContactsPerMonth: number;
  dedicatedNumbers: number;
}

/** PRODUCT.md, "Usage and billing" and "Rate limits". */
export const PLAN_LIMITS: Record<Plan, PlanLimits> = {
  trial: { requestsPerMinute: 60, newContactsPerDay: 10, newContactsPerMonth: 250, dedicatedNumbers: 0 },
  starter: { requestsPerMinute: 60, newContactsPerDay: 10, newContactsPerMonth: 250, dedicatedNumbers: 0 },
  growth: { requestsPerMinute: 300, newContactsPerDay: 50, newContactsPerMonth: 1250, dedicatedNumbers: 1 },
  scale: { requestsPerMinute: 1500, newContactsPerDay: 500, newContactsPerMonth: 10000, dedicatedNumbers: 3 },
};

/** A tenant override wins over the plan; `null` in an override means unlimited. */
export function effectiveLimit(plan: Plan, overrides: TenantLimits, field: keyof TenantLimits): number | null {
  if (Object.prototype.hasOwnProperty.call(overrides, field)) return overrides[field] ?? null;
  const limits = PLAN_LIMITS[plan];
  switch (field) {
    case 'requests_per_minute':
      return limits.requestsPerMinute;
    case 'new_contacts_per_day':
      return limits.newContactsPerDay;
    case 'new_contacts_per_month':
      return limits.newContactsPerMonth;
    case 'messages_per_day':
      return null;
  }
}
