import type { Knex } from 'knex';

/**
 * Every primary and unique key of a tenant table leads with `tenant_id`, so the
 * schema can be distributed by tenant (Citus: each key and each uniqueness rule
 * checked on one tenant's shard; README "Running on many machines"). The last
 * exceptions:
 * - `outbox`: primary key `(tenant_id, id)`, one row per `(tenant_id, queue,
 *   job_name, ref_id)`. The stored functions that insert into the outbox name
 *   the new conflict target; they are rewritten from their stored definitions
 *   (whatever version is installed), not replaced by a copy;
 * - `dispatches`: no unique key on `id` alone (the primary key is `(tenant_id,
 *   id)`); a plain index on `id` keeps device reports, which name a dispatch
 *   and not a tenant, a single index lookup;
 * - `api_keys`: unique `(tenant_id, key_hash)`, and a plain index on
 *   `key_hash` for authentication (a key names no tenant either);
 * - `webhook_deliveries`: one delivery per `(tenant_id, webhook_id,
 *   event_id)`; lookups by endpoint keep their `(webhook_id, tenant_id, …)`
 *   indexes. ON CONFLICT infers a key from its set of columns, so the
 *   statements naming these three columns are unchanged.
 * `phone_lines` (tenant_id null on pooled lines) is platform data, not a tenant table.
 */

const OLD_TARGET = 'ON CONFLICT\\s*\\(\\s*queue\\s*,\\s*job_name\\s*,\\s*ref_id\\s*\\)';
const NEW_TARGET = 'ON CONFLICT\\s*\\(\\s*tenant_id\\s*,\\s*queue\\s*,\\s*job_name\\s*,\\s*ref_id\\s*\\)';

/** Rewrites, in place, every stored function of this schema whose body uses the `from` conflict target. */
async function rewriteConflictTargets(knex: Knex, from: string, to: string): Promise<void> {
  await knex.raw(`
    DO $rewrite$
    DECLARE f record;
    BEGIN
      FOR f IN SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.prosrc ~* '${from}'
      LOOP
        EXECUTE regexp_replace(pg_get_functiondef(f.oid), '${from}', '${to}', 'gi');
      END LOOP;
    END
    $rewrite$`);
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE outbox DROP CONSTRAINT outbox_pkey, ADD CONSTRAINT outbox_pkey PRIMARY KEY (tenant_id, id)');
  await knex.raw(
    'ALTER TABLE outbox DROP CONSTRAINT outbox_queue_job_name_ref_id_unique, ADD CONSTRAINT outbox_tenant_id_queue_job_name_ref_id_unique UNIQUE (tenant_id, queue, job_name, ref_id)',
  );
  await rewriteConflictTargets(knex, OLD_TARGET, 'ON CONFLICT (tenant_id, queue, job_name, ref_id)');

  await knex.raw('CREATE INDEX dispatches_id_index ON dispatches (id)');
  await knex.raw('ALTER TABLE dispatches DROP CONSTRAINT dispatches_id_unique');

  await knex.raw('CREATE INDEX api_keys_key_hash_index ON api_keys (key_hash)');
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_key_hash_unique, ADD CONSTRAINT api_keys_tenant_id_key_hash_unique UNIQUE (tenant_id, key_hash)');

  await knex.raw('ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_tenant_id_webhook_id_event_id_unique UNIQUE (tenant_id, webhook_id, event_id)');
  await knex.raw('DROP INDEX webhook_deliveries_webhook_id_tenant_id_event_id_unique');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE UNIQUE INDEX webhook_deliveries_webhook_id_tenant_id_event_id_unique ON webhook_deliveries (webhook_id, tenant_id, event_id)');
  await knex.raw('ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_tenant_id_webhook_id_event_id_unique');

  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_tenant_id_key_hash_unique, ADD CONSTRAINT api_keys_key_hash_unique UNIQUE (key_hash)');
  await knex.raw('DROP INDEX api_keys_key_hash_index');

  await knex.raw('ALTER TABLE dispatches ADD CONSTRAINT dispatches_id_unique UNIQUE (id)');
  await knex.raw('DROP INDEX dispatches_id_index');

  await knex.raw('ALTER TABLE outbox DROP CONSTRAINT outbox_tenant_id_queue_job_name_ref_id_unique, ADD CONSTRAINT outbox_queue_job_name_ref_id_unique UNIQUE (queue, job_name, ref_id)');
  await rewriteConflictTargets(knex, NEW_TARGET, 'ON CONFLICT (queue, job_name, ref_id)');
  await knex.raw('ALTER TABLE outbox DROP CONSTRAINT outbox_pkey, ADD CONSTRAINT outbox_pkey PRIMARY KEY (id)');
}
