import type { RedisClient } from '../redis';

/**
 * Campaign traffic is paced; single sends are not. Every message a campaign
 * fans out gets a start time for its routing job on one clock that every
 * process shares (a Redis key holding the next free start), at most
 * `perSecond` campaign messages a second across the whole deployment. A
 * chunk of fan-out therefore reaches the router spread over time instead of
 * as one burst, the machine keeps headroom for single sends (which also
 * jump ahead of campaign jobs in the queues, by priority), and several
 * campaigns share the rate chunk by chunk in the order they asked for it.
 *
 * Starts fall on ticks of `PACE_TICK_MS` (a tenth of the rate each): the
 * messages of one tick are routed and dispatched together, sharing their
 * statements as a burst would, while a single send never waits behind more
 * than one tick's worth of campaign work.
 *
 * Sandbox campaigns (test keys) keep a clock of their own at the same rate,
 * so a test campaign never pushes back the start of a live one.
 *
 * The messages are committed (with their outbox rows) before this is asked:
 * a clock lost with a Redis restart only makes the next chunk start at once,
 * and a job lost with it is found by the relay as any other.
 */
export const PACE_TICK_MS = 100;

// KEYS: the clock. ARGV: now (ms), the span the caller takes (ms).
// Returns the absolute time (ms) of the caller's first start.
const RESERVE = `
local now = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local nextFree = tonumber(redis.call('GET', KEYS[1]) or '0')
if nextFree < now then nextFree = now end
redis.call('SET', KEYS[1], tostring(nextFree + span), 'PX', math.ceil(nextFree + span - now) + 60000)
return tostring(nextFree)
`;

export function bulkClockKey(prefix: string, sandbox = false): string {
  return `${prefix}:{bulk-pace}:${sandbox ? 'sandbox' : 'live'}`;
}

/**
 * Reserves start times for `count` campaign messages and returns the delay
 * in ms of each: evenly spaced at `perSecond` after whatever was reserved
 * before on the same clock (live, or the sandbox's), each rounded down to its
 * tick (never before now). `perSecond` 0 means no pacing (every delay 0,
 * nothing asked of Redis).
 */
export async function reserveBulkStarts(
  redis: RedisClient,
  prefix: string,
  count: number,
  perSecond: number,
  options: { sandbox?: boolean; now?: number } = {},
): Promise<number[]> {
  if (count === 0 || perSecond <= 0) return new Array<number>(count).fill(0);
  const now = options.now ?? Date.now();
  const step = 1000 / perSecond;
  const first = Number(await redis.eval(RESERVE, 1, bulkClockKey(prefix, options.sandbox), now, count * step));
  return Array.from({ length: count }, (_v, index) => Math.max(0, Math.floor((first + index * step) / PACE_TICK_MS) * PACE_TICK_MS - now));
}
