import type { TenantTx } from '../db/tenant';
import { addToOutbox, outboxJob, OutboxJob } from '../outbox';

export type MessageStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'blocked' | 'received';

/**
 * Which statuses a message may move to a given status from. Status only moves
 * forward: a late or repeated device report finds no row in an allowed state
 * and changes nothing.
 */
const ALLOWED_FROM: Record<MessageStatus, MessageStatus[]> = {
  queued: [],
  received: [],
  sending: ['queued'],
  sent: ['queued', 'sending'],
  delivered: ['queued', 'sending', 'sent'],
  read: ['queued', 'sending', 'sent', 'delivered'],
  failed: ['queued', 'sending', 'sent'],
  blocked: ['queued'],
};

/** Statuses that are announced as `message.<status>` events. */
const ANNOUNCED: ReadonlySet<MessageStatus> = new Set(['queued', 'sent', 'delivered', 'read', 'failed', 'blocked', 'received']);

const TIMESTAMP_COLUMN: Partial<Record<MessageStatus, string>> = {
  sent: 'sent_at',
  delivered: 'delivered_at',
  read: 'read_at',
  failed: 'failed_at',
};

export interface Transition {
  changed: boolean;
  sequence: number;
  /** Jobs recorded in the outbox; enqueue them after commit. */
  jobs: OutboxJob[];
}

/** The webhook job for a message history row, when that status is announced. */
export function messageEventJob(tenantId: string, messageId: string, sequence: number, status: MessageStatus): OutboxJob | null {
  if (!ANNOUNCED.has(status)) return null;
  return outboxJob('webhooks', 'message-event', `${messageId}_${sequence}`, { tenantId, messageId, sequence });
}

/** Only tenants with an enabled endpoint subscribed to the event pay for a webhook job. */
export async function hasSubscriber(t: TenantTx, event: string): Promise<boolean> {
  const row = await t.from('webhooks').where('enabled', true).whereRaw('? = ANY(events)', [event]).first('id');
  return Boolean(row);
}

/**
 * Moves a message forward with one conditional UPDATE and appends its history
 * row (the next `sequence`) and the webhook job in the same transaction.
 */
export async function transitionMessage(
  t: TenantTx,
  messageId: string,
  status: MessageStatus,
  options: { reason?: string | null; occurredAt?: Date; set?: Record<string, unknown> } = {},
): Promise<Transition> {
  const occurredAt = options.occurredAt ?? new Date();
  const changes: Record<string, unknown> = {
    status,
    reason: options.reason ?? null,
    updated_at: t.trx.fn.now(),
    last_sequence: t.trx.raw('last_sequence + 1'),
    ...options.set,
  };
  const column = TIMESTAMP_COLUMN[status];
  if (column) changes[column] = t.trx.raw(`COALESCE(${column}, ?)`, [occurredAt]);
  // A delivery or read report implies the earlier steps happened.
  if (status === 'delivered' || status === 'read') changes.sent_at = t.trx.raw('COALESCE(sent_at, ?)', [occurredAt]);
  if (status === 'read') changes.delivered_at = t.trx.raw('COALESCE(delivered_at, ?)', [occurredAt]);

  const [row] = (await t
    .from('messages')
    .where({ id: messageId })
    .whereIn('status', ALLOWED_FROM[status])
    .update(changes)
    .returning(['last_sequence', 'sandbox', 'dispatch_webhook', 'direction', 'to_number'])) as {
    last_sequence: number;
    sandbox: boolean;
    dispatch_webhook: boolean;
    direction: string;
    to_number: string;
  }[];
  if (!row) return { changed: false, sequence: 0, jobs: [] };

  await t.insert('message_events', { message_id: messageId, sequence: row.last_sequence, status, reason: options.reason ?? null, occurred_at: occurredAt });
  const jobs: OutboxJob[] = [];
  const announce = messageEventJob(t.tenantId, messageId, row.last_sequence, status);
  if (announce && (!row.sandbox || row.dispatch_webhook) && (await hasSubscriber(t, `message.${status}`))) jobs.push(announce);
  await addToOutbox(t, jobs);
  // A number the tenant has successfully messaged is no longer a "new contact".
  if ((status === 'sent' || status === 'delivered' || status === 'read') && row.direction === 'outbound' && !row.sandbox) {
    await t.trx.raw('INSERT INTO known_recipients (tenant_id, phone_number) VALUES (?, ?) ON CONFLICT DO NOTHING', [t.tenantId, row.to_number]);
  }
  return { changed: true, sequence: row.last_sequence, jobs };
}
