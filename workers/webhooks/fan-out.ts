import { withTenant } from '../../shared/db/tenant';
import { NotFoundError } from '../../shared/errors';
import { getMessage } from '../../shared/data/messages';
import { listMessageMedia } from '../../shared/data/media';
import { createDeliveries, getWebhookEvent, messageHistoryForWebhooks, recordMessageEvent, subscribedWebhooks } from '../../shared/data/webhooks';
import { EVENT_TYPES } from '../../shared/events';
import { addToOutbox, consumeOutbox, enqueueAll, OutboxJob } from '../../shared/outbox';
import { statusCallbackJob } from '../../shared/data/status-callbacks';
import type { JobPayload } from '../../shared/queues';
import { messageEventPayload } from '../../shared/webhooks/payload';
import type { WorkerDeps } from '../deps';
import { done, JobOutcome } from '../runtime';

const ANNOUNCED: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * `message-event`: one message history row → one event row (made once, even
 * when the job runs twice) → one delivery per subscribed, enabled endpoint.
 * Most messages' tenants have no endpoint for most statuses: that case costs
 * one short transaction and writes nothing but the outbox delete. A message
 * with its own status_callback also gets a `status-callback` job.
 */
export function createMessageEventFanOut(deps: WorkerDeps) {
  return async function messageEvent(payload: JobPayload<'webhooks', 'message-event'>): Promise<JobOutcome> {
    const { tenantId, messageId, sequence } = payload;
    const ref = `${messageId}_${sequence}`;
    const jobs = await withTenant(deps.db.app, tenantId, async (t): Promise<OutboxJob[]> => {
      await consumeOutbox(t, 'webhooks', 'message-event', ref);
      // The history row and whether anyone listens, in one statement: the common
      // case (no endpoint for this status) ends here.
      const history = await messageHistoryForWebhooks(t, messageId, sequence);
      if (!history) throw new NotFoundError('message event');
      const type = `message.${history.status}`;
      // The message's own status_callback hears of every step, whoever else listens.
      const callbacks = history.has_status_callback ? [statusCallbackJob(tenantId, messageId, sequence)] : [];
      await addToOutbox(t, callbacks);
      if (!ANNOUNCED.has(type) || !history.subscribed) return callbacks;
      const message = await getMessage(t, messageId);
      // Sandbox traffic reaches webhooks only when the send asked for it.
      if (message.sandbox && !message.dispatch_webhook) return callbacks;
      const webhooks = await subscribedWebhooks(t, type);
      if (webhooks.length === 0) return callbacks;
      const media = message.direction === 'inbound' ? await listMessageMedia(t, messageId) : [];
      const event = await recordMessageEvent(t, {
        messageId,
        sequence,
        type,
        sandbox: message.sandbox,
        payload: (eventId) => messageEventPayload(eventId, message, history, media),
      });
      return [...callbacks, ...(await createDeliveries(t, event.id, webhooks.map((webhook) => webhook.id)))];
    });
    await enqueueAll(deps.queues, jobs);
    return done(`${jobs.length} deliveries`);
  };
}

/** `fan-out-event`: an event recorded by emitEvent (opt-outs, campaigns, …). */
export function createStoredEventFanOut(deps: WorkerDeps) {
  return async function fanOutEvent(payload: JobPayload<'webhooks', 'fan-out-event'>): Promise<JobOutcome> {
    const { tenantId, eventId } = payload;
    const jobs = await withTenant(deps.db.app, tenantId, async (t) => {
      await consumeOutbox(t, 'webhooks', 'fan-out-event', eventId);
      const event = await getWebhookEvent(t, eventId);
      const webhooks = await subscribedWebhooks(t, event.type);
      return createDeliveries(t, event.id, webhooks.map((webhook) => webhook.id));
    });
    await enqueueAll(deps.queues, jobs);
    return done(`${jobs.length} deliveries`);
  };
}
