import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { newId } from '../ids';
import { ConflictError, NotFoundError } from '../errors';
import { decryptSecret, encryptSecret } from '../crypto';
import { addToOutbox, dropOutboxRows, outboxJob, OutboxJob } from '../outbox';
import type { EventType } from '../events';
import type { DeliveryStatus } from '../schemas/webhooks';
import type { MessageHistoryRow } from '../webhooks/payload';
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
export function signingSecrets(row: Pick<WebhookRow, 'secret_encrypted' | 'previous_secret_encrypted' | 'previous_secret_expires_at'>, encryptionKey: Buffer, now = new Date()): string[] {
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
  await dropOutboxRows(t, 'webhooks', ['deliver'], pendingDeliveryIds(t, id));
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

/** The ids of an endpoint's pending deliveries, as a subquery. */
function pendingDeliveryIds(t: TenantTx, webhookId: string) {
  return t.from('webhook_deliveries').where({ webhook_id: webhookId, status: 'pending' }).select('id');
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

/** One of the tenant's deliveries, as stored (the worker's view; the API's is getDelivery). */
export async function getDeliveryRecord(t: TenantTx, id: string, options: { forUpdate?: boolean } = {}): Promise<WebhookDeliveryRow> {
  return findOwned<WebhookDeliveryRow>(t, 'webhook_deliveries', id, 'webhook delivery', options);
}

export async function getWebhookEvent(t: TenantTx, id: string): Promise<WebhookEventRow> {
  return findOwned<WebhookEventRow>(t, 'webhook_events', id, 'webhook event');
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

/**
 * One message history row and whether any enabled endpoint of the tenant
 * listens for its status, in one statement: the common case (nobody listens)
 * costs nothing more.
 */
export async function messageHistoryForWebhooks(
  t: TenantTx,
  messageId: string,
  sequence: number,
): Promise<(MessageHistoryRow & { subscribed: boolean; has_status_callback: boolean }) | undefined> {
  return (await t
    .from('message_events')
    .where({ message_id: messageId, sequence })
    .first(
      'message_events.*',
      t.trx.raw(
        `EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = message_events.tenant_id AND w.enabled AND ('message.' || message_events.status) = ANY (w.events)) AS subscribed`,
      ),
      t.trx.raw(
        `EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = message_events.tenant_id AND m.id = message_events.message_id AND m.status_callback IS NOT NULL) AS has_status_callback`,
      ),
    )) as (MessageHistoryRow & { subscribed: boolean; has_status_callback: boolean }) | undefined;
}

/** Ends a delivery without another attempt (its endpoint was disabled). */
export async function failDelivery(t: TenantTx, deliveryId: string, error: string): Promise<void> {
  await t.from('webhook_deliveries').where({ id: deliveryId }).update({ status: 'failed', last_error: error, next_attempt_at: null, updated_at: t.trx.fn.now() });
}

/**
 * Takes the next attempt number of a delivery (locked by the caller) and
 * leases it: next_attempt_at moves `leaseSeconds` ahead, so a duplicate run
 * of the job waits instead of sending. Returns the attempt number.
 */
export async function claimDeliveryAttempt(t: TenantTx, delivery: Pick<WebhookDeliveryRow, 'id' | 'attempts'>, leaseSeconds: number): Promise<number> {
  const attempt = delivery.attempts + 1;
  await t
    .from('webhook_deliveries')
    .where({ id: delivery.id })
    .update({ attempts: attempt, next_attempt_at: t.trx.raw('now() + make_interval(secs => ?)', [leaseSeconds]), updated_at: t.trx.fn.now() });
  return attempt;
}

/** A receiver answered 2xx: the endpoint is healthy again. */
export async function markWebhookSucceeded(t: TenantTx, webhookId: string): Promise<void> {
  await t.from('webhooks').where({ id: webhookId }).update({ last_success_at: t.trx.fn.now(), failing_since: null });
}

/**
 * A receiver failed: the endpoint's failure clock starts (or keeps running),
 * and the endpoint is disabled at once on a 410, otherwise once nothing has
 * succeeded for `disableAfterDays`. Returns whether it is still enabled, and why not.
 */
export async function markWebhookFailing(
  t: TenantTx,
  webhookId: string,
  failure: { gone: boolean; disableAfterDays: number },
): Promise<{ enabled: boolean; disabled_reason: string | null } | undefined> {
  const reason = failure.gone ? 'the receiver answered 410 Gone' : `no successful delivery for ${failure.disableAfterDays} days`;
  // Every SET expression sees the row as it was before this UPDATE.
  const disable = failure.gone ? t.trx.raw('true') : t.trx.raw('COALESCE(failing_since, now()) <= now() - make_interval(days => ?)', [failure.disableAfterDays]);
  const [row] = (await t
    .from('webhooks')
    .where({ id: webhookId })
    .update({
      failing_since: t.trx.raw('COALESCE(failing_since, now())'),
      enabled: t.trx.raw('enabled AND NOT (?)', [disable]),
      disabled_reason: t.trx.raw('CASE WHEN enabled AND (?) THEN ? ELSE disabled_reason END', [disable, reason]),
      updated_at: t.trx.fn.now(),
    })
    .returning(['enabled', 'disabled_reason'])) as { enabled: boolean; disabled_reason: string | null }[];
  return row;
}

/**
 * Logs one attempt and moves its delivery to what came of it; a delivery
 * whose attempt count moved on meanwhile (a later claim) is left to that one.
 */
export async function recordDeliveryAttempt(
  t: TenantTx,
  deliveryId: string,
  attempt: { attempt: number; status: DeliveryStatus; statusCode: number | null; latencyMs: number | null; error: string | null; nextAt: Date | null },
): Promise<void> {
  await t.insert('webhook_delivery_attempts', {
    delivery_id: deliveryId,
    attempt: attempt.attempt,
    status_code: attempt.statusCode,
    latency_ms: attempt.latencyMs,
    error: attempt.error,
    next_attempt_at: attempt.nextAt,
  });
  await t
    .from('webhook_deliveries')
    .where({ id: deliveryId, attempts: attempt.attempt })
    .update({ status: attempt.status, next_attempt_at: attempt.nextAt, last_status_code: attempt.statusCode, last_error: attempt.error, updated_at: t.trx.fn.now() });
}

/** The endpoint is off: its other pending deliveries stop too, with their queued work (retry them after re-enabling). */
export async function failPendingDeliveries(t: TenantTx, webhookId: string, error: string): Promise<void> {
  await dropOutboxRows(t, 'webhooks', ['deliver'], pendingDeliveryIds(t, webhookId));
  await t
    .from('webhook_deliveries')
    .where({ webhook_id: webhookId, status: 'pending' })
    .update({ status: 'failed', last_error: error, next_attempt_at: null, updated_at: t.trx.fn.now() });
}

/** Whether the tenant has an enabled endpoint subscribed to `type` (only then does an event pay for a webhook job). */
export async function hasEnabledSubscriber(t: TenantTx, type: string): Promise<boolean> {
  const row = await t.from('webhooks').where('enabled', true).whereRaw('? = ANY(events)', [type]).first('id');
  return Boolean(row);
}

/**
 * Records a non-message event in the tenant's event log. With a `dedupeKey`
 * the event is recorded once per tenant and key: false when it already was.
 */
export async function insertWebhookEvent(
  t: TenantTx,
  event: { id: string; type: string; sandbox: boolean; payload: Record<string, unknown>; dedupeKey?: string | null },
): Promise<boolean> {
  const row = { id: event.id, type: event.type, sandbox: event.sandbox, payload: JSON.stringify(event.payload), dedupe_key: event.dedupeKey ?? null };
  if (row.dedupe_key === null) {
    await t.insert('webhook_events', row);
    return true;
  }
  const inserted = (await t.insert('webhook_events', row).onConflict(['tenant_id', 'dedupe_key']).ignore().returning('id')) as unknown[];
  return inserted.length > 0;
}
