import type { Knex } from 'knex';

/**
 * Every send holds a key-share lock on its line's row until it commits: each
 * insert that references the line (the dispatch, the conversation, the
 * device event) checks its foreign key that way. A heartbeat and a health
 * probe locked the row FOR UPDATE, which waits for all of those to commit and
 * makes every new one queue behind it: every 10 to 30 s the line's traffic
 * stalled for as long as its longest transaction in flight. Neither changes
 * the line's key, so FOR NO KEY UPDATE is enough: heartbeats and probes of a
 * line still run one at a time, and sends go on beside them.
 */
const HEARTBEAT = (lock: 'FOR NO KEY UPDATE' | 'FOR UPDATE') => `
    CREATE OR REPLACE FUNCTION senderz_record_heartbeat(p_line_id text, p_occurred_at timestamptz, p_health jsonb, p_id_prefix text)
    RETURNS TABLE (tenant_id text, event_id text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    #variable_conflict use_column
    DECLARE
      v_was text;
      v_seen timestamptz;
      v_now text;
    BEGIN
      SELECT l.status, l.last_heartbeat_at INTO v_was, v_seen FROM phone_lines l WHERE l.id = p_line_id ${lock};
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
    $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(HEARTBEAT('FOR NO KEY UPDATE'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(HEARTBEAT('FOR UPDATE'));
}
