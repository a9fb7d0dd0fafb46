import type { Knex } from 'knex';
import type { RedisClient } from '../redis';
import type { MessageType } from '../data/messages';
import { takeCapacitySlot, usableCap } from './line-slots';
import { withTenant } from '../db/tenant';
import { takeLineDailySend, type PhoneLineRow } from '../data/phone-lines';
import { holdSendingMessage } from '../data/messages';
import { deferDispatch } from '../data/dispatches';
import { nextUtcMidnight, utcDay, utcDaysBetween } from './calendar';

/**
 * Warm-up of a new line (`warmup: true`, the default): carriers and Apple
 * flag a number that starts sending at full volume, so a line's daily sends
 * ramp up over its first days. Day 1 is the UTC day the warm-up started
 * (`warmup_started_at`, the line's creation); from day 6 on there is no
 * warm-up cap (the per-minute cap still applies).
 */
export const WARMUP_DAILY_CAPS = [50, 100, 200, 400, 800] as const;

/** The line's cap for the UTC day of `now`, or null when it has none. */
export function warmupCap(line: Pick<PhoneLineRow, 'warmup' | 'warmup_started_at'>, now: Date): number | null {
  if (!line.warmup) return null;
  const day = utcDaysBetween(new Date(line.warmup_started_at), now);
  if (day < 0) return WARMUP_DAILY_CAPS[0];
  return day < WARMUP_DAILY_CAPS.length ? WARMUP_DAILY_CAPS[day] : null;
}

/**
 * Takes one of today's warm-up slots of the line, shared by every dispatch
 * process through one conditional upsert. Returns true when the send may go.
 */
export async function takeWarmupCount(app: Knex, line: Pick<PhoneLineRow, 'id' | 'warmup' | 'warmup_started_at'>, now: Date, messageType: MessageType = 'alert'): Promise<boolean> {
  const full = warmupCap(line, now);
  if (full === null) return true;
  // Marketing leaves the day's last sends to OTP and alerts (shared/compliance/line-slots.ts).
  const cap = usableCap(full, messageType);
  return takeLineDailySend(app, line.id, utcDay(now), cap);
}

export interface WarmupDeps {
  db: { app: Knex };
  redis: RedisClient;
  config: { queuePrefix: string };
}

/**
 * Called by the dispatcher once the per-minute slot is taken: 0 when the send
 * may go now, else the milliseconds until the next UTC day. A held message
 * keeps its dispatch on the line, shows reason `warming_limit` and its pending
 * dispatch waits for the same time, so the relay does not release it early.
 */
export async function takeWarmupSlot(
  deps: WarmupDeps,
  line: Pick<PhoneLineRow, 'id' | 'mode' | 'warmup' | 'warmup_started_at'>,
  work: { tenantId: string; messageId: string; dispatchId: string; messageType: MessageType },
  now: Date = new Date(),
): Promise<number> {
  const cap = warmupCap(line, now);
  if (cap === null) return 0;
  // On a pooled line, this tenant's fair share of the day first; then the line's exact count.
  const share = await takeCapacitySlot(deps.redis, deps.config.queuePrefix, {
    line,
    tenantId: work.tenantId,
    messageType: work.messageType,
    period: 'day',
    cap,
    totalCountedElsewhere: true,
    now: now.getTime(),
  });
  if (share === 0 && (await takeWarmupCount(deps.db.app, line, now, work.messageType))) return 0;
  const until = nextUtcMidnight(now);
  await withTenant(deps.db.app, work.tenantId, async (t) => {
    await holdSendingMessage(t, work.messageId, 'warming_limit', until);
    await deferDispatch(t, work.dispatchId, until);
  });
  // A little spread so a line's held messages do not all hit it in the same millisecond.
  return Math.max(1000, until.getTime() - now.getTime()) + Math.floor(Math.random() * 5000);
}
