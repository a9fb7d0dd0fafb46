import type { TenantTx } from '../db/tenant';
import { getMessage } from './messages';
import { decryptSecret, encryptSecret } from '../crypto';
import { outboxJob, OutboxJob } from '../outbox';
import type { MessageHistoryRow } from '../webhooks/payload';
import { generateWebhookSecret } from '../webhooks/signing';

/**
 * Per-message status callbacks: the tenant's signing secret (one per tenant,
 * stored encrypted, rotated with an overlap like an endpoint's) and one
 * delivery row per message history row with its attempts and outcome.
 */
export interface StatusCallbackSecretRow {
  tenant_id: string;
  secret_encrypted: string;
  previous_secret_encrypted: string | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface StatusCallbackDeliveryRow {
  tenant_id: string;
  message_id: string;
  sequence: number;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
}

/** The public shape: the secret itself (this route exists to hand it over) and the rotation overlap. */
export function presentStatusCallbackSecret(row: StatusCallbackSecretRow, encryptionKey: Buffer) {
  const rotating = row.previous_secret_expires_at && row.previous_secret_expires_at.getTime() > Date.now();
  return {
    secret: decryptSecret(encryptionKey, row.secret_encrypted),
    previous_secret_expires_at: rotating ? row.previous_secret_expires_at : null,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export async function getStatusCallbackSecret(t: TenantTx): Promise<StatusCallbackSecretRow | undefined> {
  return (await t.from('status_callback_secrets').first()) as StatusCallbackSecretRow | undefined;
}

/** The tenant's secret, made on first use (two first uses at once keep the one that won). */
export async function ensureStatusCallbackSecret(t: TenantTx, encryptionKey: Buffer): Promise<StatusCallbackSecretRow> {
  const existing = await getStatusCallbackSecret(t);
  if (existing) return existing;
  await t.insert('status_callback_secrets', { secret_encrypted: encryptSecret(encryptionKey, generateWebhookSecret()) }).onConflict('tenant_id').ignore();
  return (await getStatusCallbackSecret(t))!;
}

/**
 * Replaces the secret (or makes the first one); the old one keeps signing
 * until `overlapHours` have passed, as for webhook endpoints.
 */
export async function rotateStatusCallbackSecret(t: TenantTx, encryptionKey: Buffer, overlapHours: number, secret?: string): Promise<StatusCallbackSecretRow> {
  const current = await getStatusCallbackSecret(t);
  const next = encryptSecret(encryptionKey, secret ?? generateWebhookSecret());
  if (!current) {
    await t.insert('status_callback_secrets', { secret_encrypted: next }).onConflict('tenant_id').merge(['secret_encrypted']);
    return (await getStatusCallbackSecret(t))!;
  }
  const overlap = overlapHours > 0;
  const [row] = (await t
    .from('status_callback_secrets')
    .update({
      secret_encrypted: next,
      previous_secret_encrypted: overlap ? current.secret_encrypted : null,
      previous_secret_expires_at: overlap ? t.trx.raw('now() + make_interval(hours => ?)', [overlapHours]) : null,
      updated_at: t.trx.fn.now(),
    })
    .returning('*')) as StatusCallbackSecretRow[];
  return row;
}

export function statusCallbackJob(tenantId: string, messageId: string, sequence: number): OutboxJob {
  return outboxJob('webhooks', 'status-callback', `${messageId}_${sequence}`, { tenantId, messageId, sequence });
}

/** One history row of one of the tenant's messages. */
export async function getMessageHistoryRow(t: TenantTx, messageId: string, sequence: number): Promise<MessageHistoryRow | undefined> {
  return (await t.from('message_events').where({ message_id: messageId, sequence }).first()) as MessageHistoryRow | undefined;
}

/** The delivery row of one history row, made on first use, locked for this transaction. */
export async function lockStatusCallbackDelivery(t: TenantTx, messageId: string, sequence: number): Promise<StatusCallbackDeliveryRow> {
  await t.insert('status_callback_deliveries', { message_id: messageId, sequence }).onConflict(['tenant_id', 'message_id', 'sequence']).ignore();
  return (await t.from('status_callback_deliveries').where({ message_id: messageId, sequence }).forUpdate().first()) as StatusCallbackDeliveryRow;
}

/**
 * Takes the next attempt number; next_attempt_at doubles as a lease, so a
 * duplicate run of the job waits instead of POSTing a second time.
 */
export async function claimStatusCallbackAttempt(t: TenantTx, messageId: string, sequence: number, leaseSeconds: number): Promise<number> {
  const [row] = (await t
    .from('status_callback_deliveries')
    .where({ message_id: messageId, sequence })
    .update({ attempts: t.trx.raw('attempts + 1'), next_attempt_at: t.trx.raw('now() + make_interval(secs => ?)', [leaseSeconds]), updated_at: t.trx.fn.now() })
    .returning('attempts')) as { attempts: number }[];
  return row.attempts;
}

export async function recordStatusCallbackAttempt(
  t: TenantTx,
  messageId: string,
  sequence: number,
  outcome: { status: StatusCallbackDeliveryRow['status']; statusCode: number | null; error: string | null; nextAt: Date | null },
): Promise<void> {
  await t
    .from('status_callback_deliveries')
    .where({ message_id: messageId, sequence })
    .update({ status: outcome.status, last_status_code: outcome.statusCode, last_error: outcome.error, next_attempt_at: outcome.nextAt, updated_at: t.trx.fn.now() });
}

/** One status change of a message and its callback, as GET /v1/messages/:id/callbacks shows it. */
export interface StatusCallbackView {
  sequence: number;
  message_status: string;
  status: StatusCallbackDeliveryRow['status'];
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Date | null;
  updated_at: Date | null;
}

/**
 * The status callbacks of one of the tenant's messages, one per announced
 * status change in history order: attempted ones with their outcome, the
 * others `pending` with no attempt yet. Empty when the message has no
 * `status_callback`. A message the caller's key may not see is a 404.
 */
export async function listStatusCallbacks(t: TenantTx, messageId: string, announced: readonly string[], sandbox?: boolean): Promise<StatusCallbackView[]> {
  const message = await getMessage(t, messageId, { sandbox });
  if (!message.status_callback) return [];
  const rows = (await t
    .from('message_events as e')
    .leftJoin('status_callback_deliveries as d', function joinDelivery() {
      this.on('d.tenant_id', '=', 'e.tenant_id').andOn('d.message_id', '=', 'e.message_id').andOn('d.sequence', '=', 'e.sequence');
    })
    .where('e.message_id', messageId)
    .whereIn('e.status', announced as string[])
    // The row an SMS fallback adds repeats the current status and is not announced (no callback is made for it).
    .whereRaw("e.reason IS DISTINCT FROM 'sms_fallback'")
    .orderBy('e.sequence', 'asc')
    .select('e.sequence', 'e.status as message_status', 'd.status', 'd.attempts', 'd.last_status_code', 'd.last_error', 'd.next_attempt_at', 'd.updated_at')) as (Omit<StatusCallbackView, 'status' | 'attempts'> & { status: StatusCallbackView['status'] | null; attempts: number | null })[];
  return rows.map((row) => ({ ...row, status: row.status ?? 'pending', attempts: row.attempts ?? 0 }));
}
