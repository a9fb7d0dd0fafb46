import type { Knex } from 'knex';
import { newId } from '../ids';
import { NotFoundError } from '../errors';
import { randomBase62, sha256Hex } from '../crypto';
import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import type { Permission } from '../schemas/api-keys';
import type { Plan, TenantLimits } from '../schemas/admin';

export type KeyPrefix = 'tf_live' | 'tf_test';

export interface ApiKeyRow {
  tenant_id: string;
  id: string;
  name: string;
  key_hash: string;
  key_hint: string;
  prefix: KeyPrefix;
  permissions: Permission;
  rate_limit: number | null;
  rate_limit_unlimited: boolean;
  status: 'active' | 'inactive' | 'revoked';
  created_by: 'tenant' | 'operator' | 'agency';
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

/** 40 base62 characters ≈ 238 bits: far past guessing, short enough to paste. */
const KEY_RANDOM_LENGTH = 40;

export function generateApiKey(prefix: KeyPrefix): string {
  return `${prefix}_${randomBase62(KEY_RANDOM_LENGTH)}`;
}

export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

export function presentApiKey(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    key_hint: row.key_hint,
    permissions: row.permissions,
    rate_limit: row.rate_limit_unlimited ? null : row.rate_limit,
    status: row.status,
    sandbox: row.prefix === 'tf_test',
    last_used_at: row.last_used_at,
    created_at: row.created_at,
  };
}

export interface NewApiKey {
  name: string;
  prefix: KeyPrefix;
  permissions?: Permission;
  rateLimit?: number | null;
  rateLimitUnlimited?: boolean;
  createdBy: ApiKeyRow['created_by'];
}

/** Creates a key; the only time the full key exists is in the returned value. */
export async function createApiKey(t: TenantTx, input: NewApiKey): Promise<{ row: ApiKeyRow; key: string }> {
  const key = generateApiKey(input.prefix);
  const [row] = await t
    .insert('api_keys', {
      id: newId(),
      name: input.name,
      key_hash: hashApiKey(key),
      key_hint: key.slice(-4),
      prefix: input.prefix,
      permissions: input.permissions ?? 'full',
      rate_limit: input.rateLimit ?? null,
      rate_limit_unlimited: input.rateLimitUnlimited ?? false,
      created_by: input.createdBy,
    })
    .returning('*');
  return { row: row as ApiKeyRow, key };
}

export async function listApiKeys(t: TenantTx, limit: number, cursor: string | null): Promise<ApiKeyRow[]> {
  const query = t.from('api_keys').whereNot('status', 'revoked').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  return (await query) as ApiKeyRow[];
}

export async function getApiKey(t: TenantTx, id: string): Promise<ApiKeyRow> {
  const row = await findOwned<ApiKeyRow>(t, 'api_keys', id, 'API key');
  if (row.status === 'revoked') throw new NotFoundError('API key');
  return row;
}

/** Revokes a key; returns its hash so every process can drop it from its auth cache. */
export async function revokeApiKey(t: TenantTx, id: string): Promise<ApiKeyRow> {
  await getApiKey(t, id);
  const [row] = await t.from('api_keys').where({ id }).update({ status: 'revoked', revoked_at: t.trx.fn.now() }).returning('*');
  return row as ApiKeyRow;
}

export async function setApiKeyStatus(t: TenantTx, id: string, status: 'active' | 'inactive'): Promise<ApiKeyRow> {
  await getApiKey(t, id);
  const [row] = await t.from('api_keys').where({ id }).update({ status }).returning('*');
  return row as ApiKeyRow;
}

/** A key and its tenant as authentication needs them (senderz_authenticate). */
export interface AuthenticatedKey {
  key_id: string;
  tenant_id: string;
  prefix: KeyPrefix;
  permissions: Permission;
  rate_limit: number | null;
  rate_limit_unlimited: boolean;
  key_status: ApiKeyRow['status'];
  tenant_status: 'active' | 'suspended';
  plan: Plan;
  limits: TenantLimits;
  tenant_name: string;
  pool: string;
}

/**
 * The key with this hash and its tenant, or null. Runs before any tenant is
 * known, so it goes through the narrow SECURITY DEFINER lookup that reads one
 * key by its hash and nothing else.
 */
export async function findKeyByHash(app: Knex, hash: string): Promise<AuthenticatedKey | null> {
  const result = await app.raw('SELECT * FROM senderz_authenticate(?)', [hash]);
  return (result.rows[0] as AuthenticatedKey | undefined) ?? null;
}

/** Records when keys were last used (batched by the API process, across tenants, through a definer function). */
export async function touchApiKeys(app: Knex, ids: string[], at: Date): Promise<void> {
  await app.raw('SELECT senderz_touch_api_keys(?::text[], ?)', [ids, at]);
}
