import { parse } from 'csv-parse/sync';
import type { ValidateFunction } from 'ajv';
import type { TenantTx } from '../db/tenant';
import { assertTenantOwnership, reportForeignOwner } from '../db/tenant';
import { ValidationError } from '../errors';
import { newId } from '../ids';
import { addToOutbox, outboxJob, OutboxJob } from '../outbox';
import { ajv, toValidationError } from '../validation';
import { ContactMetadata, ImportRow, importRowSchema, MAX_IMPORT_ROWS, METADATA_KEY_PATTERN, METADATA_MAX_BYTES } from '../schemas/contacts';

export type ImportStatus = 'queued' | 'processing' | 'completed';

export interface ImportError {
  /** 1-based row number among the data rows (a CSV's header line is not counted). */
  row: number;
  field: string;
  reason: string;
}

export interface ImportRecord {
  tenant_id: string;
  id: string;
  status: ImportStatus;
  format: 'json' | 'csv';
  update_existing: boolean;
  total_rows: number;
  processed_rows: number;
  created_count: number;
  updated_count: number;
  failed_count: number;
  errors: ImportError[];
  group_id: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

/** Columns read for presenting an import: never the stored rows themselves. */
const SUMMARY_COLUMNS = [
  'tenant_id',
  'id',
  'status',
  'format',
  'update_existing',
  'total_rows',
  'processed_rows',
  'created_count',
  'updated_count',
  'failed_count',
  'errors',
  'group_id',
  'created_at',
  'updated_at',
  'completed_at',
];

export function presentImport(row: ImportRecord, options: { withErrors?: boolean } = { withErrors: true }) {
  return {
    id: row.id,
    status: row.status,
    format: row.format,
    update_existing: row.update_existing,
    group_id: row.group_id,
    progress: { processed: row.processed_rows, total: row.total_rows },
    created: row.created_count,
    updated: row.updated_count,
    failed: row.failed_count,
    ...(options.withErrors ? { errors: row.errors } : {}),
    created_at: row.created_at,
    completed_at: row.completed_at,
  };
}

export async function getImport(t: TenantTx, id: string, options: { forUpdate?: boolean } = {}): Promise<ImportRecord> {
  const query = t.from('contact_imports').where({ id }).first(SUMMARY_COLUMNS);
  if (options.forUpdate) void query.forNoKeyUpdate();
  // findOwned's check, on the summary columns only (the stored rows can be megabytes).
  const row = (await query) as ImportRecord | undefined;
  if (!row) await reportForeignOwner(t, 'contact_imports', id, 'import');
  assertTenantOwnership(row, t.tenantId, 'import', id);
  return row;
}

export async function listImports(t: TenantTx, limit: number, cursor: string | null): Promise<ImportRecord[]> {
  const query = t.from('contact_imports').orderBy('id', 'desc').limit(limit + 1).select(SUMMARY_COLUMNS);
  if (cursor) void query.where('id', '<', cursor);
  return (await query) as ImportRecord[];
}

/**
 * Stores the rows of an import and its job. The rows live in
 * `contact_imports.rows` (a job payload carries ids only); the job checks and
 * writes them in chunks.
 */
export async function createImport(
  t: TenantTx,
  input: { format: 'json' | 'csv'; rows: unknown[]; updateExisting: boolean; groupId: string | null },
): Promise<{ row: ImportRecord; jobs: OutboxJob[] }> {
  if (input.groupId) {
    const group = await t.from('contact_groups').where({ id: input.groupId }).first('id');
    if (!group) throw new ValidationError(`Invalid request: group_id names no group of this account (${input.groupId}).`, [{ path: 'group_id', message: `names no group of this account (${input.groupId})` }]);
  }
  const id = newId();
  const [row] = (await t
    .insert('contact_imports', {
      id,
      format: input.format,
      update_existing: input.updateExisting,
      rows: JSON.stringify(input.rows),
      total_rows: input.rows.length,
      group_id: input.groupId,
    })
    .returning(SUMMARY_COLUMNS)) as ImportRecord[];
  const jobs = [outboxJob('campaigns', 'import-contacts', id, { tenantId: t.tenantId, importId: id })];
  await addToOutbox(t, jobs);
  return { row, jobs };
}

// CSV: a header row names the columns; phone_number is required, name and
// email are optional, and every other column goes to metadata under the
// column's name (lower-cased, spaces and dashes as underscores).

/** The stored rows of an import, as uploaded (read once by its job). */
export async function importRows(t: TenantTx, id: string): Promise<unknown[]> {
  return ((await t.from('contact_imports').where({ id }).first('rows')) as { rows: unknown[] }).rows;
}

/**
 * Records one written chunk: rows processed so far, the counts and errors it
 * adds, and, once the last chunk is written, completion (the uploaded rows, a
 * second copy of contact data, are dropped then).
 */
export async function recordImportProgress(
  t: TenantTx,
  record: ImportRecord,
  chunk: { processedRows: number; created: number; updated: number; failed: number; errors: ImportError[]; completed: boolean },
): Promise<void> {
  await t
    .from('contact_imports')
    .where({ id: record.id })
    .update({
      status: chunk.completed ? 'completed' : 'processing',
      processed_rows: chunk.processedRows,
      created_count: record.created_count + chunk.created,
      updated_count: record.updated_count + chunk.updated,
      failed_count: record.failed_count + chunk.failed,
      errors: t.trx.raw('errors || ?::jsonb', [JSON.stringify(chunk.errors)]),
      updated_at: t.trx.fn.now(),
      ...(chunk.completed ? { completed_at: t.trx.fn.now(), rows: '[]' } : {}),
    });
}

const CSV_ALIASES: Record<string, string> = { phone: 'phone_number', phonenumber: 'phone_number', mobile: 'phone_number' };
const CONTACT_COLUMNS = new Set(['phone_number', 'name', 'email']);

function csvColumnName(header: string): string {
  const key = header.trim().toLowerCase().replace(/[\s-]+/g, '_');
  return CSV_ALIASES[key] ?? key;
}

/** Parses an uploaded CSV into import rows; a malformed file or header is a 400 for the whole upload. */
export function rowsFromCsv(text: string): ImportRow[] {
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true, relax_quotes: false }) as string[][];
  } catch (error) {
    throw new ValidationError(`The CSV could not be read: ${(error as Error).message}`, [{ path: '(body)', message: 'is not valid CSV' }]);
  }
  if (records.length === 0) throw new ValidationError('The CSV is empty: a header row naming phone_number is required.', [{ path: '(body)', message: 'has no header row' }]);
  const columns = records[0].map(csvColumnName);
  const pattern = new RegExp(METADATA_KEY_PATTERN);
  columns.forEach((column, index) => {
    if (!CONTACT_COLUMNS.has(column) && !pattern.test(column)) {
      throw new ValidationError(`CSV column ${index + 1} ("${records[0][index]}") cannot be a metadata key: use letters, digits and underscores.`, [{ path: `columns.${index}`, message: 'is not a usable column name' }]);
    }
    if (columns.indexOf(column) !== index) {
      throw new ValidationError(`CSV column "${records[0][index]}" appears twice.`, [{ path: `columns.${index}`, message: 'repeats a column' }]);
    }
  });
  if (!columns.includes('phone_number')) throw new ValidationError('The CSV header has no phone_number column.', [{ path: 'columns', message: 'must include phone_number' }]);
  const data = records.slice(1);
  if (data.length === 0) throw new ValidationError('The CSV has a header but no rows.', [{ path: '(body)', message: 'has no data rows' }]);
  if (data.length > MAX_IMPORT_ROWS) throw new ValidationError(`An import may have at most ${MAX_IMPORT_ROWS} rows.`, [{ path: '(body)', message: `has more than ${MAX_IMPORT_ROWS} rows` }]);
  return data.map((cells) => {
    const row: ImportRow = { phone_number: '' };
    const metadata: ContactMetadata = {};
    columns.forEach((column, index) => {
      const value = cells[index] ?? '';
      if (column === 'phone_number') row.phone_number = value;
      else if (column === 'name' || column === 'email') {
        if (value !== '') row[column] = value;
      } else if (value !== '') metadata[column] = value;
    });
    if (Object.keys(metadata).length > 0) row.metadata = metadata;
    return row;
  });
}

// Row checks (run by the import job).

const validateRow = ajv.compile<ImportRow>(importRowSchema) as ValidateFunction<ImportRow>;

/**
 * Spreadsheets write numbers as "+1 (555) 010-0000": spaces, dashes, dots and
 * parentheses are dropped before the E.164 check, nothing else is guessed.
 */
export function normalizePhone(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(/[\s().-]/g, '') : value;
}

export type CheckedRow = { ok: true; row: ImportRow } | { ok: false; errors: Omit<ImportError, 'row'>[] };

export function checkImportRow(raw: unknown): CheckedRow {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, errors: [{ field: '(row)', reason: 'must be an object' }] };
  const candidate: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if ('phone_number' in candidate) candidate.phone_number = normalizePhone(candidate.phone_number);
  for (const field of ['name', 'email']) if (candidate[field] === '') candidate[field] = null;
  if (!validateRow(candidate)) {
    const details = toValidationError(validateRow.errors).details ?? [];
    return { ok: false, errors: details.map((detail) => ({ field: detail.path, reason: detail.message })) };
  }
  if (candidate.metadata !== undefined && Buffer.byteLength(JSON.stringify(candidate.metadata), 'utf8') > METADATA_MAX_BYTES) {
    return { ok: false, errors: [{ field: 'metadata', reason: `must be at most ${METADATA_MAX_BYTES} bytes as JSON` }] };
  }
  return { ok: true, row: candidate as unknown as ImportRow };
}
