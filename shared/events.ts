import type { TenantTx } from './db/tenant';
import { newId } from './ids';
import { addToOutbox, outboxJob, OutboxJob } from './outbox';
import { insertWebhookEvent } from './data/webhooks';

export const EVENT_TYPES = [
  'message.scheduled',
  'message.queued',
  'message.sent',
  'message.delivered',
  'message.read',
  'message.failed',
  'message.blocked',
  'message.received',
  'message.cancelled',
  'campaign.completed',
  'opt_out.created',
  'opt_out.removed',
  'line.offline',
  'line.online',
  'usage.cap_approaching',
  'usage.cap_reached',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Records a non-message event (opt-outs, campaigns) in the tenant's event log
 * and the job that fans it out to subscribed webhooks, in the caller's
 * transaction. Message status events are recorded by the message history.
 */
export async function emitEvent(t: TenantTx, type: EventType, data: Record<string, unknown>, options: { sandbox?: boolean } = {}): Promise<OutboxJob> {
  return (await recordEvent(t, type, data, options.sandbox ?? false, null))!;
}

/**
 * emitEvent for events that happen once per tenant and `dedupeKey` (a usage
 * cap approached in a period): null, and nothing written, when it already was.
 */
export async function emitEventOnce(t: TenantTx, type: EventType, data: Record<string, unknown>, dedupeKey: string): Promise<OutboxJob | null> {
  return recordEvent(t, type, data, false, dedupeKey);
}

async function recordEvent(t: TenantTx, type: EventType, data: Record<string, unknown>, sandbox: boolean, dedupeKey: string | null): Promise<OutboxJob | null> {
  const id = newId();
  const at = new Date().toISOString();
  const verb = type.split('.')[1];
  const payload = { event: type, event_id: id, tenant_id: t.tenantId, ...data, [`${verb}_at`]: at };
  if (!(await insertWebhookEvent(t, { id, type, sandbox, payload, dedupeKey }))) return null;
  const job = outboxJob('webhooks', 'fan-out-event', id, { tenantId: t.tenantId, eventId: id });
  await addToOutbox(t, [job]);
  return job;
}
