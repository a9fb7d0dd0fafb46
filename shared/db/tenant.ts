import type { Knex } from 'knex';
import { NotFoundError } from '../errors';
import { currentContext } from '../context';
import { logger } from '../logger';

/**
 * A transaction bound to one tenant. It is the only way tenant data is read or
 * written: `from()` and `insert()` put the tenant into every statement, and the
 * transaction has `app.tenant_id` set so PostgreSQL's row-level security is a
 * second wall behind the WHERE clause.
 */
export interface TenantTx {
  readonly tenantId: string;
  readonly trx: Knex.Transaction;
  /** `SELECT/UPDATE/DELETE … FROM table WHERE table.tenant_id = <tenant>`. */
  from(table: string): Knex.QueryBuilder;
  /** INSERT with the tenant filled in; a row naming another tenant is refused. */
  insert<T extends Record<string, unknown>>(table: string, rows: T | T[]): Knex.QueryBuilder;
}

function bind(tenantId: string, trx: Knex.Transaction): TenantTx {
  return {
    tenantId,
    trx,
    from(table: string) {
      const name = table.split(/\s+as\s+/i).pop() as string;
      return trx(table).where(`${name}.tenant_id`, tenantId);
    },
    insert(table, rows) {
      const list = (Array.isArray(rows) ? rows : [rows]).map((row) => {
        if (row.tenant_id !== undefined && row.tenant_id !== tenantId) {
          securityEvent('cross_tenant_insert', { tenantId, otherTenantId: String(row.tenant_id), resource: table });
          throw new NotFoundError();
        }
        return { ...row, tenant_id: tenantId };
      });
      return trx(table).insert(list);
    },
  };
}

/**
 * Runs `fn` in a transaction scoped to `tenantId`. The tenant setting is
 * transaction-local (set_config(..., true)), so it never leaks to the next
 * user of a pooled connection.
 */
export async function withTenant<T>(db: Knex, tenantId: string, fn: (t: TenantTx) => Promise<T>): Promise<T> {
  if (!tenantId) throw new Error('withTenant needs a tenant id');
  return db.transaction(async (trx) => {
    await trx.raw("SELECT set_config('app.tenant_id', ?, true)", [tenantId]);
    return fn(bind(tenantId, trx));
  });
}

export function securityEvent(kind: string, fields: Record<string, unknown>): void {
  const context = currentContext();
  logger.warn({ security: true, event: kind, reqId: context?.reqId, jobId: context?.jobId, ...fields }, 'security event');
}

/**
 * The guard between tenant data and its callers: a record that is missing or
 * belongs to another tenant is the same not-found, and a mismatch is logged as
 * a security event with both tenant ids.
 */
export function assertTenantOwnership<T extends { tenant_id?: string | null }>(
  record: T | undefined | null,
  tenantId: string,
  resource: string,
  id?: string,
): asserts record is T {
  if (!record) throw new NotFoundError(resource);
  if (record.tenant_id !== tenantId) {
    securityEvent('tenant_ownership_mismatch', { tenantId, ownerTenantId: record.tenant_id, resource, resourceId: id });
    throw new NotFoundError(resource);
  }
}

/** Loads one row by id inside the tenant and asserts it is the tenant's. */
export async function findOwned<T extends { tenant_id: string }>(
  t: TenantTx,
  table: string,
  id: string,
  resource: string,
  options: { forUpdate?: boolean; idColumn?: string } = {},
): Promise<T> {
  const query = t.from(table).where(`${table}.${options.idColumn ?? 'id'}`, id).first();
  // FOR NO KEY UPDATE, not FOR UPDATE: ids never change, and FOR UPDATE would
  // also wait for every transaction holding the key-share lock a foreign key
  // takes (a campaign's chunk job would stall the router on its messages).
  if (options.forUpdate) void query.forNoKeyUpdate();
  const row = (await query) as T | undefined;
  if (!row && !options.idColumn) await reportForeignOwner(t, table, id, resource);
  assertTenantOwnership(row, t.tenantId, resource, id);
  return row;
}

/**
 * On a miss, asks who owns the id (senderz_record_owner, a narrow SECURITY
 * DEFINER lookup): another tenant's id is a probe across the boundary and is
 * logged as a security event with both tenant ids. The caller still answers
 * the same not-found. It costs a statement only on a miss. For by-id lookups
 * that cannot use findOwned (a column subset, say): call it before
 * assertTenantOwnership when the row is missing.
 */
export async function reportForeignOwner(t: TenantTx, table: string, id: string, resource: string): Promise<void> {
  const result = await t.trx.raw('SELECT senderz_record_owner(?, ?) AS owner', [table, id]);
  const owner = result.rows[0]?.owner as string | null | undefined;
  if (owner && owner !== t.tenantId) securityEvent('tenant_ownership_mismatch', { tenantId: t.tenantId, ownerTenantId: owner, resource, resourceId: id });
}
