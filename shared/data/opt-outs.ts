import type { TenantTx } from '../db/tenant';

export interface OptOutRow {
  tenant_id: string;
  phone_number: string;
  active: boolean;
  source: string;
  keyword: string | null;
  opted_out_at: Date;
  opted_back_in_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export async function isOptedOut(t: TenantTx, phoneNumber: string): Promise<boolean> {
  const row = await t.from('opt_outs').where({ phone_number: phoneNumber, active: true }).first('phone_number');
  return Boolean(row);
}

/** Records (or renews) an opt-out; returns true when the number was not opted out before. */
export async function recordOptOut(t: TenantTx, phoneNumber: string, source: string, keyword: string | null): Promise<boolean> {
  const result = await t.trx.raw(
    `INSERT INTO opt_outs (tenant_id, phone_number, active, source, keyword, opted_out_at, opted_back_in_at)
     VALUES (?, ?, true, ?, ?, now(), NULL)
     ON CONFLICT (tenant_id, phone_number) DO UPDATE
       SET active = true, source = EXCLUDED.source, keyword = EXCLUDED.keyword, opted_out_at = now(), opted_back_in_at = NULL, updated_at = now()
       WHERE opt_outs.active = false
     RETURNING phone_number`,
    [t.tenantId, phoneNumber, source, keyword],
  );
  return result.rows.length > 0;
}

/** Opts a number back in; the row is kept (history), marked inactive. Returns true when it was opted out. */
export async function recordOptIn(t: TenantTx, phoneNumber: string): Promise<boolean> {
  const updated = await t.from('opt_outs').where({ phone_number: phoneNumber, active: true }).update({ active: false, opted_back_in_at: t.trx.fn.now(), updated_at: t.trx.fn.now() });
  return updated > 0;
}
