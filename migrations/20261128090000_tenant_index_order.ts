import type { Knex } from 'knex';

/**
 * Secondary indexes no longer start with `tenant_id`.
 *
 * Every query runs under row-level security, so every query carries
 * `tenant_id = <current tenant>`. When the planner's statistics do not know a
 * tenant (a new tenant, a fresh database, a tenant that grew since the last
 * ANALYZE) it estimates that tenant at about one row, and then any index that
 * starts with `tenant_id` looks as cheap as the primary key for a lookup by
 * id. Measured on a fresh database: routing a message (`UPDATE messages …
 * WHERE id = ? AND status = 'queued'`) chose `(tenant_id, status)` or
 * `(tenant_id, to_number)` and read every queued message of the tenant, so a
 * 10,000-recipient campaign of a new tenant did quadratic work (1.3 million
 * index tuples read for 600 messages in the accept → bridge benchmark).
 *
 * With the tenant second, an index is usable only when its own leading column
 * is constrained, so lookups by id always take the primary key. A tenant's
 * range by creation time (usage totals, roll-ups) reads `(created_at,
 * tenant_id)` and skips other tenants' entries inside the index, without
 * visiting their rows. The index on `(tenant_id, status)` served only the
 * message list's status filter, which walks the primary key in id order.
 */
const CHANGES: { table: string; drop: string[]; create: string[]; dropConstraint?: string }[] = [
  {
    table: 'messages',
    drop: ['messages_tenant_id_status_index', 'messages_tenant_id_to_number_index', 'messages_tenant_id_campaign_id_index', 'messages_tenant_id_created_at_index'],
    create: [
      'CREATE INDEX messages_to_number_tenant_id_index ON messages (to_number, tenant_id)',
      'CREATE INDEX messages_campaign_id_tenant_id_index ON messages (campaign_id, tenant_id, status) WHERE campaign_id IS NOT NULL',
      // Usage totals by period, and the cross-tenant body-retention sweep.
      'CREATE INDEX messages_created_at_tenant_id_index ON messages (created_at, tenant_id)',
    ],
  },
  {
    table: 'dispatches',
    drop: ['dispatches_tenant_id_message_id_index'],
    create: ['CREATE INDEX dispatches_message_id_tenant_id_index ON dispatches (message_id, tenant_id)'],
  },
  {
    table: 'webhook_events',
    drop: ['webhook_events_tenant_id_created_at_index'],
    create: ['CREATE INDEX webhook_events_created_at_index ON webhook_events (created_at)'],
  },
  {
    // Sticky routing asks for a recipient's most recent line: by number, not by line.
    table: 'conversations',
    drop: [],
    create: ['CREATE INDEX conversations_phone_number_tenant_id_last_outbound_at_index ON conversations (phone_number, tenant_id, last_outbound_at)'],
  },
  {
    table: 'webhook_deliveries',
    drop: ['webhook_deliveries_webhook_id_idx', 'webhook_deliveries_tenant_id_webhook_id_created_at_index'],
    create: [
      'CREATE INDEX webhook_deliveries_webhook_id_tenant_id_id_index ON webhook_deliveries (webhook_id, tenant_id, id)',
      'CREATE INDEX webhook_deliveries_webhook_id_tenant_id_created_at_index ON webhook_deliveries (webhook_id, tenant_id, created_at)',
      // Still one delivery per endpoint and event (ON CONFLICT names the same three columns).
      'CREATE UNIQUE INDEX webhook_deliveries_webhook_id_tenant_id_event_id_unique ON webhook_deliveries (webhook_id, tenant_id, event_id)',
    ],
    dropConstraint: 'webhook_deliveries_tenant_id_webhook_id_event_id_unique',
  },
];

const RESTORE: Record<string, string[]> = {
  messages: [
    'CREATE INDEX messages_tenant_id_status_index ON messages (tenant_id, status)',
    'CREATE INDEX messages_tenant_id_to_number_index ON messages (tenant_id, to_number)',
    'CREATE INDEX messages_tenant_id_campaign_id_index ON messages (tenant_id, campaign_id)',
    'CREATE INDEX messages_tenant_id_created_at_index ON messages (tenant_id, created_at)',
  ],
  dispatches: ['CREATE INDEX dispatches_tenant_id_message_id_index ON dispatches (tenant_id, message_id)'],
  webhook_events: ['CREATE INDEX webhook_events_tenant_id_created_at_index ON webhook_events (tenant_id, created_at)'],
  conversations: [],
  webhook_deliveries: [
    'CREATE INDEX webhook_deliveries_webhook_id_idx ON webhook_deliveries (tenant_id, webhook_id, id)',
    'CREATE INDEX webhook_deliveries_tenant_id_webhook_id_created_at_index ON webhook_deliveries (tenant_id, webhook_id, created_at)',
    'ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_tenant_id_webhook_id_event_id_unique UNIQUE (tenant_id, webhook_id, event_id)',
  ],
};

/**
 * Built and dropped CONCURRENTLY, outside a transaction, so that an upgrade of
 * a large `messages` table does not block sends while the indexes build. A
 * concurrent build that was interrupted leaves an INVALID index of that name:
 * it is dropped first, and the migration can simply run again.
 */
export const config = { transaction: false };

const indexName = (statement: string) => /INDEX (\S+) ON/.exec(statement)![1];
const concurrently = (statement: string) => statement.replace(/^CREATE (UNIQUE )?INDEX /, 'CREATE $1INDEX CONCURRENTLY ');

async function dropInvalid(knex: Knex, name: string): Promise<void> {
  const invalid = await knex.raw('SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = ? AND NOT i.indisvalid', [name]);
  if (invalid.rows.length > 0) await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS ??', [name]);
}

async function createIndex(knex: Knex, statement: string): Promise<void> {
  const name = indexName(statement);
  await dropInvalid(knex, name);
  const exists = await knex.raw('SELECT 1 FROM pg_class WHERE relname = ? AND relkind = ?', [name, 'i']);
  if (exists.rows.length === 0) await knex.raw(concurrently(statement));
}

export async function up(knex: Knex): Promise<void> {
  for (const change of CHANGES) {
    for (const statement of change.create) await createIndex(knex, statement);
    for (const name of change.drop) await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS ??', [name]);
    if (change.dropConstraint) await knex.raw('ALTER TABLE ?? DROP CONSTRAINT IF EXISTS ??', [change.table, change.dropConstraint]);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const change of CHANGES) {
    for (const statement of RESTORE[change.table]) {
      if (statement.startsWith('ALTER TABLE')) await knex.raw(statement);
      else await createIndex(knex, statement);
    }
    for (const statement of change.create) await knex.raw('DROP INDEX CONCURRENTLY IF EXISTS ??', [indexName(statement)]);
  }
}
