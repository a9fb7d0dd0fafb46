import type { Redis } from 'ioredis';
import type { PhoneLineRow } from '../data/phone-lines';

/**
 * Per-line throughput (`max_per_minute`), shared by every dispatch process
 * through Redis: a fixed one-minute window per line. Returns 0 when the send
 * may go now, else the ms to wait for the next window.
 */
export async function takeLineSlot(redis: Redis, prefix: string, line: Pick<PhoneLineRow, 'id' | 'max_per_minute'>): Promise<number> {
  if (line.max_per_minute === null) return 0;
  const now = Date.now();
  const window = Math.floor(now / 60000);
  const key = `${prefix}:line-rate:${line.id}:${window}`;
  const results = await redis.multi().incr(key).expire(key, 120).exec();
  const count = Number(results?.[0]?.[1] ?? 0);
  if (count <= line.max_per_minute) return 0;
  await redis.decr(key);
  return (window + 1) * 60000 - now + Math.floor(Math.random() * 250);
}
