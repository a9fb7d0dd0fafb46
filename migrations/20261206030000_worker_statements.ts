import type { Knex } from 'knex';

/**
 * One statement for what the router and the dispatcher of a process have
 * waiting at the same moment, each kind through its own batch function
 * unchanged (every item in its own tenant's scope), writes first. The caller
 * (shared/data/worker-statements.ts) sends writes (routing decisions,
 * accepted marks) and reads (routing and dispatch contexts) in separate
 * statements, so a read never waits for a commit's WAL flush, while an
 * accepted mark, off the latency path, rides with the next routing decision
 * instead of taking a commit of its own. A batch that fails is retried item
 * by item by the caller, so one bad item never fails or commits another's.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION senderz_worker_statements(p_accepted jsonb, p_route_commits jsonb, p_route_contexts jsonb, p_dispatch_contexts jsonb)
    RETURNS TABLE (kind text, item integer, result jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    BEGIN
      IF jsonb_array_length(p_accepted) > 0 THEN
        PERFORM senderz_record_accepted(p_accepted);
      END IF;
      IF jsonb_array_length(p_route_commits) > 0 THEN
        RETURN QUERY SELECT 'route_commit'::text, c.item, jsonb_build_object('outcome', c.outcome, 'seq', c.seq, 'announced', c.announced)
          FROM senderz_route_commits(p_route_commits) c;
      END IF;
      IF jsonb_array_length(p_route_contexts) > 0 THEN
        RETURN QUERY SELECT 'route_context'::text, c.item, c.context FROM senderz_route_contexts(p_route_contexts) c;
      END IF;
      IF jsonb_array_length(p_dispatch_contexts) > 0 THEN
        RETURN QUERY SELECT 'dispatch_context'::text, c.item, c.context FROM senderz_dispatch_contexts(p_dispatch_contexts) c;
      END IF;
      PERFORM set_config('app.tenant_id', '', true);
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS senderz_worker_statements(jsonb, jsonb, jsonb, jsonb)');
}
