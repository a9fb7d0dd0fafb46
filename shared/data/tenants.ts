import type { Knex } from 'knex';
import { newId } from '../ids';
import { NotFoundError } from '../errors';
import type { CreateTenantBody, Plan, TenantLimits, UpdateTenantBody } from '../schemas/admin';
import type { TenantTx } from '../db/tenant';
import { assertTenantOwnership } from '../db/tenant';

export interface TenantRow {
  id: string;
  name: string;
  plan: Plan;
  status: 'active' | 'suspended';
  is_agency: boolean;
  pool: string;
  limits: TenantLimits;
  created_at: Date;
  updated_at: Date;
}

export function presentTenant(row: TenantRow) {
  return {
    id: row.id,
    name: row.name,
    plan: row.plan,
    status: row.status,
    is_agency: row.is_agency,
    pool: row.pool,
    limits: row.limits,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The tenant's own row inside its own scope, or null when it does not exist. */
export async function findOwnTenant(t: TenantTx): Promise<TenantRow | null> {
  return ((await t.trx('tenants').where({ id: t.tenantId }).first()) as TenantRow | undefined) ?? null;
}

/** The tenant's own row, read inside its own scope. */
export async function getOwnTenant(t: TenantTx): Promise<TenantRow> {
  const row = (await t.trx('tenants').where({ id: t.tenantId }).first()) as TenantRow | undefined;
  assertTenantOwnership(row && { ...row, tenant_id: row.id }, t.tenantId, 'tenant');
  return row as TenantRow;
}

// Operator path (owner pool): tenants are operator resources.

export async function createTenant(owner: Knex, body: CreateTenantBody): Promise<TenantRow> {
  const [row] = await owner('tenants')
    .insert({
      id: newId(),
      name: body.name,
      plan: body.plan ?? 'trial',
      is_agency: body.is_agency ?? false,
      pool: body.pool ?? 'default',
      limits: JSON.stringify(body.limits ?? {}),
    })
    .returning('*');
  return row as TenantRow;
}

export async function listTenants(owner: Knex, limit: number, cursor: string | null): Promise<TenantRow[]> {
  const query = owner('tenants').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  return (await query) as TenantRow[];
}

export async function getTenant(owner: Knex, id: string): Promise<TenantRow> {
  const row = (await owner('tenants').where({ id }).first()) as TenantRow | undefined;
  if (!row) throw new NotFoundError('tenant');
  return row;
}

export async function updateTenant(owner: Knex, id: string, body: UpdateTenantBody): Promise<TenantRow> {
  const changes: Record<string, unknown> = { updated_at: owner.fn.now() };
  for (const field of ['name', 'plan', 'status', 'is_agency', 'pool'] as const) {
    if (body[field] !== undefined) changes[field] = body[field];
  }
  if (body.limits !== undefined) changes.limits = owner.raw("limits || ?::jsonb", [JSON.stringify(body.limits)]);
  const [row] = await owner('tenants').where({ id }).update(changes).returning('*');
  if (!row) throw new NotFoundError('tenant');
  return row as TenantRow;
}
