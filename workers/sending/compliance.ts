import type { MessageType } from '../../shared/data/messages';
import { quietHoursFor } from '../../shared/compliance/quiet-hours';

/**
 * `meter`: allowed, and the message's usage is taken under the plan caps at
 * `at`, in the statement that commits the routing decision (over a daily cap
 * it then waits until the next UTC midnight with reason `daily_limit`; at the
 * monthly new-contact cap it is blocked with `monthly_limit`).
 */
export type Verdict =
  | { action: 'allow' }
  | { action: 'block'; reason: string }
  | { action: 'defer'; until: Date; reason: string }
  | { action: 'meter'; at: Date };

/** What the checks see of a message: read by the router in one statement. */
export interface ScreenedMessage {
  to_number: string;
  message_type: MessageType;
  system_reply: boolean;
  /** The recipient opted out of this tenant (e.g. a STOP that arrived mid-campaign). */
  opted_out: boolean;
}

export interface ComplianceCheck {
  name: string;
  /** Runs before any line is chosen; reads nothing of its own. */
  check(message: ScreenedMessage): Verdict | Promise<Verdict>;
}

/** What the checks depend on; tests pass a fixed clock. */
export interface ComplianceDeps {
  now?: () => Date;
}

const ALLOW: Verdict = { action: 'allow' };

/** A STOP that arrived after the message was accepted still blocks it (e.g. mid-campaign). */
export const optOutCheck: ComplianceCheck = {
  name: 'opt-out',
  check: (message) => (message.opted_out ? { action: 'block', reason: 'opted_out' } : ALLOW),
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
    check(message) {
      if (message.message_type !== 'marketing') return ALLOW;
      return quietHoursFor(message.to_number, now()).quiet ? { action: 'block', reason: 'quiet_hours' } : ALLOW;
    },
  };
}

/**
 * Plan caps (new contacts per day and month, messages per day;
 * shared/compliance/caps.ts): metered when the routing decision is committed,
 * so the slots and the decision are one statement.
 */
export function usageCapCheck(deps: ComplianceDeps = {}): ComplianceCheck {
  const now = deps.now ?? (() => new Date());
  return { name: 'usage-caps', check: () => ({ action: 'meter', at: now() }) };
}

/**
 * The router's checks, in order. The cap check is last: it takes slots, so
 * a message blocked by an earlier rule never uses one. Per-line caps
 * (per-minute throughput, warm-up) apply at dispatch, once the line is known.
 */
export function defaultComplianceChecks(deps: ComplianceDeps = {}): ComplianceCheck[] {
  return [optOutCheck, quietHoursCheck(deps), usageCapCheck(deps)];
}

/** The first check that does not simply allow decides; compliance replies (STOP/HELP) skip them all. */
export async function runCompliance(checks: ComplianceCheck[], message: ScreenedMessage): Promise<Verdict> {
  if (message.system_reply) return ALLOW;
  let verdict: Verdict = ALLOW;
  for (const check of checks) {
    const outcome = await check.check(message);
    if (outcome.action === 'block' || outcome.action === 'defer') return outcome;
    if (outcome.action === 'meter') verdict = outcome;
  }
  return verdict;
}
