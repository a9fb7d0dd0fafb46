import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { AppError, ConflictError } from '../errors';
import { newId } from '../ids';
import { templateVariables } from '../templates';
import type { CreateTemplateBody, TemplateChannel, TemplateType, UpdateTemplateBody } from '../schemas/templates';

export interface TemplateRow {
  tenant_id: string;
  id: string;
  name: string;
  type: TemplateType;
  channel: TemplateChannel;
  body: string;
  variables: string[];
  created_at: Date;
  updated_at: Date;
}

export function presentTemplate(row: TemplateRow) {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    channel: row.channel,
    body: row.body,
    variables: row.variables,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const DUPLICATE_NAME = 'A template with this name already exists.';

/** A send names a template by name (or by id); unknown → undefined. */
export async function findTemplateForSend(t: TenantTx, nameOrId: string): Promise<TemplateRow | undefined> {
  return (await t
    .from('templates')
    .where((scope) => void scope.where('name', nameOrId).orWhere('id', nameOrId))
    .first()) as TemplateRow | undefined;
}

/** The same look-up, as the 400 INVALID_TEMPLATE a send or campaign gets for an unknown name. */
export async function requireTemplateForSend(t: TenantTx, nameOrId: string): Promise<TemplateRow> {
  const template = await findTemplateForSend(t, nameOrId);
  if (!template) throw new AppError(400, 'INVALID_TEMPLATE', `No template named "${nameOrId}".`, [{ path: 'template', message: 'names no template' }]);
  return template;
}

export async function createTemplate(t: TenantTx, body: CreateTemplateBody): Promise<TemplateRow> {
  const [row] = (await t
    .insert('templates', {
      id: newId(),
      name: body.name,
      type: body.type ?? 'alert',
      channel: body.channel ?? 'both',
      body: body.body,
      variables: templateVariables(body.body),
    })
    .onConflict(['tenant_id', 'name'])
    .ignore()
    .returning('*')) as TemplateRow[];
  if (!row) throw new ConflictError(DUPLICATE_NAME);
  return row;
}

export async function getTemplate(t: TenantTx, id: string, options: { forUpdate?: boolean } = {}): Promise<TemplateRow> {
  return findOwned<TemplateRow>(t, 'templates', id, 'template', options);
}

export async function listTemplates(t: TenantTx, filters: { type?: TemplateType }, limit: number, cursor: string | null): Promise<TemplateRow[]> {
  const query = t.from('templates').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  if (filters.type) void query.where('type', filters.type);
  return (await query) as TemplateRow[];
}

export async function updateTemplate(t: TenantTx, id: string, body: UpdateTemplateBody): Promise<TemplateRow> {
  await getTemplate(t, id, { forUpdate: true });
  if (body.name !== undefined) {
    const taken = await t.from('templates').where({ name: body.name }).whereNot('id', id).first('id');
    if (taken) throw new ConflictError(DUPLICATE_NAME);
  }
  const changes: Record<string, unknown> = { updated_at: t.trx.fn.now() };
  if (body.name !== undefined) changes.name = body.name;
  if (body.type !== undefined) changes.type = body.type;
  if (body.channel !== undefined) changes.channel = body.channel;
  if (body.body !== undefined) {
    changes.body = body.body;
    changes.variables = templateVariables(body.body);
  }
  const [row] = (await t.from('templates').where({ id }).update(changes).returning('*')) as TemplateRow[];
  return row;
}

/**
 * A campaign keeps its own copy of the text it sends, so deleting a template
 * only unlinks the campaigns that named it.
 */
export async function deleteTemplate(t: TenantTx, id: string): Promise<TemplateRow> {
  const row = await getTemplate(t, id, { forUpdate: true });
  await t.from('campaigns').where({ template_id: id }).update({ template_id: null });
  await t.from('templates').where({ id }).delete();
  return row;
}
