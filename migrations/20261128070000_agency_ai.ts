import type { Knex } from 'knex';

/**
 * Agency subaccounts and AI auto-replies.
 *
 * - `agency_links.suspended_at`: set when the agency (not the operator)
 *   suspended its client, so an agency can only lift its own suspension.
 * - `agency_line_assignments`: a line the operator allotted to an agency and
 *   the agency handed to one of its clients. While assigned, the line is
 *   dedicated to the client; the row remembers what to restore on unassign.
 *   An operator table: row-level security is forced with no policy for the
 *   runtime role, so the application role can neither read nor write it.
 * - `auto_reply_log.kind/status/...`: the keyword handler's confirmation
 *   markers ('keyword', the default) and AI auto-replies ('auto_reply') share
 *   the table; an auto-reply row is the claim that makes a retried inbound job
 *   reply at most once, and `reply_message_id` tells auto-replies apart from
 *   messages a person sent (manual takeover).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agency_links', (t) => {
    t.timestamp('suspended_at', { useTz: true });
  });

  await knex.schema.createTable('agency_line_assignments', (t) => {
    t.text('line_id').primary().references('id').inTable('phone_lines').onDelete('CASCADE');
    t.text('agency_tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('client_tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('previous_mode').notNullable();
    t.text('previous_tenant_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['agency_tenant_id']);
    t.index(['client_tenant_id']);
    t.check("previous_mode IN ('pooled','dedicated')", [], 'agency_line_assignments_mode_check');
  });
  await knex.raw('ALTER TABLE agency_line_assignments ENABLE ROW LEVEL SECURITY');
  await knex.raw('ALTER TABLE agency_line_assignments FORCE ROW LEVEL SECURITY');
  await knex.raw('CREATE POLICY owner_access ON agency_line_assignments TO CURRENT_USER USING (true) WITH CHECK (true)');

  await knex.schema.alterTable('auto_reply_log', (t) => {
    t.text('kind').notNullable().defaultTo('keyword');
    // auto_reply rows: claimed → replied, or skipped (with a reason).
    t.text('status');
    t.text('reason');
    t.text('responder');
    t.text('reply_message_id');
    t.index(['tenant_id', 'reply_message_id']);
  });
  await knex.raw("ALTER TABLE auto_reply_log ADD CONSTRAINT auto_reply_log_kind_check CHECK (kind IN ('keyword','auto_reply'))");
  await knex.raw(
    "ALTER TABLE auto_reply_log ADD CONSTRAINT auto_reply_log_status_check CHECK (status IS NULL OR status IN ('claimed','replied','skipped'))",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE auto_reply_log DROP CONSTRAINT IF EXISTS auto_reply_log_status_check');
  await knex.raw('ALTER TABLE auto_reply_log DROP CONSTRAINT IF EXISTS auto_reply_log_kind_check');
  await knex.schema.alterTable('auto_reply_log', (t) => {
    t.dropIndex(['tenant_id', 'reply_message_id']);
    t.dropColumn('reply_message_id');
    t.dropColumn('responder');
    t.dropColumn('reason');
    t.dropColumn('status');
    t.dropColumn('kind');
  });
  await knex.schema.dropTableIfExists('agency_line_assignments');
  await knex.schema.alterTable('agency_links', (t) => {
    t.dropColumn('suspended_at');
  });
}
