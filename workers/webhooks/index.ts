import type { QueueHandlers } from '../runtime';
import type { WorkerDeps } from '../deps';
import { createDeliverer, DelivererOptions } from './deliver';
import { createMessageEventFanOut, createStoredEventFanOut } from './fan-out';
import { createStatusCallbackSender } from './status-callback';

/** The webhooks pool: fans events out to endpoints and delivers them; POSTs per-message status callbacks. */
export function createWebhookHandlers(deps: WorkerDeps, options: DelivererOptions = {}): QueueHandlers<'webhooks'> {
  return {
    'message-event': createMessageEventFanOut(deps),
    'fan-out-event': createStoredEventFanOut(deps),
    deliver: createDeliverer(deps, options),
    'status-callback': createStatusCallbackSender(deps, { resolve: options.resolve }),
  };
}
