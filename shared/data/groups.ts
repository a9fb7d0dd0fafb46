import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { ConflictError } from '../errors';
import { newId } from '../ids';
import type { CreateGroupBody, UpdateGroupBody } from '../schemas/groups';
import { assertOwnContacts, ContactRow } from './contacts';

export interface GroupRow {
  tenant_id: string;
  id: string;
  name: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
  member_count?: number;
}

export function presentGroup(row: GroupRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    member_count: row.member_count ?? 0,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const DUPLICATE_NAME = 'A group with this name already exists.';

function withMemberCount(t: TenantTx) {
  return t.trx.raw(
    '(SELECT count(*) FROM group_members m WHERE m.tenant_id = contact_groups.tenant_id AND m.group_id = contact_groups.id)::int AS member_count',
  );
}

export async function createGroup(t: TenantTx, body: CreateGroupBody): Promise<GroupRow> {
  const [row] = (await t
    .insert('contact_groups', { id: newId(), name: body.name, description: body.description ?? null })
    .onConflict(['tenant_id', 'name'])
    .ignore()
    .returning('*')) as GroupRow[];
  if (!row) throw new ConflictError(DUPLICATE_NAME);
  return { ...row, member_count: 0 };
}

export async function getGroup(t: TenantTx, id: string, options: { forUpdate?: boolean } = {}): Promise<GroupRow> {
  const row = await findOwned<GroupRow>(t, 'contact_groups', id, 'group', options);
  const [{ member_count }] = (await t.from('contact_groups').where({ id }).select(withMemberCount(t))) as { member_count: number }[];
  return { ...row, member_count };
}

export async function listGroups(t: TenantTx, limit: number, cursor: string | null): Promise<GroupRow[]> {
  const query = t.from('contact_groups').orderBy('id', 'desc').limit(limit + 1).select('contact_groups.*', withMemberCount(t));
  if (cursor) void query.where('id', '<', cursor);
  return (await query) as GroupRow[];
}

export async function updateGroup(t: TenantTx, id: string, body: UpdateGroupBody): Promise<GroupRow> {
  await getGroup(t, id, { forUpdate: true });
  if (body.name !== undefined) {
    const taken = await t.from('contact_groups').where({ name: body.name }).whereNot('id', id).first('id');
    if (taken) throw new ConflictError(DUPLICATE_NAME);
  }
  const changes: Record<string, unknown> = { updated_at: t.trx.fn.now() };
  if (body.name !== undefined) changes.name = body.name;
  if (body.description !== undefined) changes.description = body.description;
  await t.from('contact_groups').where({ id }).update(changes);
  return getGroup(t, id);
}

/** Deleting a group removes its memberships; the contacts stay. */
export async function deleteGroup(t: TenantTx, id: string): Promise<GroupRow> {
  const row = await getGroup(t, id, { forUpdate: true });
  await t.from('contact_groups').where({ id }).delete();
  return row;
}

/**
 * Adds contacts to a group in one statement. Every id must be one of the
 * tenant's contacts; otherwise nothing is added and the 400 names the ids.
 */
export async function addMembers(t: TenantTx, groupId: string, contactIds: string[]): Promise<{ added: number; group: GroupRow }> {
  await getGroup(t, groupId, { forUpdate: true });
  const unique = [...new Set(contactIds)];
  await assertOwnContacts(t, contactIds);
  const inserted = (await t
    .insert('group_members', unique.map((contactId) => ({ group_id: groupId, contact_id: contactId })))
    .onConflict(['tenant_id', 'group_id', 'contact_id'])
    .ignore()
    .returning('contact_id')) as unknown[];
  return { added: inserted.length, group: await getGroup(t, groupId) };
}

/**
 * Adds contacts (known to be the tenant's) to a group if the group still
 * exists: an import whose group was deleted meanwhile still imports.
 */
export async function addMembersIfGroupExists(t: TenantTx, groupId: string, contactIds: string[]): Promise<void> {
  if (contactIds.length === 0 || !(await t.from('contact_groups').where({ id: groupId }).first('id'))) return;
  await t.trx.raw(`INSERT INTO group_members (tenant_id, group_id, contact_id) SELECT ?, ?, unnest(?::text[]) ON CONFLICT DO NOTHING`, [t.tenantId, groupId, contactIds]);
}

/** Removes contacts from a group; ids that are not the tenant's contacts are a 400, as for adding. */
export async function removeMembers(t: TenantTx, groupId: string, contactIds: string[]): Promise<{ removed: number; group: GroupRow }> {
  await getGroup(t, groupId, { forUpdate: true });
  await assertOwnContacts(t, contactIds);
  const removed = await t.from('group_members').where({ group_id: groupId }).whereRaw('group_members.contact_id = ANY(?::text[])', [contactIds]).delete();
  return { removed, group: await getGroup(t, groupId) };
}

export async function listMembers(t: TenantTx, groupId: string, limit: number, cursor: string | null): Promise<ContactRow[]> {
  await getGroup(t, groupId);
  const query = t
    .from('contacts')
    .join('group_members', (on) => void on.on('group_members.tenant_id', 'contacts.tenant_id').andOn('group_members.contact_id', 'contacts.id'))
    .where('group_members.group_id', groupId)
    .orderBy('contacts.id', 'desc')
    .limit(limit + 1)
    .select('contacts.*');
  if (cursor) void query.where('contacts.id', '<', cursor);
  return (await query) as ContactRow[];
}
