import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import { findOwned, withTenant } from '../db/tenant';
import { newId } from '../ids';
import type { ConsentFilters, ConsentType, CreateConsentBody } from '../schemas/consent';
import { csvField, csvLine } from '../compliance/csv';

/**
 * The TCPA consent ledger: append-only. The runtime role has no UPDATE or
 * DELETE on the table and a trigger refuses any UPDATE, so an entry never
 * changes once written; a withdrawal of consent is an opt-out, not an edit.
 */
export interface ConsentRow {
  tenant_id: string;
  id: string;
  phone_number: string;
  consent_type: ConsentType;
  consent_source: string;
  disclosure_text: string | null;
  disclosure_version: string | null;
  ip_address: string | null;
  user_agent: string | null;
  metadata: Record<string, unknown>;
  consented_at: Date;
  api_key_id: string | null;
  filled_from_request: string[];
  created_at: Date;
}

export function presentConsent(row: ConsentRow) {
  return {
    id: row.id,
    phone_number: row.phone_number,
    consent_type: row.consent_type,
    consent_source: row.consent_source,
    disclosure_text: row.disclosure_text,
    disclosure_version: row.disclosure_version,
    ip_address: row.ip_address,
    user_agent: row.user_agent,
    metadata: row.metadata,
    consented_at: row.consented_at,
    filled_from_request: row.filled_from_request,
    api_key_id: row.api_key_id,
    created_at: row.created_at,
  };
}

/** Who recorded the entry, from the recording request. */
export interface ConsentRecorder {
  apiKeyId: string | null;
  ip: string | null;
  userAgent: string | null;
}

/**
 * Appends an entry. `ip_address` and `user_agent` left out of the body are
 * taken from the recording request, and `filled_from_request` names them, so
 * an auditor can tell evidence the client supplied from what the platform saw.
 */
export async function recordConsent(t: TenantTx, body: CreateConsentBody, recorder: ConsentRecorder): Promise<ConsentRow> {
  const filled: string[] = [];
  let ip = body.ip_address ?? null;
  if (ip === null && recorder.ip) {
    ip = recorder.ip;
    filled.push('ip_address');
  }
  let userAgent = body.user_agent ?? null;
  if (userAgent === null && recorder.userAgent) {
    userAgent = recorder.userAgent;
    filled.push('user_agent');
  }
  const [row] = (await t
    .insert('consent_logs', {
      id: newId(),
      phone_number: body.phone_number,
      consent_type: body.consent_type,
      consent_source: body.consent_source,
      disclosure_text: body.disclosure_text ?? null,
      disclosure_version: body.disclosure_version ?? null,
      ip_address: ip,
      user_agent: userAgent,
      metadata: JSON.stringify(body.metadata ?? {}),
      consented_at: body.consented_at ? new Date(body.consented_at) : t.trx.fn.now(),
      api_key_id: recorder.apiKeyId,
      filled_from_request: filled,
    })
    .returning('*')) as ConsentRow[];
  return row;
}

function filtered(query: Knex.QueryBuilder, filters: ConsentFilters): Knex.QueryBuilder {
  if (filters.phone_number) void query.where('phone_number', filters.phone_number);
  if (filters.from) void query.where('consented_at', '>=', filters.from);
  if (filters.to) void query.where('consented_at', '<', filters.to);
  return query;
}

export async function listConsent(t: TenantTx, filters: ConsentFilters, limit: number, cursor: string | null): Promise<ConsentRow[]> {
  const query = filtered(t.from('consent_logs'), filters).orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  return (await query) as ConsentRow[];
}

export async function getConsent(t: TenantTx, id: string): Promise<ConsentRow> {
  return findOwned<ConsentRow>(t, 'consent_logs', id, 'consent record');
}

export const CONSENT_CSV_HEADER = csvLine([
  'id',
  'phone_number',
  'consent_type',
  'consent_source',
  'disclosure_text',
  'disclosure_version',
  'ip_address',
  'user_agent',
  'consented_at',
  'metadata',
  'filled_from_request',
  'api_key_id',
  'created_at',
]);

export function consentCsvLine(row: ConsentRow): string {
  return csvLine([
    csvField(row.id),
    csvField(row.phone_number),
    csvField(row.consent_type),
    csvField(row.consent_source, { freeText: true }),
    csvField(row.disclosure_text, { freeText: true }),
    csvField(row.disclosure_version, { freeText: true }),
    csvField(row.ip_address),
    csvField(row.user_agent, { freeText: true }),
    csvField(row.consented_at),
    csvField(row.metadata, { freeText: true }),
    csvField(row.filled_from_request.join(';')),
    csvField(row.api_key_id),
    csvField(row.created_at),
  ]);
}

/**
 * Every matching entry in id order, through a server-side cursor inside one
 * tenant transaction: a consistent snapshot of the ledger as the export
 * began, read a batch at a time, so memory stays flat for any size.
 * `onBatch` may wait (e.g. for the response to drain) before the next FETCH.
 */
export async function forEachConsentBatch(
  app: Knex,
  tenantId: string,
  filters: ConsentFilters,
  onBatch: (rows: ConsentRow[]) => Promise<boolean | void>,
  batchSize = 1000,
): Promise<void> {
  await withTenant(app, tenantId, async (t) => {
    const query = filtered(t.from('consent_logs'), filters).orderBy('id', 'asc').toSQL();
    await t.trx.raw(`DECLARE consent_export NO SCROLL CURSOR FOR ${query.sql}`, query.bindings);
    for (;;) {
      const batch = await t.trx.raw(`FETCH ${Number(batchSize)} FROM consent_export`);
      const rows = batch.rows as ConsentRow[];
      // onBatch answers false when the reader went away: stop reading.
      if (rows.length > 0 && (await onBatch(rows)) === false) break;
      if (rows.length < batchSize) break;
    }
    await t.trx.raw('CLOSE consent_export');
  });
}
