import crypto from 'node:crypto';
import type { RedisClient } from '../../shared/redis';

/**
 * Per-endpoint concurrency, shared by every webhooks process through Redis, so
 * a slow or dead receiver holds at most `max` of the pools' slots and the rest
 * keep serving healthy endpoints (of every tenant).
 *
 * A slot is a lease in a sorted set scored by its expiry: a process that dies
 * mid-delivery leaks nothing past the lease. A delivery refused a slot is told
 * how long to wait: its share of the deliveries parked on that endpoint at the
 * endpoint's pace (a moving average of its recent attempt durations, or the age
 * of the oldest attempt in flight before any finished). A fast endpoint's
 * backlog comes back within milliseconds and keeps its slots busy; deliveries
 * parked on a hanging one come back every ~30 s instead of spinning.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
  redis.call('ZREM', KEYS[2], ARGV[4])
  return 0
end
local waiting = redis.call('ZCARD', KEYS[2])
local pace = tonumber(redis.call('GET', KEYS[3]) or '')
if not pace then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  pace = now - (tonumber(oldest[2]) - lease)
end
if pace < 5 then pace = 5 end
local delay = math.floor(pace * (waiting + 1) / max * tonumber(ARGV[5]))
local minimum = tonumber(ARGV[6])
local maximum = tonumber(ARGV[7])
if delay < minimum then delay = minimum end
if delay > maximum then delay = maximum end
redis.call('ZADD', KEYS[2], now + delay + 1000, ARGV[4])
redis.call('PEXPIRE', KEYS[2], maximum * 2)
return delay
`;

const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
local took = tonumber(ARGV[2])
if took >= 0 then
  local previous = tonumber(redis.call('GET', KEYS[2]) or '')
  local pace = previous and (previous * 0.7 + took * 0.3) or took
  redis.call('SET', KEYS[2], tostring(math.floor(pace)), 'PX', 600000)
end
return 1
`;

export interface EndpointSlot {
  /** Frees the slot; `tookMs` (the attempt's duration) feeds the endpoint's pace. */
  release(tookMs?: number): Promise<void>;
}

export interface EndpointSlots {
  /** Takes a slot, or says how many ms to wait before trying again. */
  acquire(webhookId: string, deliveryId: string): Promise<EndpointSlot | { waitMs: number }>;
}

export interface EndpointSlotOptions {
  redis: RedisClient;
  prefix: string;
  max: number;
  /** How long a slot is held at most (the delivery timeout plus a margin). */
  leaseMs: number;
  minWaitMs?: number;
  maxWaitMs?: number;
}

export function createEndpointSlots(options: EndpointSlotOptions): EndpointSlots {
  const minWait = options.minWaitMs ?? 20;
  const maxWait = options.maxWaitMs ?? 30000;
  return {
    async acquire(webhookId, deliveryId) {
      // One hash tag per endpoint: the scripts touch its three keys together (one slot on a cluster).
      const keys = ['webhook-slots', 'webhook-waiting', 'webhook-pace'].map((key) => `${options.prefix}:${key}:{${webhookId}}`);
      const token = `${deliveryId}:${crypto.randomBytes(6).toString('hex')}`;
      const jitter = (0.75 + Math.random() * 0.5).toFixed(3);
      const waitMs = Number(await options.redis.eval(ACQUIRE, 3, ...keys, options.leaseMs, options.max, token, deliveryId, jitter, minWait, maxWait));
      if (waitMs > 0) return { waitMs };
      let released = false;
      return {
        async release(tookMs) {
          if (released) return;
          released = true;
          await options.redis.eval(RELEASE, 2, keys[0], keys[2], token, tookMs === undefined ? -1 : Math.round(tookMs));
        },
      };
    },
  };
}
