import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { newId } from '../ids';
import { ConflictError } from '../errors';
import { CreateSourceBody, MAX_SOURCES_PER_TENANT, MAX_TOTAL_SOURCE_CHARS, SourceType } from '../schemas/ai';
import type { KnowledgeSource } from '../ai/retrieval';

export interface AiSourceRow {
  tenant_id: string;
  id: string;
  type: SourceType;
  title: string | null;
  content: string | null;
  question: string | null;
  answer: string | null;
  created_at: Date;
}

export function presentSource(row: AiSourceRow) {
  const fields = row.type === 'faq' ? { question: row.question, answer: row.answer } : { title: row.title, content: row.content };
  return { id: row.id, type: row.type, ...fields, created_at: row.created_at };
}

function sourceChars(fields: Record<string, string | undefined>): number {
  return Object.values(fields).reduce((sum: number, value) => sum + (value?.length ?? 0), 0);
}

/** Adds a source; the per-tenant caps are checked under a tenant-wide lock so two requests cannot both take the last slot. */
export async function createSource(t: TenantTx, body: CreateSourceBody): Promise<AiSourceRow> {
  const fields =
    body.type === 'faq'
      ? { question: body.question.trim(), answer: body.answer.trim() }
      : { title: body.title.trim(), content: body.content.trim() };
  await t.trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`ai_sources:${t.tenantId}`]);
  const [usage] = (await t
    .from('ai_sources')
    .select(
      t.trx.raw('count(*)::int AS n'),
      t.trx.raw("COALESCE(sum(length(COALESCE(title, '')) + length(COALESCE(content, '')) + length(COALESCE(question, '')) + length(COALESCE(answer, ''))), 0)::int AS chars"),
    )) as { n: number; chars: number }[];
  if (usage.n >= MAX_SOURCES_PER_TENANT) {
    throw new ConflictError(`You have reached the limit of ${MAX_SOURCES_PER_TENANT} training sources; delete some before adding more.`, 'LIMIT_EXCEEDED');
  }
  if (usage.chars + sourceChars(fields) > MAX_TOTAL_SOURCE_CHARS) {
    throw new ConflictError(`Your training sources may hold at most ${MAX_TOTAL_SOURCE_CHARS} characters in total; delete some before adding more.`, 'LIMIT_EXCEEDED');
  }
  const [row] = await t.insert('ai_sources', { id: newId(), type: body.type, ...fields }).returning('*');
  return row as AiSourceRow;
}

export async function listSources(t: TenantTx, filters: { type?: SourceType }, limit: number, cursor: string | null): Promise<AiSourceRow[]> {
  const query = t.from('ai_sources').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  if (filters.type) void query.where('type', filters.type);
  return (await query) as AiSourceRow[];
}

export async function getSource(t: TenantTx, id: string): Promise<AiSourceRow> {
  return findOwned<AiSourceRow>(t, 'ai_sources', id, 'training source');
}

export async function deleteSource(t: TenantTx, id: string): Promise<AiSourceRow> {
  const row = await getSource(t, id);
  await t.from('ai_sources').where({ id }).delete();
  return row;
}

/** Every source of the tenant in scope, for building that tenant's reply index. */
export async function loadKnowledge(t: TenantTx): Promise<KnowledgeSource[]> {
  return (await t.from('ai_sources').orderBy('id').select('id', 'type', 'title', 'content', 'question', 'answer')) as KnowledgeSource[];
}
