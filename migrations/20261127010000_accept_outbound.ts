import type { Knex } from 'knex';

/**
 * Accepting an outbound message in ONE round trip: the tenant setting, the
 * line and opt-out checks, the message row, its first history row and its
 * outbox rows happen in one statement. It is SECURITY INVOKER, so row-level
 * security applies exactly as for the statements it replaces; it only saves
 * the round trips of BEGIN / set_config / four statements / COMMIT on the
 * busiest path of the platform.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION senderz_accept_outbound(
      p_tenant_id text, p_pool text, p_check_lines boolean, p_check_opt_out boolean,
      p_id text, p_to text, p_body text, p_requested_channel text, p_message_type text,
      p_pinned_from text, p_campaign_id text, p_template_id text, p_sandbox boolean,
      p_dispatch_webhook boolean, p_system_reply boolean, p_route_job text, p_priority integer, p_blocked_reason text)
    RETURNS TABLE (status text, announced boolean)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    DECLARE
      v_status text := CASE WHEN p_blocked_reason IS NULL THEN 'queued' ELSE 'blocked' END;
      v_reason text := p_blocked_reason;
      v_payload jsonb := jsonb_build_object('tenantId', p_tenant_id, 'messageId', p_id);
      v_announced boolean := false;
    BEGIN
      PERFORM set_config('app.tenant_id', p_tenant_id, true);
      IF p_check_lines THEN
        IF NOT EXISTS (
          SELECT 1 FROM phone_lines
           WHERE enabled
             AND ((mode = 'dedicated' AND tenant_id = p_tenant_id) OR (mode = 'pooled' AND pool = p_pool))
             AND (p_pinned_from IS NULL OR phone_number = p_pinned_from)) THEN
          RETURN QUERY SELECT CASE WHEN p_pinned_from IS NULL THEN 'no_line' ELSE 'pinned_unavailable' END, false;
          RETURN;
        END IF;
      END IF;
      IF v_status = 'queued' AND p_check_opt_out AND EXISTS (SELECT 1 FROM opt_outs WHERE tenant_id = p_tenant_id AND phone_number = p_to AND active) THEN
        v_status := 'blocked';
        v_reason := 'opted_out';
      END IF;
      INSERT INTO messages (tenant_id, id, direction, from_number, to_number, body, requested_channel, message_type,
                            status, reason, campaign_id, template_id, pinned_from, sandbox, dispatch_webhook,
                            system_reply, last_sequence)
      VALUES (p_tenant_id, p_id, 'outbound', p_pinned_from, p_to, p_body, p_requested_channel, p_message_type,
              v_status, v_reason, p_campaign_id, p_template_id, p_pinned_from, p_sandbox, p_dispatch_webhook,
              p_system_reply, 1);
      INSERT INTO message_events (tenant_id, message_id, sequence, status, reason)
      VALUES (p_tenant_id, p_id, 1, v_status, v_reason);
      IF v_status = 'queued' THEN
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority)
        VALUES (p_tenant_id, 'sending', p_route_job, p_id, v_payload, p_priority);
      END IF;
      -- Only tenants with an endpoint subscribed to this event pay for a webhook job.
      IF (NOT p_sandbox OR p_dispatch_webhook) AND EXISTS (
           SELECT 1 FROM webhooks WHERE tenant_id = p_tenant_id AND enabled AND ('message.' || v_status) = ANY(events)) THEN
        v_announced := true;
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority)
        VALUES (p_tenant_id, 'webhooks', 'message-event', p_id || '_1', v_payload || jsonb_build_object('sequence', 1), 0);
      END IF;
      RETURN QUERY SELECT v_status, v_announced;
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS senderz_accept_outbound(text, text, boolean, boolean, text, text, text, text, text, text, text, text, boolean, boolean, boolean, text, integer, text)');
}
