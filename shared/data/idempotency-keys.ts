import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';

/**
 * `idempotency_keys`: a request's key, its hash and its first answer, kept
 * until `expires_at` (api/middleware/idempotency.ts claims, records and replays
 * them through these functions).
 */

/** Deletes every tenant's expired keys (the owner pool's retention tick); returns how many. */
export async function expireIdempotencyKeys(owner: Knex): Promise<number> {
  return owner('idempotency_keys').where('expires_at', '<', owner.fn.now()).delete();
}

/** A key already claimed: its request's hash, and its answer once there is one. */
export interface StoredIdempotencyKey {
  request_hash: string;
  state: 'in_progress' | 'completed';
  response_status: number | null;
  response_body: unknown;
  expired: boolean;
}

/**
 * Claims a key for a request (or re-claims one whose time ran out): null when
 * this request now holds it, else the row that holds it. The claim is the
 * insert itself, so two concurrent requests can never both hold a key.
 */
export async function claimIdempotencyKey(t: TenantTx, key: string, requestHash: string, ttlHours: number): Promise<StoredIdempotencyKey | null> {
  const inserted = await t.trx.raw(
    `INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, expires_at)
     VALUES (?, ?, ?, 'in_progress', now() + make_interval(hours => ?))
     ON CONFLICT (tenant_id, key) DO UPDATE
       SET request_hash = EXCLUDED.request_hash, state = 'in_progress', response_status = NULL,
           response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
       WHERE idempotency_keys.expires_at < now()
     RETURNING key`,
    [t.tenantId, key, requestHash, ttlHours],
  );
  if (inserted.rows.length > 0) return null;
  const existing = await t
    .from('idempotency_keys')
    .where({ key })
    .first('request_hash', 'state', 'response_status', 'response_body', t.trx.raw('expires_at < now() AS expired'));
  return (existing as StoredIdempotencyKey | undefined) ?? null;
}

/** Stores the first answer to replay (a JSON-ready body, shown-once fields already removed). */
export async function completeIdempotencyKey(t: TenantTx, key: string, status: number, body: unknown): Promise<void> {
  await t.from('idempotency_keys').where({ key }).update({ state: 'completed', response_status: status, response_body: JSON.stringify(body) });
}

/** Lets a key go after a server error, so the client's retry runs again. */
export async function releaseIdempotencyKey(t: TenantTx, key: string): Promise<void> {
  await t.from('idempotency_keys').where({ key, state: 'in_progress' }).delete();
}
