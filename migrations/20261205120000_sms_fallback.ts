import type { Knex } from 'knex';

/**
 * SMS fallback after an accepted iMessage fails. A bridge may take an
 * iMessage push (202) and only later learn that the recipient cannot get it
 * (`failed` with `not_imessage` or `undeliverable`). For a message sent with
 * channel `auto` the report no longer fails the message: it is marked
 * `was_downgraded`, its channel becomes `sms`, and a new pending dispatch
 * `<dispatch id>_sms` on the same line carries it again over SMS (the
 * dispatcher moves it to another line when this one has no SMS). The id is
 * derived from the failed dispatch and the flag is set once, so a report
 * repeated under another event id, a replayed batch or a crash between the
 * report and the push never makes a second SMS.
 *
 * Only senderz_apply_status_reports changes, and only in its `failed` branch;
 * the status rules stay in senderz_transition_message.
 */

const DROP_APPLY = 'DROP FUNCTION senderz_apply_status_reports(text, jsonb)';
const DOWNGRADE_REASONS = "('not_imessage', 'undeliverable')";

function applyStatusReports(fallback: boolean): string {
  const declarations = fallback
    ? `
      v_channel text;
      v_priority integer;
      v_seq integer;
      v_current text;
      v_to text;`
    : '';
  const downgrade = fallback
    ? `
        -- An accepted iMessage the recipient cannot get: an auto message goes again over SMS, once.
        IF v_status = 'failed' AND r->>'reason' IN ${DOWNGRADE_REASONS} THEN
          SELECT d.channel, d.priority INTO v_channel, v_priority FROM dispatches d WHERE d.tenant_id = o.tenant_id AND d.id = r->>'dispatch_id';
          IF v_channel = 'imessage' THEN
            UPDATE messages m SET channel = 'sms', was_downgraded = true, updated_at = now(), last_sequence = m.last_sequence + 1
             WHERE m.tenant_id = o.tenant_id AND m.id = o.message_id AND m.requested_channel = 'auto'
               AND m.status IN ('sending', 'sent') AND NOT m.was_downgraded
             RETURNING m.last_sequence, m.status, m.to_number INTO v_seq, v_current, v_to;
            IF FOUND THEN
              INSERT INTO message_events (tenant_id, message_id, sequence, status, reason, occurred_at)
              VALUES (o.tenant_id, o.message_id, v_seq, v_current, 'sms_fallback', COALESCE((r->>'occurred_at')::timestamptz, now()));
              INSERT INTO dispatches (tenant_id, id, message_id, line_id, channel, priority)
              VALUES (o.tenant_id, (r->>'dispatch_id') || '_sms', o.message_id, p_line_id, 'sms', v_priority)
              ON CONFLICT DO NOTHING;
              -- As a refused push does: the next message to this number goes straight to SMS.
              INSERT INTO capability_checks (tenant_id, phone_number, imessage, sms, rcs, checked_at, expires_at)
              VALUES (o.tenant_id, v_to, false, true, false, now(), now() + interval '90 days')
              ON CONFLICT (tenant_id, phone_number) DO UPDATE SET imessage = false, checked_at = now();
              RETURN QUERY SELECT r->>'id', 'downgraded'::text, o.tenant_id, o.message_id, v_seq, false, o.line_id, v_priority;
              CONTINUE;
            END IF;
            -- The same failure said again (under another event id): the SMS already carries the message.
            IF EXISTS (SELECT 1 FROM dispatches d WHERE d.tenant_id = o.tenant_id AND d.id = (r->>'dispatch_id') || '_sms') THEN
              RETURN QUERY SELECT r->>'id', 'unchanged'::text, o.tenant_id, o.message_id, 0, false, o.line_id, NULL::integer;
              CONTINUE;
            END IF;
          END IF;
        END IF;`
    : '';
  // The fallback's rows also carry the new dispatch's priority, for its job.
  const extra = fallback ? ', NULL::integer' : '';
  return `
    CREATE FUNCTION senderz_apply_status_reports(p_line_id text, p_reports jsonb)
    RETURNS TABLE (event_id text, outcome text, tenant_id text, message_id text, seq integer, announced boolean, dispatch_line_id text${fallback ? ', priority integer' : ''})
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      r jsonb;
      o record;
      v_t record;
      v_rows integer;
      v_status text;${declarations}
    BEGIN
      FOR r IN SELECT * FROM jsonb_array_elements(p_reports) LOOP
        SELECT * INTO o FROM senderz_dispatch_owner(r->>'dispatch_id');
        IF NOT FOUND THEN
          RETURN QUERY SELECT r->>'id', 'unknown_dispatch'::text, NULL::text, NULL::text, 0, false, NULL::text${extra};
          CONTINUE;
        END IF;
        IF o.line_id <> p_line_id THEN
          RETURN QUERY SELECT r->>'id', 'foreign_dispatch'::text, o.tenant_id, NULL::text, 0, false, o.line_id${extra};
          CONTINUE;
        END IF;
        PERFORM set_config('app.tenant_id', o.tenant_id, true);
        INSERT INTO device_events_seen (line_id, event_id) VALUES (p_line_id, r->>'id') ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows = 0 THEN
          RETURN QUERY SELECT r->>'id', 'repeat'::text, o.tenant_id, o.message_id, 0, false, o.line_id${extra};
          CONTINUE;
        END IF;
        -- A report for a dispatch that was re-routed, rejected or cancelled moves nothing.
        UPDATE dispatches d SET status = r->>'type', last_error = r->>'reason', updated_at = now()
         WHERE d.tenant_id = o.tenant_id AND d.id = r->>'dispatch_id' AND d.status NOT IN ('rerouted', 'rejected', 'cancelled');
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows = 0 THEN
          RETURN QUERY SELECT r->>'id', 'settled_dispatch'::text, o.tenant_id, o.message_id, 0, false, o.line_id${extra};
          CONTINUE;
        END IF;
        v_status := r->>'type';${downgrade}
        SELECT * INTO v_t FROM senderz_transition_message(o.tenant_id, o.message_id, v_status,
          CASE WHEN v_status = 'failed' THEN r->>'reason' ELSE NULL END, (r->>'occurred_at')::timestamptz);
        RETURN QUERY SELECT r->>'id', CASE WHEN v_t.changed THEN 'applied' ELSE 'unchanged' END, o.tenant_id, o.message_id, v_t.seq, v_t.announced, o.line_id${extra};
      END LOOP;
      PERFORM set_config('app.tenant_id', '', true);
    END
    $$`;
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE messages ADD COLUMN was_downgraded boolean NOT NULL DEFAULT false');
  await knex.raw(DROP_APPLY);
  await knex.raw(applyStatusReports(true));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(DROP_APPLY);
  await knex.raw(applyStatusReports(false));
  await knex.raw('ALTER TABLE messages DROP COLUMN was_downgraded');
}
