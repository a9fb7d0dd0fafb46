import type { Knex } from 'knex';

/**
 * Webhooks: one event row per message history row (a re-run fan-out job finds
 * the row it made instead of making a second), and the delivery log listed
 * newest first per endpoint.
 */
export async function up(knex: Knex): Promise<void> {
  // NULL message ids (non-message events) never collide: NULLs are distinct in a unique index.
  await knex.raw('CREATE UNIQUE INDEX webhook_events_message_sequence_unique ON webhook_events (tenant_id, message_id, sequence)');
  await knex.raw('CREATE INDEX webhook_deliveries_webhook_id_idx ON webhook_deliveries (tenant_id, webhook_id, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS webhook_deliveries_webhook_id_idx');
  await knex.raw('DROP INDEX IF EXISTS webhook_events_message_sequence_unique');
}
