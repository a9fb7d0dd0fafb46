import type { TenantTx } from '../db/tenant';
import { NotFoundError } from '../errors';

/**
 * The opt-out registry, per (tenant, number). A row is never deleted (opt-outs
 * are kept for the tenant's life): opting back in sets `active = false` and
 * `opted_back_in_at`, and a new opt-out re-activates the same row.
 */
export interface OptOutRow {
  tenant_id: string;
  phone_number: string;
  active: boolean;
  /** `keyword` (an inbound STOP…), `api` (POST /v1/opt-outs). */
  source: string;
  keyword: string | null;
  reason: string | null;
  opted_out_at: Date;
  opted_back_in_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function presentOptOut(row: OptOutRow) {
  return {
    phone_number: row.phone_number,
    active: row.active,
    source: row.source,
    keyword: row.keyword,
    reason: row.reason,
    opted_out_at: row.opted_out_at,
    opted_back_in_at: row.opted_back_in_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export async function isOptedOut(t: TenantTx, phoneNumber: string): Promise<boolean> {
  const row = await t.from('opt_outs').where({ phone_number: phoneNumber, active: true }).first('phone_number');
  return Boolean(row);
}

/**
 * Records (or renews) an opt-out; returns the row when the number was not
 * opted out before (the caller emits `opt_out.created`), null when it already was.
 */
export async function recordOptOut(t: TenantTx, phoneNumber: string, source: string, keyword: string | null, reason: string | null = null): Promise<OptOutRow | null> {
  const result = await t.trx.raw(
    `INSERT INTO opt_outs (tenant_id, phone_number, active, source, keyword, reason, opted_out_at, opted_back_in_at)
     VALUES (?, ?, true, ?, ?, ?, now(), NULL)
     ON CONFLICT (tenant_id, phone_number) DO UPDATE
       SET active = true, source = EXCLUDED.source, keyword = EXCLUDED.keyword, reason = EXCLUDED.reason,
           opted_out_at = now(), opted_back_in_at = NULL, updated_at = now()
       WHERE opt_outs.active = false
     RETURNING *`,
    [t.tenantId, phoneNumber, source, keyword, reason],
  );
  return (result.rows[0] as OptOutRow | undefined) ?? null;
}

/** Opts a number back in; the row is kept (history), marked inactive. Returns the row when it was opted out. */
export async function recordOptIn(t: TenantTx, phoneNumber: string): Promise<OptOutRow | null> {
  const [row] = (await t
    .from('opt_outs')
    .where({ phone_number: phoneNumber, active: true })
    .update({ active: false, opted_back_in_at: t.trx.fn.now(), updated_at: t.trx.fn.now() })
    .returning('*')) as OptOutRow[];
  return row ?? null;
}

/** The number's row, active or not; 404 when it never opted out (with this tenant). */
export async function getOptOut(t: TenantTx, phoneNumber: string): Promise<OptOutRow> {
  const row = (await t.from('opt_outs').where({ phone_number: phoneNumber }).first()) as OptOutRow | undefined;
  if (!row) throw new NotFoundError('opt-out');
  return row;
}

/** Ordered by phone number (the registry's key), so cursors are stable. */
export async function listOptOuts(t: TenantTx, options: { includeRemoved: boolean }, limit: number, cursor: string | null): Promise<OptOutRow[]> {
  const query = t.from('opt_outs').orderBy('phone_number', 'asc').limit(limit + 1);
  if (!options.includeRemoved) void query.where('active', true);
  if (cursor) void query.where('phone_number', '>', cursor);
  return (await query) as OptOutRow[];
}
