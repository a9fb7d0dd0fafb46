import type { Knex } from 'knex';

/**
 * Compliance and billing: the new-contact claims and monthly counter that make
 * the plan caps exact under concurrent routing, the per-line warm-up counter,
 * and a few columns (manual opt-out reason, consent provenance, the
 * messages-per-day flag). Two guarantees move into the database: no role,
 * not even the owner, can rewrite a consent entry, and no opt-out row can be
 * deleted while its tenant exists.
 */

const CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')";

async function protect(knex: Knex, table: string, column = 'tenant_id'): Promise<void> {
  await knex.raw('ALTER TABLE ?? ENABLE ROW LEVEL SECURITY', [table]);
  await knex.raw('ALTER TABLE ?? FORCE ROW LEVEL SECURITY', [table]);
  await knex.raw(`CREATE POLICY tenant_isolation ON ?? USING (?? = ${CURRENT_TENANT}) WITH CHECK (?? = ${CURRENT_TENANT})`, [
    table,
    column,
    column,
  ]);
  await knex.raw('CREATE POLICY owner_access ON ?? TO CURRENT_USER USING (true) WITH CHECK (true)', [table]);
}

export async function up(knex: Knex): Promise<void> {
  const now = knex.fn.now();

  await knex.schema.alterTable('messages', (t) => {
    // Set once the message took its slot under limits.messages_per_day, so a re-run never takes two.
    t.boolean('counted_daily_message').notNullable().defaultTo(false);
  });

  await knex.schema.alterTable('opt_outs', (t) => {
    t.text('reason');
  });

  await knex.schema.alterTable('consent_logs', (t) => {
    // Which key recorded the entry (null for a portal user), and which fields
    // the platform filled from the recording request because the body left them out.
    t.text('api_key_id');
    t.specificType('filled_from_request', 'text[]').notNullable().defaultTo('{}');
    t.index(['tenant_id', 'consented_at']);
  });

  // One row per (tenant, month, number) that counted as a new contact: the
  // same new number is counted once per month however many messages go to it.
  await knex.schema.createTable('new_contact_claims', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.date('period_start').notNullable();
    t.text('phone_number').notNullable();
    t.date('day').notNullable();
    t.text('message_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(now);
    t.primary(['tenant_id', 'period_start', 'phone_number']);
  });

  await knex.schema.createTable('usage_monthly', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.date('period_start').notNullable();
    t.integer('new_contacts').notNullable().defaultTo(0);
    t.primary(['tenant_id', 'period_start']);
  });

  // Pushes per line per UTC day, for the warm-up schedule. Lines are operator
  // records shared by tenants: the counter holds no tenant data.
  await knex.schema.createTable('line_daily_sends', (t) => {
    t.text('line_id').notNullable().references('id').inTable('phone_lines').onDelete('CASCADE');
    t.date('day').notNullable();
    t.integer('sends').notNullable().defaultTo(0);
    t.primary(['line_id', 'day']);
  });

  await knex.raw('CREATE INDEX billing_events_tenant_id_idx ON billing_events (tenant_id, id)');

  for (const table of ['new_contact_claims', 'usage_monthly']) await protect(knex, table);

  // The runtime role has no UPDATE on the ledger (grants); this stops every
  // role, so an audit row never changes after it was written.
  await knex.raw(`
    CREATE FUNCTION senderz_consent_logs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'consent_logs is append-only' USING ERRCODE = 'insufficient_privilege';
    END $$`);
  await knex.raw('CREATE TRIGGER consent_logs_immutable BEFORE UPDATE ON consent_logs FOR EACH ROW EXECUTE FUNCTION senderz_consent_logs_immutable()');

  // Opt-outs are kept for the tenant's life: a row can only go when its
  // tenant goes (the cascade runs after the tenant row is gone). SECURITY
  // DEFINER so the check sees the tenant whatever the caller's RLS scope.
  await knex.raw(`
    CREATE FUNCTION senderz_opt_outs_kept() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
        RAISE EXCEPTION 'opt-outs are kept for the life of the tenant' USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN OLD;
    END $$`);
  await knex.raw('REVOKE ALL ON FUNCTION senderz_opt_outs_kept() FROM PUBLIC');
  await knex.raw('CREATE TRIGGER opt_outs_kept BEFORE DELETE ON opt_outs FOR EACH ROW EXECUTE FUNCTION senderz_opt_outs_kept()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER IF EXISTS opt_outs_kept ON opt_outs');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_opt_outs_kept()');
  await knex.raw('DROP TRIGGER IF EXISTS consent_logs_immutable ON consent_logs');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_consent_logs_immutable()');
  await knex.raw('DROP INDEX IF EXISTS billing_events_tenant_id_idx');
  await knex.schema.dropTableIfExists('line_daily_sends');
  await knex.schema.dropTableIfExists('usage_monthly');
  await knex.schema.dropTableIfExists('new_contact_claims');
  await knex.schema.alterTable('consent_logs', (t) => {
    t.dropIndex(['tenant_id', 'consented_at']);
    t.dropColumn('filled_from_request');
    t.dropColumn('api_key_id');
  });
  await knex.schema.alterTable('opt_outs', (t) => {
    t.dropColumn('reason');
  });
  await knex.schema.alterTable('messages', (t) => {
    t.dropColumn('counted_daily_message');
  });
}
