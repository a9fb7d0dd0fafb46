import type { Knex } from 'knex';

/**
 * Media attachments: one row per attachment of a message, in order. The bytes
 * live in PostgreSQL (bytea, at most 5 MiB each, 10 per message): they share
 * the message's transaction, its tenant key and its row-level security, they
 * are in every backup, and the API and worker processes (which may run on
 * different hosts) need no shared disk. The dispatcher's one-statement read
 * gains the message's attachments (metadata only, never the bytes).
 */

const CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')";

const DISPATCH_CONTEXT_BODY = (withMedia: boolean) => `
    CREATE FUNCTION senderz_dispatch_context(p_tenant_id text, p_dispatch_id text)
    RETURNS TABLE (dispatch_status text, message_id text, line_id text, channel text, message_status text,
                   to_number text, body text, requested_channel text, message_type text, line_enabled boolean, line_status text${withMedia ? ', media jsonb' : ''})
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public AS $$
    #variable_conflict use_column
    BEGIN
      PERFORM set_config('app.tenant_id', p_tenant_id, true);
      RETURN QUERY
      SELECT d.status, d.message_id, d.line_id, d.channel, m.status, m.to_number, m.body, m.requested_channel, m.message_type, l.enabled, l.status${
        withMedia
          ? `,
             (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', mm.id, 'status', mm.status, 'content_type', mm.content_type,
                                                           'size', mm.size_bytes, 'filename', mm.filename) ORDER BY mm.position), '[]'::jsonb)
                FROM message_media mm WHERE mm.tenant_id = d.tenant_id AND mm.message_id = d.message_id)`
          : ''
      }
        FROM dispatches d JOIN messages m ON m.tenant_id = d.tenant_id AND m.id = d.message_id
        JOIN phone_lines l ON l.id = d.line_id
       WHERE d.tenant_id = p_tenant_id AND d.id = p_dispatch_id;
    END
    $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('message_media', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('message_id').notNullable();
    t.smallint('position').notNullable();
    // Where the tenant (outbound) or the bridge (inbound) said the attachment is.
    t.text('source_url').notNullable();
    // pending: not fetched yet; stored: content holds the bytes; failed: error says why;
    // purged: the bytes were cleared with the message body after the retention period.
    t.text('status').notNullable().defaultTo('pending');
    t.text('content_type');
    t.integer('size_bytes');
    t.text('filename');
    t.binary('content');
    t.text('error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('stored_at', { useTz: true });
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'message_id', 'position']);
    t.index(['created_at'], 'message_media_stored_created_at_idx', { predicate: knex.whereRaw("status = 'stored'") });
    t.foreign(['tenant_id', 'message_id']).references(['tenant_id', 'id']).inTable('messages').onDelete('CASCADE');
  });
  await knex.raw("ALTER TABLE message_media ADD CONSTRAINT message_media_status_check CHECK (status IN ('pending', 'stored', 'failed', 'purged'))");
  await knex.raw('ALTER TABLE message_media ENABLE ROW LEVEL SECURITY');
  await knex.raw('ALTER TABLE message_media FORCE ROW LEVEL SECURITY');
  await knex.raw(`CREATE POLICY tenant_isolation ON message_media USING (tenant_id = ${CURRENT_TENANT}) WITH CHECK (tenant_id = ${CURRENT_TENANT})`);
  await knex.raw('CREATE POLICY owner_access ON message_media TO CURRENT_USER USING (true) WITH CHECK (true)');

  await knex.raw('DROP FUNCTION senderz_dispatch_context(text, text)');
  await knex.raw(DISPATCH_CONTEXT_BODY(true));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION senderz_dispatch_context(text, text)');
  await knex.raw(DISPATCH_CONTEXT_BODY(false));
  await knex.schema.dropTable('message_media');
}
