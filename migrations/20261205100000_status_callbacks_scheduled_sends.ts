import type { Knex } from 'knex';

/**
 * Status callbacks, client references and scheduled sends.
 *
 * - A message may carry its own `status_callback` URL and a `client_reference`
 *   string. A message with a callback is announced at every status change
 *   (senderz_transition_message, senderz_accept_outbound); the webhooks pool
 *   then POSTs it to the URL, signed with the tenant's status-callback secret
 *   (stored encrypted, like webhook secrets). `status_callback_deliveries`
 *   keeps one row per (message, history row): its attempts and outcome.
 * - A message with `send_at` is accepted as `scheduled`, with a delayed outbox
 *   row (`sending` / `release-scheduled`, available at send_at) as the durable
 *   intent to release it; `scheduled → queued` at release, `scheduled →
 *   cancelled` on DELETE. Nothing else leaves `scheduled`.
 *
 * senderz_accept_outbound gains three arguments (a new signature; the old one
 * is dropped) and senderz_transition_message keeps its signature.
 */
const OLD_ACCEPT_SIGNATURE = 'text, text, boolean, boolean, text, text, text, text, text, text, text, text, boolean, boolean, boolean, text, integer, text';
const NEW_ACCEPT_SIGNATURE = `${OLD_ACCEPT_SIGNATURE}, text, text, timestamptz`;

const ALL_STATUSES = "'queued','sending','sent','delivered','read','failed','blocked','received'";

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE messages ADD COLUMN status_callback text, ADD COLUMN client_reference text, ADD COLUMN send_at timestamptz');
  await knex.raw('ALTER TABLE messages DROP CONSTRAINT messages_status_check');
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN (${ALL_STATUSES},'scheduled','cancelled'))`);
  await knex.raw('CREATE INDEX messages_client_reference_index ON messages (tenant_id, client_reference) WHERE client_reference IS NOT NULL');

  await knex.schema.createTable('status_callback_secrets', (t) => {
    t.text('tenant_id').notNullable().primary().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('secret_encrypted').notNullable();
    t.text('previous_secret_encrypted');
    t.timestamp('previous_secret_expires_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('status_callback_deliveries', (t) => {
    t.text('tenant_id').notNullable();
    t.text('message_id').notNullable();
    t.integer('sequence').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true });
    t.integer('last_status_code');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'message_id', 'sequence']);
    t.foreign(['tenant_id', 'message_id']).references(['tenant_id', 'id']).inTable('messages').onDelete('CASCADE');
    t.check("status IN ('pending','succeeded','failed')", [], 'status_callback_deliveries_status_check');
  });
  for (const table of ['status_callback_secrets', 'status_callback_deliveries']) {
    await knex.raw('ALTER TABLE ?? ENABLE ROW LEVEL SECURITY', [table]);
    await knex.raw('ALTER TABLE ?? FORCE ROW LEVEL SECURITY', [table]);
    await knex.raw("CREATE POLICY tenant_isolation ON ?? USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')) WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))", [table]);
    await knex.raw('CREATE POLICY owner_access ON ?? TO CURRENT_USER USING (true) WITH CHECK (true)', [table]);
  }

  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_transition_message(p_tenant_id text, p_message_id text, p_status text, p_reason text, p_occurred_at timestamptz,
                                               p_line_id text DEFAULT NULL, p_from text DEFAULT NULL, p_channel text DEFAULT NULL)
    RETURNS TABLE (changed boolean, seq integer, announced boolean)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_from text[] := CASE p_status
        WHEN 'queued' THEN ARRAY['scheduled']
        WHEN 'cancelled' THEN ARRAY['scheduled']
        WHEN 'sending' THEN ARRAY['queued']
        WHEN 'sent' THEN ARRAY['queued', 'sending']
        WHEN 'delivered' THEN ARRAY['queued', 'sending', 'sent']
        WHEN 'read' THEN ARRAY['queued', 'sending', 'sent', 'delivered']
        WHEN 'failed' THEN ARRAY['queued', 'sending', 'sent']
        WHEN 'blocked' THEN ARRAY['queued']
        ELSE ARRAY[]::text[] END;
      v_at timestamptz := COALESCE(p_occurred_at, now());
      v_seq integer;
      v_sandbox boolean;
      v_dispatch_webhook boolean;
      v_direction text;
      v_to text;
      v_callback text;
      v_announced boolean := false;
    BEGIN
      UPDATE messages m
         SET status = p_status, reason = p_reason, updated_at = now(), last_sequence = m.last_sequence + 1,
             sent_at = CASE WHEN p_status IN ('sent', 'delivered', 'read') THEN COALESCE(m.sent_at, v_at) ELSE m.sent_at END,
             delivered_at = CASE WHEN p_status IN ('delivered', 'read') THEN COALESCE(m.delivered_at, v_at) ELSE m.delivered_at END,
             read_at = CASE WHEN p_status = 'read' THEN COALESCE(m.read_at, v_at) ELSE m.read_at END,
             failed_at = CASE WHEN p_status = 'failed' THEN COALESCE(m.failed_at, v_at) ELSE m.failed_at END,
             line_id = COALESCE(p_line_id, m.line_id), from_number = COALESCE(p_from, m.from_number), channel = COALESCE(p_channel, m.channel)
       WHERE m.tenant_id = p_tenant_id AND m.id = p_message_id AND m.status = ANY (v_from)
       RETURNING m.last_sequence, m.sandbox, m.dispatch_webhook, m.direction, m.to_number, m.status_callback
        INTO v_seq, v_sandbox, v_dispatch_webhook, v_direction, v_to, v_callback;
      IF NOT FOUND THEN
        RETURN QUERY SELECT false, 0, false;
        RETURN;
      END IF;
      INSERT INTO message_events (tenant_id, message_id, sequence, status, reason, occurred_at)
      VALUES (p_tenant_id, p_message_id, v_seq, p_status, p_reason, v_at);
      -- A message with its own status_callback is announced at every step: the
      -- message-event job hands it to the status-callback job.
      IF p_status <> 'sending' AND (v_callback IS NOT NULL OR ((NOT v_sandbox OR v_dispatch_webhook) AND EXISTS (
           SELECT 1 FROM webhooks w WHERE w.tenant_id = p_tenant_id AND w.enabled AND ('message.' || p_status) = ANY (w.events)))) THEN
        v_announced := true;
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority)
        VALUES (p_tenant_id, 'webhooks', 'message-event', p_message_id || '_' || v_seq,
                jsonb_build_object('tenantId', p_tenant_id, 'messageId', p_message_id, 'sequence', v_seq), 0)
        ON CONFLICT (queue, job_name, ref_id) DO NOTHING;
      END IF;
      -- A number the tenant has successfully messaged is no longer a "new contact".
      IF p_status IN ('sent', 'delivered', 'read') AND v_direction = 'outbound' AND NOT v_sandbox THEN
        INSERT INTO known_recipients (tenant_id, phone_number) VALUES (p_tenant_id, v_to) ON CONFLICT DO NOTHING;
      END IF;
      RETURN QUERY SELECT true, v_seq, v_announced;
    END
    $$`);
  await knex.raw(`DROP FUNCTION senderz_accept_outbound(${OLD_ACCEPT_SIGNATURE})`);
  await knex.raw(`
    CREATE FUNCTION senderz_accept_outbound(
      p_tenant_id text, p_pool text, p_check_lines boolean, p_check_opt_out boolean,
      p_id text, p_to text, p_body text, p_requested_channel text, p_message_type text,
      p_pinned_from text, p_campaign_id text, p_template_id text, p_sandbox boolean,
      p_dispatch_webhook boolean, p_system_reply boolean, p_route_job text, p_priority integer, p_blocked_reason text,
      p_status_callback text, p_client_reference text, p_send_at timestamptz)
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
      IF v_status = 'queued' AND p_send_at IS NOT NULL THEN
        v_status := 'scheduled';
      END IF;
      INSERT INTO messages (tenant_id, id, direction, from_number, to_number, body, requested_channel, message_type,
                            status, reason, campaign_id, template_id, pinned_from, sandbox, dispatch_webhook,
                            system_reply, last_sequence, status_callback, client_reference, send_at)
      VALUES (p_tenant_id, p_id, 'outbound', p_pinned_from, p_to, p_body, p_requested_channel, p_message_type,
              v_status, v_reason, p_campaign_id, p_template_id, p_pinned_from, p_sandbox, p_dispatch_webhook,
              p_system_reply, 1, p_status_callback, p_client_reference, p_send_at);
      INSERT INTO message_events (tenant_id, message_id, sequence, status, reason)
      VALUES (p_tenant_id, p_id, 1, v_status, v_reason);
      IF v_status = 'queued' THEN
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority)
        VALUES (p_tenant_id, 'sending', p_route_job, p_id, v_payload, p_priority);
      END IF;
      -- A scheduled send's release is a delayed outbox row: the relay brings it
      -- back at send_at if its delayed BullMQ job was lost.
      IF v_status = 'scheduled' THEN
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority, available_at)
        VALUES (p_tenant_id, 'sending', 'release-scheduled', p_id, v_payload, 0, p_send_at);
      END IF;
      -- Only tenants with an endpoint subscribed to this event pay for a webhook job.
      IF p_status_callback IS NOT NULL OR ((NOT p_sandbox OR p_dispatch_webhook) AND EXISTS (
           SELECT 1 FROM webhooks WHERE tenant_id = p_tenant_id AND enabled AND ('message.' || v_status) = ANY(events))) THEN
        v_announced := true;
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority)
        VALUES (p_tenant_id, 'webhooks', 'message-event', p_id || '_1', v_payload || jsonb_build_object('sequence', 1), 0);
      END IF;
      RETURN QUERY SELECT v_status, v_announced;
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP FUNCTION IF EXISTS senderz_accept_outbound(${NEW_ACCEPT_SIGNATURE})`);
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
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_transition_message(p_tenant_id text, p_message_id text, p_status text, p_reason text, p_occurred_at timestamptz,
                                               p_line_id text DEFAULT NULL, p_from text DEFAULT NULL, p_channel text DEFAULT NULL)
    RETURNS TABLE (changed boolean, seq integer, announced boolean)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_from text[] := CASE p_status
        WHEN 'sending' THEN ARRAY['queued']
        WHEN 'sent' THEN ARRAY['queued', 'sending']
        WHEN 'delivered' THEN ARRAY['queued', 'sending', 'sent']
        WHEN 'read' THEN ARRAY['queued', 'sending', 'sent', 'delivered']
        WHEN 'failed' THEN ARRAY['queued', 'sending', 'sent']
        WHEN 'blocked' THEN ARRAY['queued']
        ELSE ARRAY[]::text[] END;
      v_at timestamptz := COALESCE(p_occurred_at, now());
      v_seq integer;
      v_sandbox boolean;
      v_dispatch_webhook boolean;
      v_direction text;
      v_to text;
      v_announced boolean := false;
    BEGIN
      UPDATE messages m
         SET status = p_status, reason = p_reason, updated_at = now(), last_sequence = m.last_sequence + 1,
             sent_at = CASE WHEN p_status IN ('sent', 'delivered', 'read') THEN COALESCE(m.sent_at, v_at) ELSE m.sent_at END,
             delivered_at = CASE WHEN p_status IN ('delivered', 'read') THEN COALESCE(m.delivered_at, v_at) ELSE m.delivered_at END,
             read_at = CASE WHEN p_status = 'read' THEN COALESCE(m.read_at, v_at) ELSE m.read_at END,
             failed_at = CASE WHEN p_status = 'failed' THEN COALESCE(m.failed_at, v_at) ELSE m.failed_at END,
             line_id = COALESCE(p_line_id, m.line_id), from_number = COALESCE(p_from, m.from_number), channel = COALESCE(p_channel, m.channel)
       WHERE m.tenant_id = p_tenant_id AND m.id = p_message_id AND m.status = ANY (v_from)
       RETURNING m.last_sequence, m.sandbox, m.dispatch_webhook, m.direction, m.to_number
        INTO v_seq, v_sandbox, v_dispatch_webhook, v_direction, v_to;
      IF NOT FOUND THEN
        RETURN QUERY SELECT false, 0, false;
        RETURN;
      END IF;
      INSERT INTO message_events (tenant_id, message_id, sequence, status, reason, occurred_at)
      VALUES (p_tenant_id, p_message_id, v_seq, p_status, p_reason, v_at);
      IF p_status <> 'sending' AND (NOT v_sandbox OR v_dispatch_webhook) AND EXISTS (
           SELECT 1 FROM webhooks w WHERE w.tenant_id = p_tenant_id AND w.enabled AND ('message.' || p_status) = ANY (w.events)) THEN
        v_announced := true;
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority)
        VALUES (p_tenant_id, 'webhooks', 'message-event', p_message_id || '_' || v_seq,
                jsonb_build_object('tenantId', p_tenant_id, 'messageId', p_message_id, 'sequence', v_seq), 0)
        ON CONFLICT (queue, job_name, ref_id) DO NOTHING;
      END IF;
      -- A number the tenant has successfully messaged is no longer a "new contact".
      IF p_status IN ('sent', 'delivered', 'read') AND v_direction = 'outbound' AND NOT v_sandbox THEN
        INSERT INTO known_recipients (tenant_id, phone_number) VALUES (p_tenant_id, v_to) ON CONFLICT DO NOTHING;
      END IF;
      RETURN QUERY SELECT true, v_seq, v_announced;
    END
    $$`);
  // Without the columns a scheduled send cannot be released: it ends as cancelled, which the old statuses call failed.
  await knex.raw("DELETE FROM outbox WHERE queue = 'sending' AND job_name = 'release-scheduled'");
  await knex.raw("DELETE FROM outbox WHERE queue = 'webhooks' AND job_name = 'status-callback'");
  await knex.raw("UPDATE messages SET status = 'failed', reason = 'cancelled' WHERE status IN ('scheduled', 'cancelled')");
  await knex.schema.dropTable('status_callback_deliveries');
  await knex.schema.dropTable('status_callback_secrets');
  await knex.raw('DROP INDEX IF EXISTS messages_client_reference_index');
  await knex.raw('ALTER TABLE messages DROP CONSTRAINT messages_status_check');
  await knex.raw(`ALTER TABLE messages ADD CONSTRAINT messages_status_check CHECK (status IN (${ALL_STATUSES}))`);
  await knex.raw('ALTER TABLE messages DROP COLUMN status_callback, DROP COLUMN client_reference, DROP COLUMN send_at');
}
