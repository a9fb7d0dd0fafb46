import crypto from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * Random numbers for ids from a pooled buffer of cryptographic randomness:
 * the library's default draws crypto.randomBytes once per character, which
 * was a visible share of the API's CPU per accepted message.
 */
const POOL_SIZE = 4096;
let pool = crypto.randomBytes(POOL_SIZE);
let offset = 0;
function pooledRandom(): number {
  if (offset >= POOL_SIZE) {
    pool = crypto.randomBytes(POOL_SIZE);
    offset = 0;
  }
  // 0 ≤ n/256 < 1, as the library expects; it scales by 32 (the alphabet), so every character stays uniform.
  const value = pool[offset] / 256;
  offset += 1;
  return value;
}

const nextUlid = monotonicFactory(pooledRandom);

/** Sortable ids (ULID). */
export function newId(): string {
  return nextUlid();
}

/** Sandbox message ids are told apart at a glance. */
export function newSandboxMessageId(): string {
  return 'sb_' + nextUlid();
}
