import type { Knex } from 'knex';

/**
 * Line and usage alerts as webhook events.
 *
 * - `line.offline` / `line.online` go to every tenant that may send from the
 *   line (the dedicated line's tenant; for a pooled line every tenant of its
 *   pool) that has an enabled endpoint subscribed, each as its own event in its
 *   own log: a tenant learns only about the line, never who else uses it. The
 *   event rows and their outbox rows are written in the statement that changes
 *   the line's status, so a crash never loses an alert nor sends one twice.
 * - `health_failed_at`: the bridge's `GET /v1/health` answered unhealthy (or
 *   did not answer) at the last probe. Such a line is offline, and heartbeats
 *   do not bring it back until a probe passes again, so an unhealthy bridge
 *   that still heartbeats does not flap.
 * - `webhook_events.dedupe_key` makes once-per-period events (usage caps
 *   approaching and reached) idempotent per tenant.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE phone_lines ADD COLUMN health_failed_at timestamptz');
  await knex.raw('ALTER TABLE webhook_events ADD COLUMN dedupe_key text');
  await knex.raw('CREATE UNIQUE INDEX webhook_events_tenant_id_dedupe_key_unique ON webhook_events (tenant_id, dedupe_key)');

  // Records `line.<p_status>` for every tenant with access to each line and a
  // subscribed endpoint; returns (tenant, event) for the jobs to enqueue. Event
  // ids are p_id_prefix (a fresh ULID) + '_' + n. SECURITY DEFINER: the
  // heartbeat arrives before any tenant is known; it reads and writes only
  // these events, each in its own tenant's rows.
  await knex.raw(`
    CREATE FUNCTION senderz_announce_line_status(p_line_ids text[], p_status text, p_reason text, p_id_prefix text)
    RETURNS TABLE (tenant_id text, event_id text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_type text := 'line.' || p_status;
      v_at text := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
    BEGIN
      IF p_status NOT IN ('online', 'offline') THEN RAISE EXCEPTION 'unknown line status %', p_status; END IF;
      RETURN QUERY
      WITH audience AS (
        SELECT t.id AS tenant_id, l.id AS line_id, l.phone_number, l.mode,
               row_number() OVER (ORDER BY l.id, t.id) AS n
          FROM phone_lines l
          JOIN tenants t ON (l.mode = 'dedicated' AND t.id = l.tenant_id) OR (l.mode = 'pooled' AND t.pool = l.pool)
         WHERE l.id = ANY (p_line_ids) AND l.enabled
           AND EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = t.id AND w.enabled AND v_type = ANY (w.events))
      ), events AS (
        INSERT INTO webhook_events (tenant_id, id, type, sandbox, payload)
        SELECT a.tenant_id, p_id_prefix || '_' || a.n, v_type, false,
               jsonb_build_object('event', v_type, 'event_id', p_id_prefix || '_' || a.n, 'tenant_id', a.tenant_id,
                                  'line_id', a.line_id, 'phone_number', a.phone_number, 'mode', a.mode,
                                  'status', p_status, 'reason', p_reason, p_status || '_at', v_at)
          FROM audience a
        RETURNING webhook_events.tenant_id, webhook_events.id
      ), jobs AS (
        INSERT INTO outbox (tenant_id, queue, job_name, ref_id, payload, priority)
        SELECT e.tenant_id, 'webhooks', 'fan-out-event', e.id, jsonb_build_object('tenantId', e.tenant_id, 'eventId', e.id), 0
          FROM events e
        ON CONFLICT (queue, job_name, ref_id) DO NOTHING
        RETURNING outbox.tenant_id, outbox.ref_id
      )
      SELECT j.tenant_id, j.ref_id FROM jobs j;
    END
    $$`);
  await knex.raw('REVOKE ALL ON FUNCTION senderz_announce_line_status(text[], text, text, text) FROM PUBLIC');

  // A heartbeat: the line is online again (unless its last health probe
  // failed), with its reported health; a line that was offline announces it
  // (not a new line's first heartbeat: nothing was missed).
  await knex.raw(`
    CREATE FUNCTION senderz_record_heartbeat(p_line_id text, p_occurred_at timestamptz, p_health jsonb, p_id_prefix text)
    RETURNS TABLE (tenant_id text, event_id text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_was text;
      v_seen timestamptz;
      v_now text;
    BEGIN
      SELECT l.status, l.last_heartbeat_at INTO v_was, v_seen FROM phone_lines l WHERE l.id = p_line_id FOR UPDATE;
      IF NOT FOUND THEN RETURN; END IF;
      -- A device clock ahead of ours must not keep a line "online" after it went quiet: clamp to now.
      UPDATE phone_lines l
         SET status = CASE WHEN l.health_failed_at IS NULL THEN 'online' ELSE l.status END,
             last_heartbeat_at = GREATEST(COALESCE(l.last_heartbeat_at, LEAST(p_occurred_at, now())), LEAST(p_occurred_at, now())),
             health = p_health
       WHERE l.id = p_line_id
       RETURNING l.status INTO v_now;
      IF v_was = 'offline' AND v_now = 'online' AND v_seen IS NOT NULL THEN
        RETURN QUERY SELECT * FROM senderz_announce_line_status(ARRAY[p_line_id], 'online', 'heartbeat', p_id_prefix);
      END IF;
    END
    $$`);
  await knex.raw('REVOKE ALL ON FUNCTION senderz_record_heartbeat(text, timestamptz, jsonb, text) FROM PUBLIC');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS senderz_record_heartbeat(text, timestamptz, jsonb, text)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_announce_line_status(text[], text, text, text)');
  await knex.raw('DROP INDEX IF EXISTS webhook_events_tenant_id_dedupe_key_unique');
  await knex.raw('ALTER TABLE webhook_events DROP COLUMN dedupe_key');
  await knex.raw('ALTER TABLE phone_lines DROP COLUMN health_failed_at');
}
