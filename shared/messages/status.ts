import type { TenantTx } from '../db/tenant';
import { outboxJob, OutboxJob } from '../outbox';
import { transitionMessageRow, updateMessageColumns } from '../data/messages';
import { hasEnabledSubscriber } from '../data/webhooks';
import { messageStatusTotal } from '../metrics';

export type MessageStatus = 'scheduled' | 'queued' | 'sending' | 'sent' | 'delivered' | 'read' | 'failed' | 'blocked' | 'received' | 'cancelled';

/** Statuses that are announced as `message.<status>` events. */
const ANNOUNCED: ReadonlySet<MessageStatus> = new Set(['scheduled', 'queued', 'sent', 'delivered', 'read', 'failed', 'blocked', 'received', 'cancelled']);

/** The statuses an outbound message's `status_callback` is called for. */
export const CALLBACK_STATUSES: readonly MessageStatus[] = [...ANNOUNCED].filter((status) => status !== 'received');

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
  return hasEnabledSubscriber(t, event);
}

/**
 * Moves a message forward with one conditional UPDATE and appends its history
 * row (the next `sequence`), the webhook's outbox row and the known-recipient
 * mark in the same statement (senderz_transition_message, the one definition
 * of which status may follow which). `set` changes more columns of the
 * message, only when the transition happened.
 */
export async function transitionMessage(
  t: TenantTx,
  messageId: string,
  status: MessageStatus,
  options: { reason?: string | null; occurredAt?: Date; set?: Record<string, unknown> } = {},
): Promise<Transition> {
  const row = await transitionMessageRow(t, messageId, status, options.reason ?? null, options.occurredAt ?? new Date());
  if (!row.changed) return { changed: false, sequence: 0, jobs: [] };
  if (options.set) await updateMessageColumns(t, messageId, options.set);
  messageStatusTotal.inc({ status });
  const announce = row.announced ? messageEventJob(t.tenantId, messageId, row.seq, status) : null;
  return { changed: true, sequence: row.seq, jobs: announce ? [announce] : [] };
}
