import type { Knex } from 'knex';

/**
 * A message's row is updated at every step of its life (sending, sent,
 * delivered, read). PostgreSQL can do such an update in place (a HOT update,
 * no index touched) only when no index covers a changed column and the page
 * has room. The campaign index carried `status`, so every status change
 * rewrote every index entry of the row: it now covers (campaign_id, tenant_id)
 * only (campaign counts read the status from the row), and new pages of
 * `messages` keep 15 % free for in-place updates.
 *
 * The relay's index of pending dispatches is built here too. Built and dropped
 * CONCURRENTLY, outside a transaction, so an upgrade of a large table does not
 * block sends; an interrupted build leaves an INVALID index that the next run
 * drops and builds again.
 */
export const config = { transaction: false };

const CREATE = [
  'CREATE INDEX messages_campaign_id_tenant_id_only_index ON messages (campaign_id, tenant_id) WHERE campaign_id IS NOT NULL',
  "CREATE INDEX dispatches_pending_available_at_index ON dispatches (available_at) WHERE status = 'pending'",
];
const OLD_CAMPAIGN_INDEX = 'CREATE INDEX messages_campaign_id_tenant_id_index ON messages (campaign_id, tenant_id, status) WHERE campaign_id IS NOT NULL';

const indexName = (statement: string) => /INDEX (\S+) ON/.exec(statement)![1];

async function createIndex(knex: Knex, statement: string): Promise<void> {
  const name = indexName(statement);
  const invalid = await knex.raw('SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ? AND NOT i.indisvalid', [name]);
  if (invalid.rows.length > 0) await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS ??', [name]);
  const exists = await knex.raw('SELECT 1 FROM pg_class WHERE relname = ? AND relkind = ?', [name, 'i']);
  if (exists.rows.length === 0) await knex.raw(statement.replace(/^CREATE INDEX /, 'CREATE INDEX CONCURRENTLY '));
}

export async function up(knex: Knex): Promise<void> {
  for (const statement of CREATE) await createIndex(knex, statement);
  await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS messages_campaign_id_tenant_id_index');
  await knex.raw('ALTER TABLE messages SET (fillfactor = 85)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE messages RESET (fillfactor)');
  await createIndex(knex, OLD_CAMPAIGN_INDEX);
  for (const statement of CREATE) await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS ??', [indexName(statement)]);
}
