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
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Records a non-message event (opt-outs, campaigns) in the tenant's event log
 * and the job that fans it out to subscribed webhooks, in the caller's
 * transaction. Message status events are recorded by the message history.
 */
export async function emitEvent(t: TenantTx, type: EventType, data: Record<string, unknown>, options: { sandbox?: boolean } = {}): Promise<OutboxJob> {
  const id = newId();
  const at = new Date().toISOString();
  const verb = type.split('.')[1];
  const payload = { event: type, event_id: id, tenant_id: t.tenantId, ...data, [`${verb}_at`]: at };
  await insertWebhookEvent(t, { id, type, sandbox: options.sandbox ?? false, payload });
  const job = outboxJob('webhooks', 'fan-out-event', id, { tenantId: t.tenantId, eventId: id });
  await addToOutbox(t, [job]);
  return job;
}
