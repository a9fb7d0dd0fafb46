import { withTenant, TenantTx } from '../../shared/db/tenant';
import { checkImportRow, CheckedRow, getImport, ImportError, importRows, ImportRecord, recordImportProgress } from '../../shared/data/imports';
import { upsertImportedContacts } from '../../shared/data/contacts';
import { addMembersIfGroupExists } from '../../shared/data/groups';
import type { ImportRow } from '../../shared/schemas/contacts';
import { consumeOutbox } from '../../shared/outbox';
import type { WorkerDeps } from '../deps';
import { done, JobOutcome, skipped } from '../runtime';

/** Rows per transaction: progress is recorded after each, and a re-run resumes after the last one. */
export const IMPORT_CHUNK = 500;

const ALREADY_EXISTS = 'a contact with this phone number already exists (set update_existing to update it)';

/** The first valid row (0-based) holding each number, to report later rows of the same file as duplicates. */
function firstRowByPhone(checked: CheckedRow[]): Map<string, number> {
  const first = new Map<string, number>();
  checked.forEach((entry, index) => {
    if (entry.ok && !first.has(entry.row.phone_number)) first.set(entry.row.phone_number, index);
  });
  return first;
}

async function processChunk(t: TenantTx, record: ImportRecord, rows: CheckedRow[], firstRow: Map<string, number>, chunkSize: number): Promise<boolean> {
  const start = record.processed_rows;
  const end = Math.min(start + chunkSize, record.total_rows);

  const errors: ImportError[] = [];
  const failedRows = new Set<number>();
  const valid: { index: number; row: ImportRow }[] = [];
  rows.slice(start, end).forEach((checked, offset) => {
    const index = start + offset;
    if (!checked.ok) {
      failedRows.add(index);
      for (const error of checked.errors) errors.push({ row: index + 1, ...error });
      return;
    }
    const first = firstRow.get(checked.row.phone_number);
    if (first !== undefined && first < index) {
      failedRows.add(index);
      errors.push({ row: index + 1, field: 'phone_number', reason: `duplicate of row ${first + 1} in this import` });
      return;
    }
    valid.push({ index, row: checked.row });
  });

  const written = await upsertImportedContacts(t, valid.map((entry) => entry.row), record.update_existing);
  const byPhone = new Map(written.map((row) => [row.phone_number, row]));
  for (const entry of valid) {
    if (byPhone.has(entry.row.phone_number)) continue;
    failedRows.add(entry.index);
    errors.push({ row: entry.index + 1, field: 'phone_number', reason: ALREADY_EXISTS });
  }
  if (record.group_id) await addMembersIfGroupExists(t, record.group_id, written.map((row) => row.id));

  const done = end >= record.total_rows;
  const created = written.filter((row) => row.inserted).length;
  await recordImportProgress(t, record, {
    processedRows: end,
    created,
    updated: written.length - created,
    failed: failedRows.size,
    errors: errors.sort((a, b) => a.row - b.row),
    completed: done,
  });
  return done;
}

/**
 * Runs an import in chunks of IMPORT_CHUNK rows, one transaction each,
 * recording progress with every chunk. A re-run (crash, duplicate delivery)
 * resumes after the last committed chunk, and a finished import is left alone.
 */
export function createContactImporter(deps: WorkerDeps, options: { chunkSize?: number } = {}) {
  const chunkSize = options.chunkSize ?? IMPORT_CHUNK;
  return async function importContacts(payload: { tenantId: string; importId: string }): Promise<JobOutcome> {
    const { tenantId, importId } = payload;
    const stored = await withTenant(deps.db.app, tenantId, async (t) => {
      const record = await getImport(t, importId);
      if (record.status === 'completed') {
        await consumeOutbox(t, 'campaigns', 'import-contacts', importId);
        return null;
      }
      return importRows(t, importId);
    });
    if (!stored) return skipped('already completed');
    // Every row is checked up front so that a duplicate is named against the first *valid* row with its number.
    const rows = stored.map(checkImportRow);
    const firstRow = firstRowByPhone(rows);

    for (;;) {
      const finished = await withTenant(deps.db.app, tenantId, async (t) => {
        const record = await getImport(t, importId, { forUpdate: true });
        const finished = record.status === 'completed' || (await processChunk(t, record, rows, firstRow, chunkSize));
        if (finished) await consumeOutbox(t, 'campaigns', 'import-contacts', importId);
        return finished;
      });
      if (finished) return done('completed');
    }
  };
}
