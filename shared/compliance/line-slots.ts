import type { RedisClient } from '../redis';
import type { MessageType } from '../data/messages';
import type { PhoneLineRow } from '../data/phone-lines';

/**
 * Capacity of one line, shared fairly. A line has a per-minute cap
 * (`max_per_minute`, counted here in Redis across every dispatch process) and,
 * while warming up, a daily cap (counted exactly in PostgreSQL,
 * shared/compliance/warmup.ts). Two rules sit on top of both:
 * - **a fair share per tenant on a pooled line**: a tenant may take at most
 *   cap / max(2, tenants that used the line in the period) of it, so one
 *   tenant's burst can never spend what the pool's other tenants need (with
 *   one tenant alone, half the line stays free for the next one to arrive);
 * - **a reserve for transactional traffic**: marketing may not take the last
 *   tenth of a cap (at least one send), so an OTP or an alert never waits
 *   behind marketing on the same line.
 */
export type Period = 'minute' | 'day';

/** Marketing leaves this share of every cap to OTP and alerts. */
export const TRANSACTIONAL_RESERVE = 0.1;

export function isTransactional(type: MessageType): boolean {
  return type !== 'marketing';
}

/** The part of a cap a message of this type may use. */
export function usableCap(cap: number, type: MessageType): number {
  return isTransactional(type) ? cap : cap - Math.max(1, Math.floor(cap * TRANSACTIONAL_RESERVE));
}

const PERIOD_MS: Record<Period, number> = { minute: 60000, day: 86400000 };

// KEYS: line total, this tenant's count, the set of tenants seen in the window.
// ARGV: total cap (0 = the total is counted elsewhere), share cap (0 = no share), tenant id, ttl seconds.
// Takes a slot under both counters, or none: returns 1 when taken.
const TAKE_SLOT = `
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local totalCap = tonumber(ARGV[1])
if totalCap > 0 and total >= totalCap then return 0 end
local shareCap = tonumber(ARGV[2])
if shareCap > 0 then
  redis.call('SADD', KEYS[3], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  local tenants = redis.call('SCARD', KEYS[3])
  if tenants < 2 then tenants = 2 end
  local share = math.max(1, math.floor(shareCap / tenants))
  local mine = tonumber(redis.call('GET', KEYS[2]) or '0')
  if mine >= share then return 0 end
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
if totalCap > 0 then
  redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return 1
`;

export interface SlotRequest {
  line: Pick<PhoneLineRow, 'id' | 'mode'>;
  tenantId: string;
  messageType: MessageType;
  period: Period;
  cap: number;
  /** The line's total for the period is counted by the caller (the warm-up's daily count in PostgreSQL). */
  totalCountedElsewhere?: boolean;
  now?: number;
}

/**
 * Takes one slot of a line's capacity for the period. Returns 0 when the send
 * may go now, else the ms until the next window.
 */
export async function takeCapacitySlot(redis: RedisClient, prefix: string, request: SlotRequest): Promise<number> {
  const now = request.now ?? Date.now();
  const length = PERIOD_MS[request.period];
  const window = Math.floor(now / length);
  // One hash tag for the three keys of a line's window: the script reads them together (one slot on a cluster).
  const base = `${prefix}:{line-${request.period}:${request.line.id}:${window}}`;
  const totalCap = request.totalCountedElsewhere ? 0 : usableCap(request.cap, request.messageType);
  const shareCap = request.line.mode === 'pooled' ? usableCap(request.cap, request.messageType) : 0;
  if (totalCap === 0 && shareCap === 0) return 0;
  const ttl = Math.ceil((2 * length) / 1000);
  const taken = await redis.eval(TAKE_SLOT, 3, `${base}:total`, `${base}:tenant:${request.tenantId}`, `${base}:tenants`, totalCap, shareCap, request.tenantId, ttl);
  if (Number(taken) === 1) return 0;
  return (window + 1) * length - now + Math.floor(Math.random() * 250);
}

/** The per-minute cap of a line (`max_per_minute`; null = none): 0 when the send may go now, else the ms to wait. */
export async function takeLineSlot(redis: RedisClient, prefix: string, line: Pick<PhoneLineRow, 'id' | 'mode' | 'max_per_minute'>, tenantId: string, messageType: MessageType): Promise<number> {
  if (line.max_per_minute === null) return 0;
  return takeCapacitySlot(redis, prefix, { line, tenantId, messageType, period: 'minute', cap: line.max_per_minute });
}
