import type { TenantTx } from '../../shared/db/tenant';
import type { MessageRow } from '../../shared/data/messages';
import type { TenantRow } from '../../shared/data/tenants';
import { isOptedOut } from '../../shared/data/opt-outs';
import { quietHoursFor } from '../../shared/compliance/quiet-hours';
import { takeUsageSlots } from '../../shared/compliance/caps';
import { nextUtcMidnight } from '../../shared/compliance/calendar';

export type Verdict = { action: 'allow' } | { action: 'block'; reason: string } | { action: 'defer'; until: Date; reason: string };

export interface ComplianceCheck {
  name: string;
  /** Runs inside the routing transaction, before any line is chosen. */
  check(t: TenantTx, message: MessageRow, tenant: TenantRow): Promise<Verdict>;
}

/** What the checks depend on; tests pass a fixed clock. */
export interface ComplianceDeps {
  now?: () => Date;
}

const ALLOW: Verdict = { action: 'allow' };

/** A STOP that arrived after the message was accepted still blocks it (e.g. mid-campaign). */
export const optOutCheck: ComplianceCheck = {
  name: 'opt-out',
  async check(t, message) {
    return (await isOptedOut(t, message.to_number)) ? { action: 'block', reason: 'opted_out' } : ALLOW;
  },
};

/**
 * Marketing is blocked (reason `quiet_hours`, per PRODUCT.md; not deferred)
 * from 20:00 to 08:00 in the recipient's local time. OTP and alert are never
 * held. A number that may be in several zones is blocked when it is quiet in
 * any of them.
 */
export function quietHoursCheck(deps: ComplianceDeps = {}): ComplianceCheck {
  const now = deps.now ?? (() => new Date());
  return {
    name: 'quiet-hours',
    async check(_t, message) {
      if (message.message_type !== 'marketing') return ALLOW;
      return quietHoursFor(message.to_number, now()).quiet ? { action: 'block', reason: 'quiet_hours' } : ALLOW;
    },
  };
}

/**
 * Plan caps (new contacts per day and month, messages per day). Over a daily
 * cap the message waits, queued with reason `daily_limit`, until the next UTC
 * midnight, when routing runs it again. At the monthly new-contact cap it is
 * blocked with reason `monthly_limit`: holding it for up to a month would
 * deliver stale messages weeks later, and the client learns at once
 * (message.blocked) that it needs a higher plan or limit.
 */
export function usageCapCheck(deps: ComplianceDeps = {}): ComplianceCheck {
  const now = deps.now ?? (() => new Date());
  return {
    name: 'usage-caps',
    async check(t, message, tenant) {
      const at = now();
      const outcome = await takeUsageSlots(t, message, tenant, at);
      if (outcome.ok) return ALLOW;
      if (outcome.period === 'month') return { action: 'block', reason: 'monthly_limit' };
      return { action: 'defer', until: nextUtcMidnight(at), reason: 'daily_limit' };
    },
  };
}

/**
 * The router's checks, in order. The cap check is last: it takes slots, so
 * a message blocked by an earlier rule never uses one. Per-line caps
 * (per-minute throughput, warm-up) apply at dispatch, once the line is known.
 */
export function defaultComplianceChecks(deps: ComplianceDeps = {}): ComplianceCheck[] {
  return [optOutCheck, quietHoursCheck(deps), usageCapCheck(deps)];
}

export async function runCompliance(checks: ComplianceCheck[], t: TenantTx, message: MessageRow, tenant: TenantRow): Promise<Verdict> {
  if (message.system_reply) return ALLOW;
  for (const check of checks) {
    const verdict = await check.check(t, message, tenant);
    if (verdict.action !== 'allow') return verdict;
  }
  return ALLOW;
}
