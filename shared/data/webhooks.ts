import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { newId } from '../ids';
import { ConflictError, NotFoundError } from '../errors';
import { decryptSecret, encryptSecret } from '../crypto';
import { addToOutbox, outboxJob, OutboxJob } from '../outbox';
import type { EventType } from '../events';
import type { DeliveryStatus } from '../schemas/webhooks';
import { generateWebhookSecret } from '../webhooks/signing';

export interface WebhookRow {
  tenant_id: string;
  id: string;
  url: string;
  events: EventType[];
  secret_encrypted: string;
  previous_secret_encrypted: string | null;
  previous_secret_expires_at: Date | null;
  enabled: boolean;
  disabled_reason: string | null;
  last_success_at: Date | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface WebhookEventRow {
  tenant_id: string;
  id: string;
  type: string;
  message_id: string | null;
  sequence: number | null;
  sandbox: boolean;
  payload: Record<string, unknown>;
  created_at: Date;
}

export interface WebhookDeliveryRow {
  tenant_id: string;
  id: string;
  webhook_id: string;
  event_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface WebhookAttemptRow {
  tenant_id: string;
  delivery_id: string;
  attempt: number;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  attempted_at: Date;
  next_attempt_at: Date | null;
}

/** The public shape: never the secret (it is shown once, by create and rotate). */
export function presentWebhook(row: WebhookRow) {
  const rotating = row.previous_secret_expires_at && row.previous_secret_expires_at.getTime() > Date.now();
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    failing_since: row.failing_since,
    last_success_at: row.last_success_at,
    previous_secret_expires_at: rotating ? row.previous_secret_expires_at : null,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The secrets that sign a delivery now: the current one, then the previous one during its overlap. */
export function signingSecrets(row: WebhookRow, encryptionKey: Buffer, now = new Date()): string[] {
  const secrets = [decryptSecret(encryptionKey, row.secret_encrypted)];
  if (row.previous_secret_encrypted && row.previous_secret_expires_at && row.previous_secret_expires_at.getTime() > now.getTime()) {
    secrets.push(decryptSecret(encryptionKey, row.previous_secret_encrypted));
  }
  return secrets;
}

export async function createWebhook(
  t: TenantTx,
  encryptionKey: Buffer,
  input: { url: string; events: EventType[]; secret?: string },
): Promise<{ row: WebhookRow; secret: string }> {
  const secret = input.secret ?? generateWebhookSecret();
  const [row] = (await t
    .insert('webhooks', { id: newId(), url: input.url, events: input.events, secret_encrypted: encryptSecret(encryptionKey, secret) })
    .returning('*')) as WebhookRow[];
  return { row, secret };
}

export async function listWebhooks(t: TenantTx, limit: number, cursor: string | null): Promise<WebhookRow[]> {
  const query = t.from('webhooks').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  return (await query) as WebhookRow[];
}

export async function getWebhook(t: TenantTx, id: string, options: { forUpdate?: boolean } = {}): Promise<WebhookRow> {
  return findOwned<WebhookRow>(t, 'webhooks', id, 'webhook', options);
}

export async function updateWebhook(t: TenantTx, id: string, patch: { url?: string; events?: EventType[]; enabled?: boolean }): Promise<WebhookRow> {
  const current = await getWebhook(t, id, { forUpdate: true });
  const changes: Record<string, unknown> = { updated_at: t.trx.fn.now() };
  // A new URL is a new receiver: its failure clock starts afresh.
  if (patch.url !== undefined && patch.url !== current.url) Object.assign(changes, { url: patch.url, failing_since: null });
  if (patch.events !== undefined) changes.events = patch.events;
  if (patch.enabled === true && !current.enabled) {
    // Re-enabling starts the failure clock afresh.
    Object.assign(changes, { enabled: true, disabled_reason: null, failing_since: null });
  } else if (patch.enabled === false && current.enabled) {
    Object.assign(changes, { enabled: false, disabled_reason: 'disabled by the account' });
  }
  const [row] = (await t.from('webhooks').where({ id }).update(changes).returning('*')) as WebhookRow[];
  return row;
}

/** Deletes the endpoint with its delivery log, and the queued work for its pending deliveries. */
export async function deleteWebhook(t: TenantTx, id: string): Promise<WebhookRow> {
  const row = await getWebhook(t, id, { forUpdate: true });
  const pending = t.from('webhook_deliveries').where({ webhook_id: id, status: 'pending' }).select('id');
  await t.from('outbox').where({ queue: 'webhooks', job_name: 'deliver' }).whereIn('ref_id', pending).delete();
  await t.from('webhooks').where({ id }).delete();
  return row;
}

/**
 * Replaces the secret; the old one keeps signing (a second signature on every
 * delivery) until `overlapHours` have passed, so receivers can switch without
 * dropping a delivery. A second rotation within the overlap drops the oldest.
 */
export async function rotateWebhookSecret(
  t: TenantTx,
  encryptionKey: Buffer,
  id: string,
  overlapHours: number,
  secret?: string,
): Promise<{ row: WebhookRow; secret: string }> {
  const current = await getWebhook(t, id, { forUpdate: true });
  const next = secret ?? generateWebhookSecret();
  const overlap = overlapHours > 0;
  const [row] = (await t
    .from('webhooks')
    .where({ id })
    .update({
      secret_encrypted: encryptSecret(encryptionKey, next),
      previous_secret_encrypted: overlap ? current.secret_encrypted : null,
      previous_secret_expires_at: overlap ? t.trx.raw(`now() + make_interval(hours => ?)`, [overlapHours]) : null,
      updated_at: t.trx.fn.now(),
    })
    .returning('*')) as WebhookRow[];
  return { row, secret: next };
}

/** The tenant's enabled endpoints subscribed to `type`. */
export async function subscribedWebhooks(t: TenantTx, type: string): Promise<Pick<WebhookRow, 'id'>[]> {
  return (await t.from('webhooks').where({ enabled: true }).whereRaw('? = ANY(events)', [type]).select('id')) as Pick<WebhookRow, 'id'>[];
}

export function deliverJob(tenantId: string, deliveryId: string, delayMs = 0): OutboxJob {
  return outboxJob('webhooks', 'deliver', deliveryId, { tenantId, deliveryId }, { delayMs });
}

/**
 * Records the event of one message history row, once: a second run (a retried
 * or duplicated fan-out job) gets the row the first one made.
 */
export async function recordMessageEvent(
  t: TenantTx,
  input: { messageId: string; sequence: number; type: string; sandbox: boolean; payload: (eventId: string) => Record<string, unknown> },
): Promise<WebhookEventRow> {
  const id = newId();
  const inserted = (await t.trx.raw(
    `INSERT INTO webhook_events (tenant_id, id, type, message_id, sequence, sandbox, payload)
     VALUES (?, ?, ?, ?, ?, ?, ?::jsonb)
     ON CONFLICT (tenant_id, message_id, sequence) DO NOTHING
     RETURNING *`,
    [t.tenantId, id, input.type, input.messageId, input.sequence, input.sandbox, JSON.stringify(input.payload(id))],
  )) as { rows: WebhookEventRow[] };
  if (inserted.rows[0]) return inserted.rows[0];
  const existing = (await t.from('webhook_events').where({ message_id: input.messageId, sequence: input.sequence }).first()) as WebhookEventRow | undefined;
  if (!existing) throw new Error('webhook event vanished after a conflicting insert');
  return existing;
}

/** One delivery per (endpoint, event); returns the jobs of the deliveries this call created. */
export async function createDeliveries(t: TenantTx, eventId: string, webhookIds: string[]): Promise<OutboxJob[]> {
  if (webhookIds.length === 0) return [];
  const rows = webhookIds.map((webhookId) => ({ id: newId(), webhook_id: webhookId, event_id: eventId, status: 'pending', next_attempt_at: t.trx.fn.now() }));
  const created = (await t.insert('webhook_deliveries', rows).onConflict(['tenant_id', 'webhook_id', 'event_id']).ignore().returning('id')) as { id: string }[];
  const jobs = created.map((row) => deliverJob(t.tenantId, row.id));
  await addToOutbox(t, jobs);
  return jobs;
}

/** A `webhook.test` event for one endpoint, delivered like any other. */
export async function createTestDelivery(t: TenantTx, webhookId: string, sandbox: boolean): Promise<{ eventId: string; deliveryId: string; jobs: OutboxJob[] }> {
  const webhook = await getWebhook(t, webhookId);
  if (!webhook.enabled) throw new ConflictError('This webhook is disabled; re-enable it (PATCH enabled: true) before testing it.', 'WEBHOOK_DISABLED');
  const eventId = newId();
  const payload = { event: 'webhook.test', event_id: eventId, tenant_id: t.tenantId, webhook_id: webhook.id, test_at: new Date().toISOString() };
  await t.insert('webhook_events', { id: eventId, type: 'webhook.test', sandbox, payload: JSON.stringify(payload) });
  const jobs = await createDeliveries(t, eventId, [webhook.id]);
  return { eventId, deliveryId: (jobs[0].payload as { deliveryId: string }).deliveryId, jobs };
}

export interface DeliveryWithAttempts extends WebhookDeliveryRow {
  event_type: string;
  attempt_log: WebhookAttemptRow[];
}

export function presentDelivery(row: DeliveryWithAttempts) {
  return {
    id: row.id,
    webhook_id: row.webhook_id,
    event_id: row.event_id,
    event: row.event_type,
    status: row.status,
    attempt_count: row.attempts,
    next_attempt_at: row.status === 'pending' ? row.next_attempt_at : null,
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    created_at: row.created_at,
    updated_at: row.updated_at,
    attempts: row.attempt_log.map((attempt) => ({
      attempt: attempt.attempt,
      attempted_at: attempt.attempted_at,
      status_code: attempt.status_code,
      latency_ms: attempt.latency_ms,
      error: attempt.error,
      next_attempt_at: attempt.next_attempt_at,
    })),
  };
}

async function withAttempts(t: TenantTx, rows: (WebhookDeliveryRow & { event_type: string })[]): Promise<DeliveryWithAttempts[]> {
  if (rows.length === 0) return [];
  const attempts = (await t
    .from('webhook_delivery_attempts')
    .whereIn('delivery_id', rows.map((row) => row.id))
    .orderBy([{ column: 'delivery_id' }, { column: 'attempt' }])) as WebhookAttemptRow[];
  return rows.map((row) => ({ ...row, attempt_log: attempts.filter((attempt) => attempt.delivery_id === row.id) }));
}

function deliveriesQuery(t: TenantTx, webhookId: string) {
  return t
    .from('webhook_deliveries as d')
    .join('webhook_events as e', (join) => void join.on('e.tenant_id', 'd.tenant_id').andOn('e.id', 'd.event_id'))
    .where('d.webhook_id', webhookId)
    .select('d.*', 'e.type as event_type');
}

/** The delivery log of one endpoint, newest first; the endpoint must be the tenant's. */
export async function listDeliveries(
  t: TenantTx,
  webhookId: string,
  page: { limit: number; cursor: string | null },
  filters: { status?: DeliveryStatus } = {},
): Promise<DeliveryWithAttempts[]> {
  await getWebhook(t, webhookId);
  const query = deliveriesQuery(t, webhookId).orderBy('d.id', 'desc').limit(page.limit + 1);
  if (page.cursor) void query.where('d.id', '<', page.cursor);
  if (filters.status) void query.where('d.status', filters.status);
  return withAttempts(t, (await query) as (WebhookDeliveryRow & { event_type: string })[]);
}

export async function getDelivery(t: TenantTx, webhookId: string, deliveryId: string): Promise<DeliveryWithAttempts> {
  await getWebhook(t, webhookId);
  const row = (await deliveriesQuery(t, webhookId).where('d.id', deliveryId).first()) as (WebhookDeliveryRow & { event_type: string }) | undefined;
  if (!row) throw new NotFoundError('webhook delivery');
  return (await withAttempts(t, [row]))[0];
}

/**
 * Sends a delivery again now, whatever its state (a failed delivery retried, a
 * succeeded one replayed). The attempt count continues; when the next attempt
 * fails, the retry schedule resumes from where it stands.
 */
export async function retryDelivery(t: TenantTx, webhookId: string, deliveryId: string): Promise<{ delivery: DeliveryWithAttempts; job: OutboxJob }> {
  const webhook = await getWebhook(t, webhookId);
  const delivery = await findOwned<WebhookDeliveryRow>(t, 'webhook_deliveries', deliveryId, 'webhook delivery', { forUpdate: true });
  if (delivery.webhook_id !== webhook.id) throw new NotFoundError('webhook delivery');
  if (!webhook.enabled) throw new ConflictError('This webhook is disabled; re-enable it (PATCH enabled: true) before retrying deliveries.', 'WEBHOOK_DISABLED');
  await t.from('webhook_deliveries').where({ id: deliveryId }).update({ status: 'pending', next_attempt_at: t.trx.fn.now(), updated_at: t.trx.fn.now() });
  const job = deliverJob(t.tenantId, deliveryId);
  await addToOutbox(t, [job]);
  return { delivery: await getDelivery(t, webhookId, deliveryId), job };
}
