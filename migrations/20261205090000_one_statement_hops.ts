import type { Knex } from 'knex';

/**
 * One statement per hop. Routing a message, recording what a bridge accepted
 * and applying a batch of device reports each become one round trip to
 * PostgreSQL, instead of BEGIN / set_config / many statements / COMMIT.
 *
 * Every function here is SECURITY INVOKER: it sets the tenant with
 * `set_config('app.tenant_id', …, true)` and then runs its statements, so
 * row-level security applies exactly as it does to the statements it replaces.
 * The only SECURITY DEFINER additions are narrow lookups that must happen
 * before a tenant is known, and they return operator data (line ids), never
 * another tenant's records.
 *
 * A `pending` dispatch row is itself the durable intent to push it to its
 * bridge: the outbox relay finds pending dispatches whose job never ran, so
 * routing no longer writes (and dispatching no longer deletes) an outbox row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE dispatches
      ADD COLUMN priority integer NOT NULL DEFAULT 0,
      ADD COLUMN available_at timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN enqueued_at timestamptz`);
  // Dispatch work still in the outbox becomes the dispatch row's own schedule.
  await knex.raw(`
    UPDATE dispatches d SET available_at = o.available_at, priority = o.priority
      FROM outbox o WHERE o.queue = 'dispatch' AND o.job_name = 'dispatch-message' AND o.ref_id = d.id`);
  await knex.raw("DELETE FROM outbox WHERE queue = 'dispatch'");
  // An inbound message is dated by the platform when it arrives; the device's clock is kept here.
  await knex.raw('ALTER TABLE messages ADD COLUMN device_occurred_at timestamptz');

  // Status changes: the one definition of "forward only", the history row, the
  // webhook's outbox row (only for subscribed tenants) and the known-recipient
  // mark. The caller has set the tenant. A message moving to `sending` also
  // takes its line, number and channel in the same row update.
  await knex.raw(`
    CREATE FUNCTION senderz_transition_message(p_tenant_id text, p_message_id text, p_status text, p_reason text, p_occurred_at timestamptz,
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

  // Plan caps (shared/compliance/caps.ts explains the rules). No savepoint:
  // a message refused by one cap gives back, in the same transaction, what it
  // took under the others (other routers wait on the same rows' locks, so they
  // only ever see the final counts), and its flags stay unset. Returns 'ok' or
  // the cap that refused it ('day:new_contacts', 'month:new_contacts',
  // 'day:messages').
  await knex.raw(`
    CREATE FUNCTION senderz_take_usage_slots(
      p_tenant_id text, p_message_id text, p_new_per_day integer, p_new_per_month integer, p_messages_per_day integer,
      p_day date, p_month date, p_event_ids text[])
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_to text;
      v_sandbox boolean;
      v_system boolean;
      v_counted_new boolean;
      v_counted_daily boolean;
      v_need_message boolean;
      v_maybe_new boolean := false;
      v_new boolean := false;
      v_took_month boolean := false;
      v_count integer;
      v_contacts integer;
      v_messages integer;
      v_rows integer;
      v_over text := NULL;
      v_reached text[] := ARRAY[]::text[];
      v_cap text;
    BEGIN
      SELECT m.to_number, m.sandbox, m.system_reply, m.counted_new_contact, m.counted_daily_message
        INTO v_to, v_sandbox, v_system, v_counted_new, v_counted_daily
        FROM messages m WHERE m.tenant_id = p_tenant_id AND m.id = p_message_id;
      IF NOT FOUND OR v_sandbox OR v_system THEN RETURN 'ok'; END IF;
      v_need_message := p_messages_per_day IS NOT NULL AND NOT v_counted_daily;
      IF NOT v_counted_new THEN
        v_maybe_new := NOT EXISTS (SELECT 1 FROM known_recipients k WHERE k.tenant_id = p_tenant_id AND k.phone_number = v_to);
      END IF;
      IF NOT v_maybe_new AND NOT v_need_message THEN RETURN 'ok'; END IF;

      IF v_maybe_new THEN
        INSERT INTO new_contact_claims (tenant_id, period_start, phone_number, day, message_id)
        VALUES (p_tenant_id, p_month, v_to, p_day, p_message_id) ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_new := v_rows > 0;
      END IF;
      IF v_new THEN
        IF p_new_per_month = 0 THEN
          v_over := 'month:new_contacts';
        ELSE
          INSERT INTO usage_monthly AS u (tenant_id, period_start, new_contacts) VALUES (p_tenant_id, p_month, 1)
          ON CONFLICT (tenant_id, period_start) DO UPDATE SET new_contacts = u.new_contacts + 1
            WHERE p_new_per_month IS NULL OR u.new_contacts < p_new_per_month
          RETURNING u.new_contacts INTO v_count;
          IF NOT FOUND THEN
            v_over := 'month:new_contacts';
          ELSE
            v_took_month := true;
            IF p_new_per_month IS NOT NULL AND v_count >= p_new_per_month THEN v_reached := v_reached || 'month:new_contacts'::text; END IF;
          END IF;
        END IF;
      END IF;
      IF v_over IS NULL AND (v_new OR v_need_message) THEN
        IF v_new AND p_new_per_day = 0 THEN
          v_over := 'day:new_contacts';
        ELSIF v_need_message AND p_messages_per_day = 0 THEN
          v_over := 'day:messages';
        ELSE
          INSERT INTO usage_daily AS u (tenant_id, day, new_contacts, messages)
          VALUES (p_tenant_id, p_day, v_new::int, v_need_message::int)
          ON CONFLICT (tenant_id, day) DO UPDATE
            SET new_contacts = u.new_contacts + EXCLUDED.new_contacts, messages = u.messages + EXCLUDED.messages
            WHERE (p_new_per_day IS NULL OR u.new_contacts + EXCLUDED.new_contacts <= p_new_per_day)
              AND (p_messages_per_day IS NULL OR u.messages + EXCLUDED.messages <= p_messages_per_day)
          RETURNING u.new_contacts, u.messages INTO v_contacts, v_messages;
          IF NOT FOUND THEN
            SELECT u.new_contacts INTO v_contacts FROM usage_daily u WHERE u.tenant_id = p_tenant_id AND u.day = p_day;
            v_over := CASE WHEN v_new AND p_new_per_day IS NOT NULL AND v_contacts >= p_new_per_day THEN 'day:new_contacts' ELSE 'day:messages' END;
          ELSE
            IF v_new AND p_new_per_day IS NOT NULL AND v_contacts >= p_new_per_day THEN v_reached := v_reached || 'day:new_contacts'::text; END IF;
            IF v_need_message AND p_messages_per_day IS NOT NULL AND v_messages >= p_messages_per_day THEN v_reached := v_reached || 'day:messages'::text; END IF;
          END IF;
        END IF;
      END IF;

      IF v_over IS NOT NULL THEN
        -- Give back what this message took under the other caps.
        IF v_took_month THEN
          UPDATE usage_monthly u SET new_contacts = u.new_contacts - 1 WHERE u.tenant_id = p_tenant_id AND u.period_start = p_month;
        END IF;
        IF v_new THEN
          DELETE FROM new_contact_claims c WHERE c.tenant_id = p_tenant_id AND c.period_start = p_month AND c.phone_number = v_to AND c.message_id = p_message_id;
        END IF;
        v_reached := ARRAY[v_over];
      ELSE
        UPDATE messages m SET counted_new_contact = m.counted_new_contact OR v_maybe_new,
                              counted_daily_message = m.counted_daily_message OR v_need_message
         WHERE m.tenant_id = p_tenant_id AND m.id = p_message_id;
      END IF;
      -- Once per tenant and period: the first time a counter reaches (or a message meets) its cap.
      FOREACH v_cap IN ARRAY v_reached LOOP
        INSERT INTO billing_events (tenant_id, id, type, data, dedupe_key)
        SELECT p_tenant_id, p_event_ids[array_position(ARRAY['day:new_contacts', 'month:new_contacts', 'day:messages'], v_cap)], e.type,
               CASE WHEN v_cap LIKE 'day:%' THEN jsonb_build_object('day', to_char(p_day, 'YYYY-MM-DD'), 'limit', e.cap)
                    ELSE jsonb_build_object('period_start', to_char(p_month, 'YYYY-MM-DD'), 'limit', e.cap) END,
               e.type || ':' || CASE WHEN v_cap LIKE 'day:%' THEN to_char(p_day, 'YYYY-MM-DD') ELSE to_char(p_month, 'YYYY-MM-DD') END
          FROM (SELECT CASE v_cap WHEN 'day:new_contacts' THEN 'new_contacts.daily_cap_reached'
                                  WHEN 'month:new_contacts' THEN 'new_contacts.monthly_cap_reached'
                                  ELSE 'messages.daily_cap_reached' END AS type,
                       CASE v_cap WHEN 'day:new_contacts' THEN p_new_per_day
                                  WHEN 'month:new_contacts' THEN p_new_per_month
                                  ELSE p_messages_per_day END AS cap) e
        ON CONFLICT (tenant_id, dedupe_key) DO NOTHING;
      END LOOP;
      RETURN COALESCE(v_over, 'ok');
    END
    $$`);

  // Pooled lines on which another tenant holds an active conversation with a
  // number (a message either way in the last 30 days): the router must not
  // send to that number from those lines. Returns line ids only.
  await knex.raw(`
    CREATE FUNCTION senderz_lines_held_by_others(p_tenant_id text, p_phone_number text)
    RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT COALESCE(array_agg(DISTINCT c.line_id), ARRAY[]::text[])
        FROM conversations c JOIN phone_lines l ON l.id = c.line_id AND l.mode = 'pooled'
       WHERE c.phone_number = p_phone_number AND c.tenant_id <> p_tenant_id
         AND GREATEST(c.last_outbound_at, COALESCE(c.last_inbound_at, c.last_outbound_at)) > now() - interval '30 days'
    $$`);
  await knex.raw('REVOKE ALL ON FUNCTION senderz_lines_held_by_others(text, text) FROM PUBLIC');

  // An inbound message on a pooled line belongs to the one tenant that holds
  // the conversation with that number on that line (the most recent, should
  // history from before the rule hold several).
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_conversation_owner(p_line_id text, p_phone_number text)
    RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT c.tenant_id FROM conversations c
       WHERE c.line_id = p_line_id AND c.phone_number = p_phone_number
       ORDER BY GREATEST(c.last_outbound_at, COALESCE(c.last_inbound_at, c.last_outbound_at)) DESC LIMIT 1
    $$`);

  // Who owns a record the caller's tenant could not find: the only way to tell
  // "does not exist" from "another tenant's" (a probe worth a security log)
  // once row-level security hides the row. Tables are an allow-list; only the
  // owning tenant's id comes back, and callers answer the same 404 either way.
  await knex.raw(`
    CREATE FUNCTION senderz_record_owner(p_table text, p_id text)
    RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      v_owner text;
    BEGIN
      IF p_table NOT IN ('messages', 'contacts', 'contact_groups', 'templates', 'campaigns', 'webhooks', 'webhook_deliveries',
                         'webhook_events', 'api_keys', 'ai_sources', 'consent_logs', 'billing_events', 'contact_imports') THEN
        RETURN NULL;
      END IF;
      EXECUTE format('SELECT tenant_id FROM %I WHERE id = $1 LIMIT 1', p_table) INTO v_owner USING p_id;
      RETURN v_owner;
    END
    $$`);
  await knex.raw('REVOKE ALL ON FUNCTION senderz_record_owner(text, text) FROM PUBLIC');

  // What the router needs to decide, in one read: the message, whether the
  // recipient opted out, the tenant's line for this recipient, the cached
  // capabilities and the pooled lines another tenant holds for the number.
  // A message no longer queued drops its routing outbox row here.
  await knex.raw(`
    CREATE FUNCTION senderz_route_context(p_tenant_id text, p_message_id text)
    RETURNS TABLE (status text, direction text, sandbox boolean, system_reply boolean, to_number text,
                   requested_channel text, message_type text, campaign_id text, pinned_from text, created_at timestamptz,
                   opted_out boolean, sticky_line_id text, cap_imessage boolean, cap_sms boolean, cap_rcs boolean, held_lines text[],
                   plan text, limits jsonb, pool text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      m record;
    BEGIN
      PERFORM set_config('app.tenant_id', p_tenant_id, true);
      SELECT * INTO m FROM messages WHERE messages.tenant_id = p_tenant_id AND messages.id = p_message_id;
      IF NOT FOUND THEN RETURN; END IF;
      IF m.status <> 'queued' OR m.direction <> 'outbound' OR m.sandbox THEN
        DELETE FROM outbox o WHERE o.queue = 'sending' AND o.job_name = 'route-message' AND o.ref_id = p_message_id AND o.tenant_id = p_tenant_id;
      END IF;
      RETURN QUERY
      SELECT m.status, m.direction, m.sandbox, m.system_reply, m.to_number, m.requested_channel, m.message_type,
             m.campaign_id, m.pinned_from, m.created_at,
             EXISTS (SELECT 1 FROM opt_outs x WHERE x.tenant_id = p_tenant_id AND x.phone_number = m.to_number AND x.active),
             (SELECT c.line_id FROM conversations c WHERE c.phone_number = m.to_number AND c.tenant_id = p_tenant_id
               ORDER BY c.last_outbound_at DESC LIMIT 1),
             k.imessage, k.sms, k.rcs,
             senderz_lines_held_by_others(p_tenant_id, m.to_number),
             t.plan, t.limits, t.pool
        FROM tenants t
        LEFT JOIN capability_checks k ON k.tenant_id = p_tenant_id AND k.phone_number = m.to_number AND k.expires_at > now()
       WHERE t.id = p_tenant_id;
    END
    $$`);

  // The routing decision, committed in one statement. p_action:
  //   dispatch: take usage slots, then queued → sending on p_line_id with a
  //             pending dispatch row (the durable intent to push it);
  //   wait:     take usage slots, then keep it queued until p_until (no line);
  //   defer:    keep it queued until p_until with reason p_reason;
  //   block / fail: the message ends with p_reason.
  // Over a daily cap it waits until p_until_midnight (daily_limit); over the
  // monthly cap it is blocked (monthly_limit). Returns what happened and the
  // webhook job to enqueue, if any.
  await knex.raw(`
    CREATE FUNCTION senderz_route_commit(
      p_tenant_id text, p_message_id text, p_action text, p_reason text,
      p_line_id text, p_from text, p_channel text, p_dispatch_id text, p_priority integer,
      p_until timestamptz, p_capabilities jsonb,
      p_new_per_day integer, p_new_per_month integer, p_messages_per_day integer,
      p_day date, p_month date, p_event_ids text[], p_until_midnight timestamptz)
    RETURNS TABLE (outcome text, seq integer, announced boolean)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_status text;
      v_to text;
      v_slots text;
      v_t record;
    BEGIN
      PERFORM set_config('app.tenant_id', p_tenant_id, true);
      IF p_capabilities IS NOT NULL THEN
        INSERT INTO capability_checks (tenant_id, phone_number, imessage, sms, rcs, checked_at, expires_at)
        VALUES (p_tenant_id, p_capabilities->>'number', (p_capabilities->>'imessage')::boolean, COALESCE((p_capabilities->>'sms')::boolean, true),
                COALESCE((p_capabilities->>'rcs')::boolean, false), now(), now() + interval '90 days')
        ON CONFLICT (tenant_id, phone_number) DO UPDATE
          SET imessage = EXCLUDED.imessage, sms = EXCLUDED.sms, rcs = EXCLUDED.rcs, checked_at = EXCLUDED.checked_at, expires_at = EXCLUDED.expires_at;
      END IF;
      SELECT m.status, m.to_number INTO v_status, v_to FROM messages m
       WHERE m.tenant_id = p_tenant_id AND m.id = p_message_id FOR UPDATE;
      IF NOT FOUND THEN RETURN QUERY SELECT 'missing'::text, 0, false; RETURN; END IF;
      IF v_status <> 'queued' THEN
        DELETE FROM outbox o WHERE o.queue = 'sending' AND o.job_name = 'route-message' AND o.ref_id = p_message_id AND o.tenant_id = p_tenant_id;
        RETURN QUERY SELECT 'not_queued'::text, 0, false;
        RETURN;
      END IF;

      IF p_action IN ('block', 'fail') THEN
        SELECT * INTO v_t FROM senderz_transition_message(p_tenant_id, p_message_id, CASE p_action WHEN 'block' THEN 'blocked' ELSE 'failed' END, p_reason, now());
        DELETE FROM outbox o WHERE o.queue = 'sending' AND o.job_name = 'route-message' AND o.ref_id = p_message_id AND o.tenant_id = p_tenant_id;
        RETURN QUERY SELECT p_action, v_t.seq, v_t.announced;
        RETURN;
      END IF;

      IF p_action = 'defer' THEN
        UPDATE messages m SET release_at = p_until, reason = p_reason, updated_at = now()
         WHERE m.tenant_id = p_tenant_id AND m.id = p_message_id;
        UPDATE outbox o SET available_at = p_until, enqueued_at = NULL
         WHERE o.queue = 'sending' AND o.job_name = 'route-message' AND o.ref_id = p_message_id AND o.tenant_id = p_tenant_id;
        RETURN QUERY SELECT 'defer'::text, 0, false;
        RETURN;
      END IF;

      IF p_action = 'dispatch' THEN
        -- The line as it is now (the router chose from a short-lived cache).
        IF NOT EXISTS (SELECT 1 FROM phone_lines l WHERE l.id = p_line_id AND l.enabled AND l.status = 'online') THEN
          RETURN QUERY SELECT 'line_gone'::text, 0, false;
          RETURN;
        END IF;
        -- On a pooled line a number belongs to one tenant at a time: the lock
        -- makes "nobody else holds it" and "now we do" one step.
        PERFORM pg_advisory_xact_lock(hashtextextended(p_line_id || ':' || v_to, 0));
        IF p_line_id = ANY (senderz_lines_held_by_others(p_tenant_id, v_to)) THEN
          RETURN QUERY SELECT 'held'::text, 0, false;
          RETURN;
        END IF;
      END IF;

      -- No day given: the router runs without the usage-cap check.
      v_slots := CASE WHEN p_day IS NULL THEN 'ok'
                      ELSE senderz_take_usage_slots(p_tenant_id, p_message_id, p_new_per_day, p_new_per_month, p_messages_per_day, p_day, p_month, p_event_ids) END;
      IF v_slots LIKE 'month:%' THEN
        SELECT * INTO v_t FROM senderz_transition_message(p_tenant_id, p_message_id, 'blocked', 'monthly_limit', now());
        DELETE FROM outbox o WHERE o.queue = 'sending' AND o.job_name = 'route-message' AND o.ref_id = p_message_id AND o.tenant_id = p_tenant_id;
        RETURN QUERY SELECT 'block'::text, v_t.seq, v_t.announced;
        RETURN;
      END IF;
      IF v_slots LIKE 'day:%' OR p_action = 'wait' THEN
        UPDATE messages m SET release_at = CASE WHEN v_slots = 'ok' THEN m.release_at ELSE p_until_midnight END,
                              reason = CASE WHEN v_slots = 'ok' THEN m.reason ELSE 'daily_limit' END, updated_at = now()
         WHERE m.tenant_id = p_tenant_id AND m.id = p_message_id;
        UPDATE outbox o SET available_at = CASE WHEN v_slots = 'ok' THEN p_until ELSE p_until_midnight END, enqueued_at = NULL
         WHERE o.queue = 'sending' AND o.job_name = 'route-message' AND o.ref_id = p_message_id AND o.tenant_id = p_tenant_id;
        RETURN QUERY SELECT CASE WHEN v_slots = 'ok' THEN 'wait' ELSE 'defer' END, 0, false;
        RETURN;
      END IF;

      -- dispatch
      SELECT * INTO v_t FROM senderz_transition_message(p_tenant_id, p_message_id, 'sending', NULL, now(), p_line_id, p_from, p_channel);
      INSERT INTO dispatches (tenant_id, id, message_id, line_id, channel, priority)
      VALUES (p_tenant_id, p_dispatch_id, p_message_id, p_line_id, p_channel, p_priority);
      INSERT INTO conversations AS c (tenant_id, line_id, phone_number, last_outbound_at)
      VALUES (p_tenant_id, p_line_id, v_to, now())
      ON CONFLICT (tenant_id, line_id, phone_number) DO UPDATE SET last_outbound_at = now();
      DELETE FROM outbox o WHERE o.queue = 'sending' AND o.job_name = 'route-message' AND o.ref_id = p_message_id AND o.tenant_id = p_tenant_id;
      RETURN QUERY SELECT 'dispatch'::text, v_t.seq, v_t.announced;
    END
    $$`);

  // The dispatcher's read: the dispatch and its message, in the tenant's scope.
  await knex.raw(`
    CREATE FUNCTION senderz_dispatch_context(p_tenant_id text, p_dispatch_id text)
    RETURNS TABLE (dispatch_status text, message_id text, line_id text, channel text, message_status text,
                   to_number text, body text, requested_channel text, message_type text, line_enabled boolean, line_status text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    BEGIN
      PERFORM set_config('app.tenant_id', p_tenant_id, true);
      RETURN QUERY
      SELECT d.status, d.message_id, d.line_id, d.channel, m.status, m.to_number, m.body, m.requested_channel, m.message_type, l.enabled, l.status
        FROM dispatches d JOIN messages m ON m.tenant_id = d.tenant_id AND m.id = d.message_id
        JOIN phone_lines l ON l.id = d.line_id
       WHERE d.tenant_id = p_tenant_id AND d.id = p_dispatch_id;
    END
    $$`);

  // Several jobs' reads and decisions in one statement: the router and the
  // dispatcher gather the calls their concurrent jobs make while a statement
  // is in flight. Each item runs in its own tenant's scope, through the same
  // single-item function; rows come back tagged with the item's position.
  await knex.raw(`
    CREATE FUNCTION senderz_route_contexts(p_items jsonb)
    RETURNS TABLE (item integer, context jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_position integer := 0;
      v_item jsonb;
    BEGIN
      FOR v_item IN SELECT e.value FROM jsonb_array_elements(p_items) e LOOP
        RETURN QUERY SELECT v_position, to_jsonb(c) FROM senderz_route_context(v_item->>'tenant_id', v_item->>'message_id') c;
        v_position := v_position + 1;
      END LOOP;
      PERFORM set_config('app.tenant_id', '', true);
    END
    $$`);
  await knex.raw(`
    CREATE FUNCTION senderz_route_commits(p_items jsonb)
    RETURNS TABLE (item integer, outcome text, seq integer, announced boolean)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_position integer := 0;
      x jsonb;
    BEGIN
      FOR x IN SELECT e.value FROM jsonb_array_elements(p_items) e LOOP
        RETURN QUERY SELECT v_position, c.outcome, c.seq, c.announced FROM senderz_route_commit(
          x->>'tenant_id', x->>'message_id', x->>'action', x->>'reason', x->>'line_id', x->>'from', x->>'channel', x->>'dispatch_id',
          COALESCE((x->>'priority')::integer, 0), (x->>'until')::timestamptz, NULLIF(x->'capabilities', 'null'::jsonb),
          (x->>'new_per_day')::integer, (x->>'new_per_month')::integer, (x->>'messages_per_day')::integer,
          (x->>'day')::date, (x->>'month')::date,
          ARRAY(SELECT jsonb_array_elements_text(COALESCE(NULLIF(x->'event_ids', 'null'::jsonb), '[]'::jsonb))),
          (x->>'until_midnight')::timestamptz) c;
        v_position := v_position + 1;
      END LOOP;
      PERFORM set_config('app.tenant_id', '', true);
    END
    $$`);
  await knex.raw(`
    CREATE FUNCTION senderz_dispatch_contexts(p_items jsonb)
    RETURNS TABLE (item integer, context jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_position integer := 0;
      v_item jsonb;
    BEGIN
      FOR v_item IN SELECT e.value FROM jsonb_array_elements(p_items) e LOOP
        RETURN QUERY SELECT v_position, to_jsonb(c) FROM senderz_dispatch_context(v_item->>'tenant_id', v_item->>'dispatch_id') c;
        v_position := v_position + 1;
      END LOOP;
      PERFORM set_config('app.tenant_id', '', true);
    END
    $$`);

  // Pushes the bridges accepted, recorded together: [{tenant_id, dispatch_id}],
  // each in its own tenant's scope.
  await knex.raw(`
    CREATE FUNCTION senderz_record_accepted(p_accepted jsonb)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_item jsonb;
      v_rows integer;
      v_total integer := 0;
    BEGIN
      FOR v_item IN SELECT * FROM jsonb_array_elements(p_accepted) LOOP
        PERFORM set_config('app.tenant_id', v_item->>'tenant_id', true);
        UPDATE dispatches d SET status = 'accepted', attempts = d.attempts + 1, updated_at = now()
         WHERE d.tenant_id = v_item->>'tenant_id' AND d.id = v_item->>'dispatch_id' AND d.status = 'pending';
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        v_total := v_total + v_rows;
      END LOOP;
      PERFORM set_config('app.tenant_id', '', true);
      RETURN v_total;
    END
    $$`);

  // A batch of status reports from one line (sent / delivered / read /
  // failed), applied in one statement. Each report is de-duplicated per line
  // by event id, must name a dispatch of this line, and moves its message
  // forward only. p_reports: [{id, type, dispatch_id, reason, occurred_at}].
  // Returns one row per report: what happened, and the webhook job if any.
  await knex.raw(`
    CREATE FUNCTION senderz_apply_status_reports(p_line_id text, p_reports jsonb)
    RETURNS TABLE (event_id text, outcome text, tenant_id text, message_id text, seq integer, announced boolean, dispatch_line_id text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      r jsonb;
      o record;
      v_t record;
      v_rows integer;
      v_status text;
    BEGIN
      FOR r IN SELECT * FROM jsonb_array_elements(p_reports) LOOP
        SELECT * INTO o FROM senderz_dispatch_owner(r->>'dispatch_id');
        IF NOT FOUND THEN
          RETURN QUERY SELECT r->>'id', 'unknown_dispatch'::text, NULL::text, NULL::text, 0, false, NULL::text;
          CONTINUE;
        END IF;
        IF o.line_id <> p_line_id THEN
          RETURN QUERY SELECT r->>'id', 'foreign_dispatch'::text, o.tenant_id, NULL::text, 0, false, o.line_id;
          CONTINUE;
        END IF;
        PERFORM set_config('app.tenant_id', o.tenant_id, true);
        INSERT INTO device_events_seen (line_id, event_id) VALUES (p_line_id, r->>'id') ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows = 0 THEN
          RETURN QUERY SELECT r->>'id', 'repeat'::text, o.tenant_id, o.message_id, 0, false, o.line_id;
          CONTINUE;
        END IF;
        -- A report for a dispatch that was re-routed, rejected or cancelled moves nothing.
        UPDATE dispatches d SET status = r->>'type', last_error = r->>'reason', updated_at = now()
         WHERE d.tenant_id = o.tenant_id AND d.id = r->>'dispatch_id' AND d.status NOT IN ('rerouted', 'rejected', 'cancelled');
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows = 0 THEN
          RETURN QUERY SELECT r->>'id', 'settled_dispatch'::text, o.tenant_id, o.message_id, 0, false, o.line_id;
          CONTINUE;
        END IF;
        v_status := r->>'type';
        SELECT * INTO v_t FROM senderz_transition_message(o.tenant_id, o.message_id, v_status,
          CASE WHEN v_status = 'failed' THEN r->>'reason' ELSE NULL END, (r->>'occurred_at')::timestamptz);
        RETURN QUERY SELECT r->>'id', CASE WHEN v_t.changed THEN 'applied' ELSE 'unchanged' END, o.tenant_id, o.message_id, v_t.seq, v_t.announced, o.line_id;
      END LOOP;
      PERFORM set_config('app.tenant_id', '', true);
    END
    $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS senderz_apply_status_reports(text, jsonb)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_record_accepted(jsonb)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_dispatch_contexts(jsonb)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_route_commits(jsonb)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_route_contexts(jsonb)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_dispatch_context(text, text)');
  await knex.raw(
    'DROP FUNCTION IF EXISTS senderz_route_commit(text, text, text, text, text, text, text, text, integer, timestamptz, jsonb, integer, integer, integer, date, date, text[], timestamptz)',
  );
  await knex.raw('DROP FUNCTION IF EXISTS senderz_route_context(text, text)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_lines_held_by_others(text, text)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_record_owner(text, text)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_take_usage_slots(text, text, integer, integer, integer, date, date, text[])');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_transition_message(text, text, text, text, timestamptz, text, text, text)');
  await knex.raw(`
    CREATE OR REPLACE FUNCTION senderz_conversation_owner(p_line_id text, p_phone_number text)
    RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT c.tenant_id FROM conversations c
       WHERE c.line_id = p_line_id AND c.phone_number = p_phone_number
       ORDER BY c.last_outbound_at DESC LIMIT 1
    $$`);
  await knex.raw(`
    INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority, available_at)
    SELECT d.tenant_id, 'dispatch', 'dispatch-message', d.id,
           jsonb_build_object('tenantId', d.tenant_id, 'messageId', d.message_id, 'dispatchId', d.id), d.priority, d.available_at
      FROM dispatches d WHERE d.status = 'pending'
    ON CONFLICT (queue, job_name, ref_id) DO NOTHING`);
  await knex.raw('ALTER TABLE dispatches DROP COLUMN priority, DROP COLUMN available_at, DROP COLUMN enqueued_at');
  await knex.raw('ALTER TABLE messages DROP COLUMN device_occurred_at');
}
