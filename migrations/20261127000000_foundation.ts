import type { Knex } from 'knex';

/**
 * The whole data model. Every tenant-scoped table has `tenant_id NOT NULL`, a
 * primary key that starts with it, child rows that reference parents through
 * `(tenant_id, id)` (so the database refuses a row pointing into another
 * tenant), and Row-Level Security enabled and forced with a policy on the
 * transaction's `app.tenant_id`.
 */

const TENANT_TABLES = [
  'api_keys',
  'messages',
  'message_events',
  'dispatches',
  'outbox',
  'conversations',
  'capability_checks',
  'contacts',
  'contact_groups',
  'group_members',
  'contact_imports',
  'templates',
  'campaigns',
  'campaign_recipients',
  'webhooks',
  'webhook_events',
  'webhook_deliveries',
  'webhook_delivery_attempts',
  'opt_outs',
  'consent_logs',
  'known_recipients',
  'usage_daily',
  'usage_records',
  'api_call_counts',
  'billing_events',
  'ai_personas',
  'ai_sources',
  'auto_reply_log',
  'idempotency_keys',
] as const;

const CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')";

async function protect(knex: Knex, table: string, column = 'tenant_id'): Promise<void> {
  await knex.raw('ALTER TABLE ?? ENABLE ROW LEVEL SECURITY', [table]);
  await knex.raw('ALTER TABLE ?? FORCE ROW LEVEL SECURITY', [table]);
  await knex.raw(`CREATE POLICY tenant_isolation ON ?? USING (?? = ${CURRENT_TENANT}) WITH CHECK (?? = ${CURRENT_TENANT})`, [
    table,
    column,
    column,
  ]);
  // The migrating role (the tables' owner) runs the operator and cross-tenant
  // paths; FORCE would otherwise hold it to the tenant policy as well.
  await knex.raw('CREATE POLICY owner_access ON ?? TO CURRENT_USER USING (true) WITH CHECK (true)', [table]);
}

export async function up(knex: Knex): Promise<void> {
  const now = knex.fn.now();
  const created = (t: Knex.CreateTableBuilder) => t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(now);
  const updated = (t: Knex.CreateTableBuilder) => t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(now);

  await knex.schema.createTable('tenants', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('plan').notNullable().defaultTo('trial');
    t.text('status').notNullable().defaultTo('active');
    t.boolean('is_agency').notNullable().defaultTo(false);
    t.text('pool').notNullable().defaultTo('default');
    // Per-tenant overrides of the plan: {new_contacts_per_day, new_contacts_per_month, messages_per_day, requests_per_minute}.
    t.jsonb('limits').notNullable().defaultTo('{}');
    created(t);
    updated(t);
    t.check("plan IN ('trial','starter','growth','scale')", [], 'tenants_plan_check');
    t.check("status IN ('active','suspended')", [], 'tenants_status_check');
  });

  await knex.schema.createTable('agency_links', (t) => {
    t.text('client_tenant_id').primary().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('agency_tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    created(t);
    t.index(['agency_tenant_id']);
    t.check('client_tenant_id <> agency_tenant_id', [], 'agency_links_not_self');
  });

  await knex.schema.createTable('api_keys', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('name').notNullable();
    t.text('key_hash').notNullable().unique();
    t.text('key_hint').notNullable();
    t.text('prefix').notNullable();
    t.text('permissions').notNullable().defaultTo('full');
    // null = the plan's limit; rate_limit_unlimited = operator-granted "no limit".
    t.integer('rate_limit');
    t.boolean('rate_limit_unlimited').notNullable().defaultTo(false);
    t.text('status').notNullable().defaultTo('active');
    t.text('created_by').notNullable().defaultTo('tenant');
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    created(t);
    t.primary(['tenant_id', 'id']);
    t.check("prefix IN ('tf_live','tf_test')", [], 'api_keys_prefix_check');
    t.check("permissions IN ('full','read_only')", [], 'api_keys_permissions_check');
    t.check("status IN ('active','inactive','revoked')", [], 'api_keys_status_check');
  });

  await knex.schema.createTable('phone_lines', (t) => {
    t.text('id').primary();
    t.text('phone_number').notNullable().unique();
    t.text('bridge_url').notNullable();
    t.text('secret_encrypted').notNullable();
    t.jsonb('capabilities').notNullable().defaultTo('{"imessage":true,"sms":true,"rcs":false}');
    t.text('mode').notNullable();
    t.text('tenant_id').references('id').inTable('tenants').onDelete('SET NULL');
    t.text('pool').notNullable().defaultTo('default');
    // A line the operator allotted to an agency, which may hand it to its clients.
    t.text('agency_tenant_id').references('id').inTable('tenants').onDelete('SET NULL');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.text('status').notNullable().defaultTo('offline');
    t.timestamp('last_heartbeat_at', { useTz: true });
    t.jsonb('health').notNullable().defaultTo('{}');
    t.integer('max_per_minute').defaultTo(60);
    t.boolean('warmup').notNullable().defaultTo(true);
    t.timestamp('warmup_started_at', { useTz: true }).notNullable().defaultTo(now);
    created(t);
    updated(t);
    t.check("mode IN ('pooled','dedicated')", [], 'phone_lines_mode_check');
    t.check("status IN ('online','offline')", [], 'phone_lines_status_check');
    t.check("mode <> 'dedicated' OR tenant_id IS NOT NULL", [], 'phone_lines_dedicated_tenant');
    t.index(['mode', 'pool']);
    t.index(['tenant_id']);
  });

  await knex.schema.createTable('device_events_seen', (t) => {
    t.text('line_id').notNullable().references('id').inTable('phone_lines').onDelete('CASCADE');
    t.text('event_id').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(now);
    t.primary(['line_id', 'event_id']);
    t.index(['received_at']);
  });

  await knex.schema.createTable('contacts', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('phone_number').notNullable();
    t.text('name');
    t.text('email');
    t.jsonb('metadata').notNullable().defaultTo('{}');
    created(t);
    updated(t);
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'phone_number']);
  });

  await knex.schema.createTable('contact_groups', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('name').notNullable();
    t.text('description');
    created(t);
    updated(t);
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'name']);
  });

  await knex.schema.createTable('group_members', (t) => {
    t.text('tenant_id').notNullable();
    t.text('group_id').notNullable();
    t.text('contact_id').notNullable();
    created(t);
    t.primary(['tenant_id', 'group_id', 'contact_id']);
    t.foreign(['tenant_id', 'group_id']).references(['tenant_id', 'id']).inTable('contact_groups').onDelete('CASCADE');
    t.foreign(['tenant_id', 'contact_id']).references(['tenant_id', 'id']).inTable('contacts').onDelete('CASCADE');
    t.index(['tenant_id', 'contact_id']);
  });

  await knex.schema.createTable('contact_imports', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('status').notNullable().defaultTo('queued');
    t.text('format').notNullable();
    t.boolean('update_existing').notNullable().defaultTo(false);
    t.jsonb('rows').notNullable();
    t.integer('total_rows').notNullable().defaultTo(0);
    t.integer('processed_rows').notNullable().defaultTo(0);
    t.integer('created_count').notNullable().defaultTo(0);
    t.integer('updated_count').notNullable().defaultTo(0);
    t.integer('failed_count').notNullable().defaultTo(0);
    t.jsonb('errors').notNullable().defaultTo('[]');
    t.text('group_id');
    created(t);
    updated(t);
    t.timestamp('completed_at', { useTz: true });
    t.primary(['tenant_id', 'id']);
  });

  await knex.schema.createTable('templates', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('name').notNullable();
    t.text('type').notNullable().defaultTo('alert');
    t.text('channel').notNullable().defaultTo('both');
    t.text('body').notNullable();
    t.specificType('variables', 'text[]').notNullable().defaultTo('{}');
    created(t);
    updated(t);
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'name']);
    t.check("type IN ('otp','alert','marketing')", [], 'templates_type_check');
    t.check("channel IN ('imessage','sms','both')", [], 'templates_channel_check');
  });

  await knex.schema.createTable('campaigns', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('name').notNullable();
    t.text('body');
    t.text('template_id');
    t.jsonb('data').notNullable().defaultTo('{}');
    t.text('group_id');
    t.text('channel').notNullable().defaultTo('auto');
    t.text('message_type').notNullable().defaultTo('marketing');
    t.text('status').notNullable().defaultTo('queued');
    t.boolean('sandbox').notNullable().defaultTo(false);
    t.integer('total').notNullable().defaultTo(0);
    t.integer('fanned_out').notNullable().defaultTo(0);
    t.timestamp('scheduled_at', { useTz: true });
    t.timestamp('launched_at', { useTz: true });
    t.timestamp('completed_at', { useTz: true });
    created(t);
    updated(t);
    t.primary(['tenant_id', 'id']);
    t.foreign(['tenant_id', 'template_id']).references(['tenant_id', 'id']).inTable('templates');
    t.foreign(['tenant_id', 'group_id']).references(['tenant_id', 'id']).inTable('contact_groups').onDelete('SET NULL');
  });

  await knex.schema.createTable('messages', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('direction').notNullable();
    t.text('from_number');
    t.text('to_number').notNullable();
    t.text('body');
    t.timestamp('body_purged_at', { useTz: true });
    // requested_channel is what the client asked for (auto, imessage, ...); channel is what was used.
    t.text('requested_channel').notNullable().defaultTo('auto');
    t.text('channel');
    t.text('message_type').notNullable().defaultTo('alert');
    t.text('status').notNullable();
    t.text('reason');
    t.text('campaign_id');
    t.text('template_id');
    t.text('line_id').references('id').inTable('phone_lines').onDelete('SET NULL');
    t.text('pinned_from');
    t.boolean('sandbox').notNullable().defaultTo(false);
    t.boolean('dispatch_webhook').notNullable().defaultTo(true);
    // Replies the platform itself sends (STOP/START/HELP confirmations): they
    // must reach a number that has just opted out, so opt-out and caps skip them.
    t.boolean('system_reply').notNullable().defaultTo(false);
    t.integer('last_sequence').notNullable().defaultTo(0);
    t.integer('attempts').notNullable().defaultTo(0);
    t.boolean('counted_new_contact').notNullable().defaultTo(false);
    t.timestamp('release_at', { useTz: true });
    created(t);
    updated(t);
    t.timestamp('sent_at', { useTz: true });
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('read_at', { useTz: true });
    t.timestamp('failed_at', { useTz: true });
    t.primary(['tenant_id', 'id']);
    t.foreign(['tenant_id', 'campaign_id']).references(['tenant_id', 'id']).inTable('campaigns');
    t.check("direction IN ('outbound','inbound')", [], 'messages_direction_check');
    t.check("status IN ('queued','sending','sent','delivered','read','failed','blocked','received')", [], 'messages_status_check');
    t.index(['tenant_id', 'created_at']);
    t.index(['tenant_id', 'status']);
    t.index(['tenant_id', 'campaign_id']);
    t.index(['tenant_id', 'to_number']);
  });

  await knex.schema.createTable('message_events', (t) => {
    t.text('tenant_id').notNullable();
    t.text('message_id').notNullable();
    t.integer('sequence').notNullable();
    t.text('status').notNullable();
    t.text('reason');
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(now);
    created(t);
    t.primary(['tenant_id', 'message_id', 'sequence']);
    t.foreign(['tenant_id', 'message_id']).references(['tenant_id', 'id']).inTable('messages').onDelete('CASCADE');
  });

  await knex.schema.createTable('dispatches', (t) => {
    t.text('tenant_id').notNullable();
    t.text('id').notNullable().unique();
    t.text('message_id').notNullable();
    // A line with dispatch history cannot be deleted (disable it instead): the
    // history is what proves a message was never sent twice.
    t.text('line_id').notNullable().references('id').inTable('phone_lines').onDelete('RESTRICT');
    t.text('channel').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    created(t);
    updated(t);
    t.primary(['tenant_id', 'id']);
    t.foreign(['tenant_id', 'message_id']).references(['tenant_id', 'id']).inTable('messages').onDelete('CASCADE');
    t.index(['tenant_id', 'message_id']);
  });

  // Work that must reach a queue. Written in the same transaction as the record it
  // is about; a relay re-enqueues rows left behind by a crash or a Redis restart.
  await knex.schema.createTable('outbox', (t) => {
    t.bigIncrements('id').primary();
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('queue').notNullable();
    t.text('job_name').notNullable();
    t.text('ref_id').notNullable();
    // The job payload (ids only), re-sent as is by the relay.
    t.jsonb('payload').notNullable();
    t.integer('priority').notNullable().defaultTo(0);
    t.timestamp('available_at', { useTz: true }).notNullable().defaultTo(now);
    t.timestamp('enqueued_at', { useTz: true });
    created(t);
    t.unique(['queue', 'job_name', 'ref_id']);
    t.index(['available_at']);
  });

  // Which line last talked to which number, per tenant: keeps a recipient on the
  // same line, and attributes inbound messages on pooled lines.
  await knex.schema.createTable('conversations', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('line_id').notNullable().references('id').inTable('phone_lines').onDelete('CASCADE');
    t.text('phone_number').notNullable();
    t.timestamp('last_outbound_at', { useTz: true }).notNullable().defaultTo(now);
    t.timestamp('last_inbound_at', { useTz: true });
    t.timestamp('manual_until', { useTz: true });
    t.primary(['tenant_id', 'line_id', 'phone_number']);
    t.index(['line_id', 'phone_number', 'last_outbound_at']);
  });

  await knex.schema.createTable('capability_checks', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('phone_number').notNullable();
    t.boolean('imessage').notNullable();
    t.boolean('sms').notNullable();
    t.boolean('rcs').notNullable();
    t.timestamp('checked_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.primary(['tenant_id', 'phone_number']);
  });

  await knex.schema.createTable('campaign_recipients', (t) => {
    t.text('tenant_id').notNullable();
    t.text('campaign_id').notNullable();
    t.integer('position').notNullable();
    t.text('phone_number').notNullable();
    t.text('contact_id');
    t.text('message_id');
    created(t);
    t.primary(['tenant_id', 'campaign_id', 'phone_number']);
    t.foreign(['tenant_id', 'campaign_id']).references(['tenant_id', 'id']).inTable('campaigns').onDelete('CASCADE');
    t.index(['tenant_id', 'campaign_id', 'position']);
  });

  await knex.schema.createTable('webhooks', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('url').notNullable();
    t.specificType('events', 'text[]').notNullable();
    t.text('secret_encrypted').notNullable();
    t.text('previous_secret_encrypted');
    t.timestamp('previous_secret_expires_at', { useTz: true });
    t.boolean('enabled').notNullable().defaultTo(true);
    t.text('disabled_reason');
    t.timestamp('last_success_at', { useTz: true });
    t.timestamp('failing_since', { useTz: true });
    created(t);
    updated(t);
    t.primary(['tenant_id', 'id']);
  });

  await knex.schema.createTable('webhook_events', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('type').notNullable();
    t.text('message_id');
    t.integer('sequence');
    t.boolean('sandbox').notNullable().defaultTo(false);
    t.jsonb('payload').notNullable();
    created(t);
    t.primary(['tenant_id', 'id']);
    t.index(['tenant_id', 'created_at']);
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.text('tenant_id').notNullable();
    t.text('id').notNullable();
    t.text('webhook_id').notNullable();
    t.text('event_id').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true });
    t.integer('last_status_code');
    t.text('last_error');
    created(t);
    updated(t);
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'webhook_id', 'event_id']);
    t.foreign(['tenant_id', 'webhook_id']).references(['tenant_id', 'id']).inTable('webhooks').onDelete('CASCADE');
    t.foreign(['tenant_id', 'event_id']).references(['tenant_id', 'id']).inTable('webhook_events').onDelete('CASCADE');
    t.index(['tenant_id', 'webhook_id', 'created_at']);
  });

  await knex.schema.createTable('webhook_delivery_attempts', (t) => {
    t.text('tenant_id').notNullable();
    t.text('delivery_id').notNullable();
    t.integer('attempt').notNullable();
    t.integer('status_code');
    t.integer('latency_ms');
    t.text('error');
    t.timestamp('attempted_at', { useTz: true }).notNullable().defaultTo(now);
    t.timestamp('next_attempt_at', { useTz: true });
    t.primary(['tenant_id', 'delivery_id', 'attempt']);
    t.foreign(['tenant_id', 'delivery_id']).references(['tenant_id', 'id']).inTable('webhook_deliveries').onDelete('CASCADE');
  });

  await knex.schema.createTable('opt_outs', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('phone_number').notNullable();
    t.boolean('active').notNullable().defaultTo(true);
    t.text('source').notNullable();
    t.text('keyword');
    t.timestamp('opted_out_at', { useTz: true }).notNullable().defaultTo(now);
    t.timestamp('opted_back_in_at', { useTz: true });
    created(t);
    updated(t);
    t.primary(['tenant_id', 'phone_number']);
  });

  await knex.schema.createTable('consent_logs', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('phone_number').notNullable();
    t.text('consent_type').notNullable();
    t.text('consent_source').notNullable();
    t.text('disclosure_text');
    t.text('disclosure_version');
    t.text('ip_address');
    t.text('user_agent');
    t.jsonb('metadata').notNullable().defaultTo('{}');
    t.timestamp('consented_at', { useTz: true }).notNullable();
    created(t);
    t.primary(['tenant_id', 'id']);
    t.index(['tenant_id', 'phone_number', 'consented_at']);
    t.check("consent_type IN ('express_written','express','implied')", [], 'consent_logs_type_check');
  });

  await knex.schema.createTable('known_recipients', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('phone_number').notNullable();
    t.timestamp('first_success_at', { useTz: true }).notNullable().defaultTo(now);
    t.primary(['tenant_id', 'phone_number']);
  });

  await knex.schema.createTable('usage_daily', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.date('day').notNullable();
    t.integer('new_contacts').notNullable().defaultTo(0);
    t.integer('messages').notNullable().defaultTo(0);
    t.primary(['tenant_id', 'day']);
  });

  await knex.schema.createTable('usage_records', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.date('period_start').notNullable();
    t.jsonb('totals').notNullable().defaultTo('{}');
    t.timestamp('rolled_up_at', { useTz: true }).notNullable().defaultTo(now);
    t.primary(['tenant_id', 'period_start']);
  });

  await knex.schema.createTable('api_call_counts', (t) => {
    t.text('tenant_id').notNullable();
    t.text('api_key_id').notNullable();
    t.date('day').notNullable();
    t.integer('calls').notNullable().defaultTo(0);
    t.primary(['tenant_id', 'api_key_id', 'day']);
    t.foreign(['tenant_id', 'api_key_id']).references(['tenant_id', 'id']).inTable('api_keys').onDelete('CASCADE');
  });

  await knex.schema.createTable('billing_events', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('type').notNullable();
    t.jsonb('data').notNullable().defaultTo('{}');
    // Makes "cap reached today" and similar once-per-period events idempotent.
    t.text('dedupe_key');
    created(t);
    t.primary(['tenant_id', 'id']);
    t.unique(['tenant_id', 'dedupe_key']);
  });

  await knex.schema.createTable('ai_personas', (t) => {
    t.text('tenant_id').primary().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('business_name');
    t.text('help_response');
    t.text('voice_handoff_number');
    t.boolean('auto_reply_enabled').notNullable().defaultTo(false);
    t.text('instructions');
    t.text('tone');
    t.text('provider_base_url');
    t.text('provider_model');
    t.text('provider_api_key_encrypted');
    created(t);
    updated(t);
  });

  await knex.schema.createTable('ai_sources', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('id').notNullable();
    t.text('type').notNullable();
    t.text('title');
    t.text('content');
    t.text('question');
    t.text('answer');
    created(t);
    t.primary(['tenant_id', 'id']);
    t.check("type IN ('text','faq')", [], 'ai_sources_type_check');
  });

  await knex.schema.createTable('auto_reply_log', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('phone_number').notNullable();
    t.text('message_id').notNullable();
    created(t);
    t.primary(['tenant_id', 'message_id']);
    t.index(['tenant_id', 'phone_number', 'created_at']);
  });

  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('tenant_id').notNullable().references('id').inTable('tenants').onDelete('CASCADE');
    t.text('key').notNullable();
    t.text('request_hash').notNullable();
    t.text('state').notNullable().defaultTo('in_progress');
    t.integer('response_status');
    t.jsonb('response_body');
    created(t);
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.primary(['tenant_id', 'key']);
    t.index(['expires_at']);
  });

  await knex.raw(`ALTER TABLE tenants ENABLE ROW LEVEL SECURITY`);
  await knex.raw(`ALTER TABLE tenants FORCE ROW LEVEL SECURITY`);
  await knex.raw(`CREATE POLICY tenant_isolation ON tenants USING (id = ${CURRENT_TENANT}) WITH CHECK (id = ${CURRENT_TENANT})`);
  await knex.raw('CREATE POLICY owner_access ON tenants TO CURRENT_USER USING (true) WITH CHECK (true)');
  for (const table of TENANT_TABLES) await protect(knex, table);

  // Authentication must find a key before the tenant is known: a narrow,
  // read-only door through RLS that answers for one exact key hash.
  await knex.raw(`
    CREATE FUNCTION senderz_authenticate(p_key_hash text)
    RETURNS TABLE (key_id text, tenant_id text, prefix text, permissions text, rate_limit integer,
                   rate_limit_unlimited boolean, key_status text, tenant_status text, plan text, limits jsonb, tenant_name text, pool text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT k.id, k.tenant_id, k.prefix, k.permissions, k.rate_limit, k.rate_limit_unlimited, k.status,
             t.status, t.plan, t.limits, t.name, t.pool
        FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
       WHERE k.key_hash = p_key_hash
    $$`);
  await knex.raw(`
    CREATE FUNCTION senderz_touch_api_keys(p_ids text[], p_at timestamptz)
    RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
      UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, p_at), p_at) WHERE id = ANY(p_ids)
    $$`);
  // Device reports name a dispatch, not a tenant: find whose it is (and for
  // which line) before entering that tenant's scope.
  await knex.raw(`
    CREATE FUNCTION senderz_dispatch_owner(p_dispatch_id text)
    RETURNS TABLE (tenant_id text, line_id text, message_id text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT d.tenant_id, d.line_id, d.message_id FROM dispatches d WHERE d.id = p_dispatch_id
    $$`);
  // An inbound message on a pooled line belongs to the tenant that last
  // messaged that number from that line.
  await knex.raw(`
    CREATE FUNCTION senderz_conversation_owner(p_line_id text, p_phone_number text)
    RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT c.tenant_id FROM conversations c
       WHERE c.line_id = p_line_id AND c.phone_number = p_phone_number
       ORDER BY c.last_outbound_at DESC LIMIT 1
    $$`);
  await knex.raw('REVOKE ALL ON FUNCTION senderz_dispatch_owner(text) FROM PUBLIC');
  await knex.raw('REVOKE ALL ON FUNCTION senderz_conversation_owner(text, text) FROM PUBLIC');
  await knex.raw('REVOKE ALL ON FUNCTION senderz_authenticate(text) FROM PUBLIC');
  await knex.raw('REVOKE ALL ON FUNCTION senderz_touch_api_keys(text[], timestamptz) FROM PUBLIC');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS senderz_conversation_owner(text, text)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_dispatch_owner(text)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_touch_api_keys(text[], timestamptz)');
  await knex.raw('DROP FUNCTION IF EXISTS senderz_authenticate(text)');
  const tables = [
    'idempotency_keys',
    'auto_reply_log',
    'ai_sources',
    'ai_personas',
    'billing_events',
    'api_call_counts',
    'usage_records',
    'usage_daily',
    'known_recipients',
    'consent_logs',
    'opt_outs',
    'webhook_delivery_attempts',
    'webhook_deliveries',
    'webhook_events',
    'webhooks',
    'campaign_recipients',
    'capability_checks',
    'conversations',
    'outbox',
    'dispatches',
    'message_events',
    'messages',
    'campaigns',
    'templates',
    'contact_imports',
    'group_members',
    'contact_groups',
    'contacts',
    'device_events_seen',
    'phone_lines',
    'api_keys',
    'agency_links',
    'tenants',
  ];
  for (const table of tables) await knex.schema.dropTableIfExists(table);
}
