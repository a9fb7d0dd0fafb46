import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { newId } from '../ids';
import type { BillingEventType } from '../schemas/billing';

export type { BillingEventType };

/**
 * Billing events: what an external biller needs to know happened, kept per
 * tenant. Once-per-period events carry a dedupe key (unique per tenant), so
 * a retried job or two racing routers record them once.
 */
export interface BillingEventRow {
  tenant_id: string;
  id: string;
  type: BillingEventType;
  data: Record<string, unknown>;
  dedupe_key: string | null;
  created_at: Date;
}

export function presentBillingEvent(row: BillingEventRow) {
  return { id: row.id, type: row.type, data: row.data, created_at: row.created_at };
}

function eventRow(type: BillingEventType, data: Record<string, unknown>, dedupeKey: string | null) {
  return { id: newId(), type, data: JSON.stringify(data), dedupe_key: dedupeKey };
}

/** Records an event in the tenant's scope; returns false when its dedupe key was already used. */
export async function recordBillingEvent(t: TenantTx, type: BillingEventType, data: Record<string, unknown>, dedupeKey: string | null = null): Promise<boolean> {
  const inserted = await t.insert('billing_events', eventRow(type, data, dedupeKey)).onConflict(['tenant_id', 'dedupe_key']).ignore().returning('id');
  return inserted.length > 0;
}

/** The operator path (owner pool): e.g. a plan change made through /admin. */
export async function recordBillingEventAsOperator(
  owner: Knex,
  tenantId: string,
  type: BillingEventType,
  data: Record<string, unknown>,
  dedupeKey: string | null = null,
): Promise<void> {
  await owner('billing_events').insert({ tenant_id: tenantId, ...eventRow(type, data, dedupeKey) }).onConflict(['tenant_id', 'dedupe_key']).ignore();
}

export async function listBillingEvents(t: TenantTx, filters: { type?: string }, limit: number, cursor: string | null): Promise<BillingEventRow[]> {
  const query = t.from('billing_events').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  if (filters.type) void query.where('type', filters.type);
  return (await query) as BillingEventRow[];
}

export async function getBillingEvent(t: TenantTx, id: string): Promise<BillingEventRow> {
  return findOwned<BillingEventRow>(t, 'billing_events', id, 'billing event');
}
