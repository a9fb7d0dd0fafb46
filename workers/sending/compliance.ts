import type { TenantTx } from '../../shared/db/tenant';
import type { MessageRow } from '../../shared/data/messages';
import type { TenantRow } from '../../shared/data/tenants';
import { isOptedOut } from '../../shared/data/opt-outs';

export type Verdict = { action: 'allow' } | { action: 'block'; reason: string } | { action: 'defer'; until: Date; reason: string };

export interface ComplianceCheck {
  name: string;
  /** Runs inside the routing transaction, before any line is chosen. */
  check(t: TenantTx, message: MessageRow, tenant: TenantRow): Promise<Verdict>;
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
 * The router's checks, in order. Only implemented checks are listed: a rule
 * that is not here is not enforced (see the README's compliance section).
 */
export function defaultComplianceChecks(): ComplianceCheck[] {
  return [optOutCheck];
}

export async function runCompliance(checks: ComplianceCheck[], t: TenantTx, message: MessageRow, tenant: TenantRow): Promise<Verdict> {
  if (message.system_reply) return ALLOW;
  for (const check of checks) {
    const verdict = await check.check(t, message, tenant);
    if (verdict.action !== 'allow') return verdict;
  }
  return ALLOW;
}
