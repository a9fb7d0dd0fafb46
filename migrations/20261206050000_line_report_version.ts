import type { Knex } from 'knex';

/**
 * A run of status reports applied on the condition that the line is still
 * the one the web process checked the signature against: enabled, and with
 * the row version (xmin) it read. The device route keeps lines it has read
 * in memory and verifies signatures against them; a line changed since
 * (secret rotated, disabled, reassigned, a heartbeat) makes this statement
 * apply nothing and answer one `stale_line` row, and the route reads the
 * line again, checks again and retries. A report run therefore costs one
 * statement instead of a line read and a statement, and a report is applied
 * only if, when the statement runs, the line is enabled and still has the
 * secret that verified it (a change committing meanwhile orders after it, as
 * if the post had come a moment earlier).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION senderz_apply_line_reports(p_line_id text, p_line_version text, p_reports jsonb)
    RETURNS TABLE (event_id text, outcome text, tenant_id text, message_id text, seq integer, announced boolean, dispatch_line_id text, priority integer)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM phone_lines l WHERE l.id = p_line_id AND l.enabled AND l.xmin::text = p_line_version) THEN
        RETURN QUERY SELECT NULL::text, 'stale_line'::text, NULL::text, NULL::text, 0, false, NULL::text, NULL::integer;
        RETURN;
      END IF;
      RETURN QUERY SELECT * FROM senderz_apply_status_reports(p_line_id, p_reports);
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS senderz_apply_line_reports(text, text, jsonb)');
}
