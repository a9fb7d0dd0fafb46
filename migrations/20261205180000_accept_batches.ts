import type { Knex } from 'knex';

/**
 * The accept statements of requests that arrive while one is in flight go
 * to PostgreSQL together, as the router's and the dispatcher's already do:
 * one round trip and one commit for the lot. Each item is
 * senderz_accept_outbound unchanged, in its own tenant's scope (the function
 * sets the tenant for itself), and the tenant setting is cleared at the end.
 * A batch that fails is retried item by item by the caller, so one bad item
 * never fails or commits another's.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION senderz_accept_outbounds(p_items jsonb)
    RETURNS TABLE (item integer, status text, announced boolean)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_position integer := 0;
      x jsonb;
    BEGIN
      FOR x IN SELECT e.value FROM jsonb_array_elements(p_items) e LOOP
        RETURN QUERY SELECT v_position, a.status, a.announced FROM senderz_accept_outbound(
          x->>'tenant_id', x->>'line_pool', (x->>'check_lines')::boolean, (x->>'check_opt_out')::boolean,
          x->>'id', x->>'to', x->>'body', x->>'requested_channel', x->>'message_type',
          x->>'pinned_from', x->>'campaign_id', x->>'template_id', (x->>'sandbox')::boolean,
          (x->>'dispatch_webhook')::boolean, (x->>'system_reply')::boolean, x->>'job_name', (x->>'priority')::integer,
          x->>'blocked_reason', x->>'status_callback', x->>'client_reference', (x->>'send_at')::timestamptz) a;
        v_position := v_position + 1;
      END LOOP;
      PERFORM set_config('app.tenant_id', '', true);
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS senderz_accept_outbounds(jsonb)');
}
