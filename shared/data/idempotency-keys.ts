import type { Knex } from 'knex';

/**
 * `idempotency_keys`: a request's key, its hash and its first answer, kept
 * until `expires_at` (api/middleware/idempotency.ts records and replays them).
 */

/** Deletes every tenant's expired keys (the owner pool's retention tick); returns how many. */
export async function expireIdempotencyKeys(owner: Knex): Promise<number> {
  return owner('idempotency_keys').where('expires_at', '<', owner.fn.now()).delete();
}
