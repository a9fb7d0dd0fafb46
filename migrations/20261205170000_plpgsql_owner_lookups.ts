import type { Knex } from 'knex';

/**
 * The narrow SECURITY DEFINER lookups that the hot functions call inside a
 * query (which lines other tenants hold for a number, whose a dispatch is,
 * who holds a conversation) were SQL functions. A SQL function with its own
 * search_path or SECURITY DEFINER cannot be inlined, and PostgreSQL plans its
 * body again every time the query that calls it runs: once per item of a
 * batched route read, once per device report. The same lookups in PL/pgSQL
 * keep their plans for the life of the connection. What they return, to whom
 * and under which rights does not change: same signatures, same grants.
 */

const HELD_BY_OTHERS_SQL = `
  SELECT COALESCE(array_agg(DISTINCT c.line_id), ARRAY[]::text[])
    FROM conversations c JOIN phone_lines l ON l.id = c.line_id AND l.mode = 'pooled'
   WHERE c.phone_number = p_phone_number AND c.tenant_id <> p_tenant_id
     AND GREATEST(c.last_outbound_at, COALESCE(c.last_inbound_at, c.last_outbound_at)) > now() - interval '30 days'`;

const DISPATCH_OWNER_SQL = `
  SELECT d.tenant_id, d.line_id, d.message_id FROM dispatches d WHERE d.id = p_dispatch_id`;

const CONVERSATION_OWNER_SQL = `
  SELECT c.tenant_id FROM conversations c
   WHERE c.line_id = p_line_id AND c.phone_number = p_phone_number
   ORDER BY GREATEST(c.last_outbound_at, COALESCE(c.last_inbound_at, c.last_outbound_at)) DESC LIMIT 1`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_lines_held_by_others(p_tenant_id text, p_phone_number text)
    RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      RETURN (${HELD_BY_OTHERS_SQL});
    END
    $$`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_dispatch_owner(p_dispatch_id text)
    RETURNS TABLE (tenant_id text, line_id text, message_id text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    #variable_conflict use_column
    BEGIN
      RETURN QUERY ${DISPATCH_OWNER_SQL};
    END
    $$`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_conversation_owner(p_line_id text, p_phone_number text)
    RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      RETURN (${CONVERSATION_OWNER_SQL});
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_lines_held_by_others(p_tenant_id text, p_phone_number text)
    RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$${HELD_BY_OTHERS_SQL}
    $$`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_dispatch_owner(p_dispatch_id text)
    RETURNS TABLE (tenant_id text, line_id text, message_id text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$${DISPATCH_OWNER_SQL}
    $$`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_conversation_owner(p_line_id text, p_phone_number text)
    RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$${CONVERSATION_OWNER_SQL}
    $$`);
}
