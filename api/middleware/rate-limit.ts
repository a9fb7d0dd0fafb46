import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { RateLimitedError } from '../../shared/errors';

/**
 * Fixed one-minute windows per caller in Redis, shared by every API process.
 * One round trip: INCR and a guarded EXPIRE in a pipeline.
 */
export function createRateLimiter(redis: Redis, prefix: string): RequestHandler {
  return (req, res, next) => {
    const caller = req.caller;
    if (!caller || caller.rateLimit === null) {
      next();
      return;
    }
    const limit = caller.rateLimit;
    const nowSeconds = Math.floor(Date.now() / 1000);
    const windowStart = nowSeconds - (nowSeconds % 60);
    const reset = windowStart + 60;
    const key = `${prefix}:ratelimit:${caller.subject}:${windowStart}`;
    redis
      .multi()
      .incr(key)
      .expire(key, 70)
      .exec()
      .then((results) => {
        const count = Number(results?.[0]?.[1] ?? 0);
        res.set({
          'X-RateLimit-Limit': String(limit),
          'X-RateLimit-Remaining': String(Math.max(0, limit - count)),
          'X-RateLimit-Reset': String(reset),
        });
        if (count > limit) throw new RateLimitedError(Math.max(1, reset - nowSeconds));
        next();
      })
      .catch(next);
  };
}
