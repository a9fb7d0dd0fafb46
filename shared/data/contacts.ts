import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { ConflictError, ValidationError } from '../errors';
import { newId } from '../ids';
import { ContactFilters, ContactMetadata, CreateContactBody, ImportRow, METADATA_MAX_BYTES, UpdateContactBody } from '../schemas/contacts';

export interface ContactRow {
  tenant_id: string;
  id: string;
  phone_number: string;
  name: string | null;
  email: string | null;
  metadata: ContactMetadata;
  created_at: Date;
  updated_at: Date;
}

export function presentContact(row: ContactRow, groupIds: string[] = []) {
  return {
    id: row.id,
    phone_number: row.phone_number,
    name: row.name,
    email: row.email,
    metadata: row.metadata,
    group_ids: groupIds,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const DUPLICATE_PHONE = 'A contact with this phone number already exists.';

/** The 16 KB cap is on the serialised object; the schema caps keys and values. */
export function assertMetadataSize(metadata: ContactMetadata | undefined, path = 'metadata'): void {
  if (metadata === undefined) return;
  if (Buffer.byteLength(JSON.stringify(metadata), 'utf8') > METADATA_MAX_BYTES) {
    throw new ValidationError(`Invalid request body: ${path} is larger than ${METADATA_MAX_BYTES / 1024} KB.`, [{ path, message: `must be at most ${METADATA_MAX_BYTES} bytes as JSON` }]);
  }
}

/**
 * The ids in `ids` that name no row of this tenant in `table`. A row of
 * another tenant is invisible here (tenant filter and RLS), so it is reported
 * exactly like an id that does not exist.
 */
export async function unknownIds(t: TenantTx, table: 'contacts' | 'contact_groups', ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const found = new Set((await t.from(table).whereRaw(`${table}.id = ANY(?::text[])`, [ids]).pluck('id')) as string[]);
  return ids.filter((id) => !found.has(id));
}

/** A 400 naming each id of a body array that is not one of the tenant's records. */
export function unknownIdsError(path: string, ids: string[], unknown: string[], what: string): ValidationError {
  const missing = new Set(unknown);
  const details = ids.flatMap((id, index) => (missing.has(id) ? [{ path: `${path}.${index}`, message: `names no ${what} of this account (${id})` }] : []));
  const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? `, and ${unknown.length - 5} more` : '');
  return new ValidationError(`Invalid request body: ${path} names no ${what} of this account: ${shown}.`, details.slice(0, 100));
}

export async function assertOwnContacts(t: TenantTx, ids: string[], path = 'contact_ids'): Promise<void> {
  const unknown = await unknownIds(t, 'contacts', ids);
  if (unknown.length > 0) throw unknownIdsError(path, ids, unknown, 'contact');
}

export async function assertOwnGroups(t: TenantTx, ids: string[], path = 'group_ids'): Promise<void> {
  const unknown = await unknownIds(t, 'contact_groups', ids);
  if (unknown.length > 0) throw unknownIdsError(path, ids, unknown, 'group');
}

/** Group ids per contact, for presenting a page of contacts. */
export async function groupIdsOf(t: TenantTx, contactIds: string[]): Promise<Map<string, string[]>> {
  const byContact = new Map<string, string[]>(contactIds.map((id) => [id, []]));
  if (contactIds.length === 0) return byContact;
  const rows = (await t
    .from('group_members')
    .whereRaw('group_members.contact_id = ANY(?::text[])', [contactIds])
    .orderBy('group_id')
    .select('contact_id', 'group_id')) as { contact_id: string; group_id: string }[];
  for (const row of rows) byContact.get(row.contact_id)?.push(row.group_id);
  return byContact;
}

/** Makes the contact's groups exactly `groupIds` (already checked as the tenant's). */
async function setGroups(t: TenantTx, contactId: string, groupIds: string[]): Promise<void> {
  const unique = [...new Set(groupIds)];
  await t.from('group_members').where({ contact_id: contactId }).whereNotIn('group_id', unique).delete();
  if (unique.length > 0) {
    await t.insert('group_members', unique.map((groupId) => ({ group_id: groupId, contact_id: contactId }))).onConflict(['tenant_id', 'group_id', 'contact_id']).ignore();
  }
}

export async function createContact(t: TenantTx, body: CreateContactBody): Promise<ContactRow> {
  assertMetadataSize(body.metadata);
  if (body.group_ids) await assertOwnGroups(t, body.group_ids);
  const [row] = (await t
    .insert('contacts', {
      id: newId(),
      phone_number: body.phone_number,
      name: body.name ?? null,
      email: body.email ?? null,
      metadata: JSON.stringify(body.metadata ?? {}),
    })
    .onConflict(['tenant_id', 'phone_number'])
    .ignore()
    .returning('*')) as ContactRow[];
  if (!row) throw new ConflictError(DUPLICATE_PHONE);
  if (body.group_ids) await setGroups(t, row.id, body.group_ids);
  return row;
}

/** The tenant's contacts among `ids` (unknown ids are left out). */
export async function contactsByIds(t: TenantTx, ids: string[]): Promise<ContactRow[]> {
  if (ids.length === 0) return [];
  return (await t.from('contacts').whereRaw('contacts.id = ANY(?::text[])', [ids])) as ContactRow[];
}

export interface ImportedContact {
  id: string;
  phone_number: string;
  inserted: boolean;
}

/**
 * Writes imported rows in one statement. Without `updateExisting` a number
 * the tenant already has is left alone (and absent from the result); with it,
 * the contact is updated: fields given in the row replace the stored ones,
 * fields left empty keep them, and metadata keys are merged.
 */
export async function upsertImportedContacts(t: TenantTx, rows: ImportRow[], updateExisting: boolean): Promise<ImportedContact[]> {
  if (rows.length === 0) return [];
  const onConflict = updateExisting
    ? `DO UPDATE SET name = COALESCE(EXCLUDED.name, contacts.name),
                     email = COALESCE(EXCLUDED.email, contacts.email),
                     metadata = contacts.metadata || EXCLUDED.metadata,
                     updated_at = now()`
    : 'DO NOTHING';
  const result = await t.trx.raw(
    `INSERT INTO contacts (tenant_id, id, phone_number, name, email, metadata)
     SELECT ?, r.id, r.phone_number, r.name, r.email, r.metadata::jsonb
       FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS r(id, phone_number, name, email, metadata)
     ON CONFLICT (tenant_id, phone_number) ${onConflict}
     RETURNING id, phone_number, (xmax = 0) AS inserted`,
    [
      t.tenantId,
      rows.map(() => newId()),
      rows.map((row) => row.phone_number),
      // knex's types have no nullable arrays; pg sends null elements as NULL.
      rows.map((row) => row.name ?? null) as string[],
      rows.map((row) => row.email ?? null) as string[],
      rows.map((row) => JSON.stringify(row.metadata ?? {})),
    ],
  );
  return result.rows as ImportedContact[];
}

export async function getContact(t: TenantTx, id: string): Promise<ContactRow> {
  return findOwned<ContactRow>(t, 'contacts', id, 'contact');
}

/** LIKE treats % and _ as wildcards; a search for them means the characters. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

export async function listContacts(t: TenantTx, filters: ContactFilters, limit: number, cursor: string | null): Promise<ContactRow[]> {
  const query: Knex.QueryBuilder = t.from('contacts').orderBy('contacts.id', 'desc').limit(limit + 1).select('contacts.*');
  if (cursor) void query.where('contacts.id', '<', cursor);
  if (filters.search) void query.whereRaw('contacts.name ILIKE ?', [`%${escapeLike(filters.search)}%`]);
  if (filters.phone_prefix) void query.whereRaw('contacts.phone_number LIKE ?', [`${escapeLike(filters.phone_prefix)}%`]);
  if (filters.group_id) {
    void query.whereExists((members) =>
      void members
        .select(t.trx.raw('1'))
        .from('group_members')
        .whereRaw('group_members.tenant_id = contacts.tenant_id AND group_members.contact_id = contacts.id')
        .where('group_members.group_id', filters.group_id as string),
    );
  }
  return (await query) as ContactRow[];
}

export async function updateContact(t: TenantTx, id: string, body: UpdateContactBody): Promise<ContactRow> {
  await findOwned<ContactRow>(t, 'contacts', id, 'contact', { forUpdate: true });
  assertMetadataSize(body.metadata);
  if (body.group_ids) await assertOwnGroups(t, body.group_ids);
  const changes: Record<string, unknown> = { updated_at: t.trx.fn.now() };
  if (body.phone_number !== undefined) {
    const taken = await t.from('contacts').where({ phone_number: body.phone_number }).whereNot('id', id).first('id');
    if (taken) throw new ConflictError(DUPLICATE_PHONE);
    changes.phone_number = body.phone_number;
  }
  if (body.name !== undefined) changes.name = body.name;
  if (body.email !== undefined) changes.email = body.email;
  if (body.metadata !== undefined) changes.metadata = JSON.stringify(body.metadata);
  const [row] = (await t.from('contacts').where({ id }).update(changes).returning('*')) as ContactRow[];
  if (body.group_ids !== undefined) await setGroups(t, id, body.group_ids);
  return row;
}

/** Deleting a contact removes its group memberships; its past messages stay. */
export async function deleteContact(t: TenantTx, id: string): Promise<ContactRow> {
  const row = await findOwned<ContactRow>(t, 'contacts', id, 'contact', { forUpdate: true });
  await t.from('contacts').where({ id }).delete();
  return row;
}
