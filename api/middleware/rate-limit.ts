import type { RequestHandler } from 'express';
import type { RedisClient } from '../../shared/redis';
import { RateLimitedError } from '../../shared/errors';

/**
 * Fixed one-minute windows in Redis, shared by every API process: one per
 * caller (the key's limit, or the plan's), and one per tenant when the
 * operator set `limits.requests_per_minute` (a budget for all the tenant's
 * keys together, so minting more keys never buys more requests). One round
 * trip: INCR and a guarded EXPIRE per window in one MULTI (both keys carry the
 * tenant's hash tag, so they share a slot on a Redis Cluster). The headers
 * report the tighter of the two.
 */
export function createRateLimiter(redis: RedisClient, prefix: string): RequestHandler {
  return (req, res, next) => {
    const caller = req.caller;
    if (!caller || (caller.rateLimit === null && caller.tenantRateLimit === null)) {
      next();
      return;
    }
    const nowSeconds = Math.floor(Date.now() / 1000);
    const windowStart = nowSeconds - (nowSeconds % 60);
    const reset = windowStart + 60;
    const windows = [
      { limit: caller.rateLimit, key: `${prefix}:ratelimit:{${caller.tenantId}}:${caller.subject}:${windowStart}` },
      { limit: caller.tenantRateLimit, key: `${prefix}:ratelimit:{${caller.tenantId}}:tenant:${windowStart}` },
    ].filter((window): window is { limit: number; key: string } => window.limit !== null);
    const multi = redis.multi();
    for (const window of windows) multi.incr(window.key).expire(window.key, 70);
    multi
      .exec()
      .then((results) => {
        const counts = windows.map((window, index) => ({ limit: window.limit, count: Number(results?.[index * 2]?.[1] ?? 0) }));
        const tightest = counts.reduce((a, b) => (b.limit - b.count < a.limit - a.count ? b : a));
        res.set({
          'X-RateLimit-Limit': String(tightest.limit),
          'X-RateLimit-Remaining': String(Math.max(0, tightest.limit - tightest.count)),
          'X-RateLimit-Reset': String(reset),
        });
        if (counts.some((window) => window.count > window.limit)) throw new RateLimitedError(Math.max(1, reset - nowSeconds));
        next();
      })
      .catch(next);
  };
}
