import type { TenantTx } from '../db/tenant';
import type { CapabilityResult } from '../device/client';

/** Capability answers are kept 90 days (PRODUCT.md, Capabilities). */
export const CAPABILITY_TTL_DAYS = 90;

export interface CapabilityRow {
  phone_number: string;
  imessage: boolean;
  sms: boolean;
  rcs: boolean;
  checked_at: Date;
  expires_at: Date;
}

export async function cachedCapabilities(t: TenantTx, numbers: string[]): Promise<Map<string, CapabilityRow>> {
  const rows = (await t
    .from('capability_checks')
    .whereIn('phone_number', numbers)
    .where('expires_at', '>', t.trx.fn.now())
    .select('phone_number', 'imessage', 'sms', 'rcs', 'checked_at', 'expires_at')) as CapabilityRow[];
  return new Map(rows.map((row) => [row.phone_number, row]));
}

export async function storeCapabilities(t: TenantTx, results: CapabilityResult[]): Promise<CapabilityRow[]> {
  if (results.length === 0) return [];
  const checkedAt = new Date();
  const expiresAt = new Date(checkedAt.getTime() + CAPABILITY_TTL_DAYS * 86400000);
  const rows = results.map((result) => ({
    phone_number: result.number,
    imessage: Boolean(result.imessage),
    sms: result.sms !== false,
    rcs: Boolean(result.rcs),
    checked_at: checkedAt,
    expires_at: expiresAt,
  }));
  await t.insert('capability_checks', rows).onConflict(['tenant_id', 'phone_number']).merge();
  return rows;
}

/** Records what a refusal taught us (e.g. 422 not_imessage) without waiting for a full check. */
export async function recordIncapable(t: TenantTx, number: string, channel: 'imessage' | 'rcs'): Promise<void> {
  const checkedAt = new Date();
  const expiresAt = new Date(checkedAt.getTime() + CAPABILITY_TTL_DAYS * 86400000);
  await t.trx.raw(
    `INSERT INTO capability_checks (tenant_id, phone_number, imessage, sms, rcs, checked_at, expires_at)
     VALUES (?, ?, ?, true, ?, ?, ?)
     ON CONFLICT (tenant_id, phone_number) DO UPDATE SET ${channel} = false, checked_at = EXCLUDED.checked_at`,
    [t.tenantId, number, false, channel === 'imessage', checkedAt, expiresAt],
  );
}

export function presentCapability(row: CapabilityRow, cached: boolean) {
  return {
    number: row.phone_number,
    imessage: row.imessage,
    sms: row.sms,
    rcs: row.rcs,
    cached,
    checked_at: row.checked_at,
    cache_expires_at: row.expires_at,
  };
}
