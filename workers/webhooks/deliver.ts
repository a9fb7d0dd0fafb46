import { webhookDeliveries } from '../../shared/metrics';
import { withTenant } from '../../shared/db/tenant';
import {
  claimDeliveryAttempt,
  deliverJob,
  failDelivery,
  failPendingDeliveries,
  getDeliveryRecord,
  getWebhook,
  getWebhookEvent,
  markWebhookFailing,
  markWebhookSucceeded,
  recordDeliveryAttempt,
  signingSecrets,
  WebhookDeliveryRow,
  WebhookEventRow,
  WebhookRow,
} from '../../shared/data/webhooks';
import { addToOutbox, consumeOutbox } from '../../shared/outbox';
import type { JobPayload } from '../../shared/queues';
import type { DeliveryStatus } from '../../shared/schemas/webhooks';
import { postWebhook, WebhookAnswer } from '../../shared/webhooks/client';
import { serializeEventPayload } from '../../shared/webhooks/payload';
import { signDelivery } from '../../shared/webhooks/signing';
import type { Resolver } from '../../shared/webhooks/ssrf';
import type { WorkerDeps } from '../deps';
import { createEndpointSlots, EndpointSlot, EndpointSlots } from './endpoint-slots';
import { deferred, done, JobOutcome, skipped } from '../runtime';

const USER_AGENT = 'senderz-webhooks/1';
/** A healthy endpoint's last_success_at is refreshed at most this often (one row write per delivery saved). */
const SUCCESS_STAMP_MS = 60000;

/** ±10 %: endpoints that failed together do not all come back in the same second. */
export function withJitter(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}

/**
 * When the attempt numbered `attempt` (1-based) failed, when to try again, or
 * null when the schedule is spent. `schedule[i]` is the wait after attempt i+1.
 */
export function nextWebhookAttemptAt(schedule: number[], attempt: number, now = Date.now()): Date | null {
  const seconds = schedule[attempt - 1];
  return seconds === undefined ? null : new Date(now + withJitter(seconds * 1000));
}

export interface DelivererOptions {
  slots?: EndpointSlots;
  /** Tests simulate DNS answers through this. */
  resolve?: Resolver;
}

interface Claimed {
  delivery: WebhookDeliveryRow;
  webhook: WebhookRow;
  event: WebhookEventRow;
  attempt: number;
}

/** What the first transaction decided: send now, come back later, or nothing to do. */
type Decision = { send: Claimed } | { wait: number; why: string; parkOn?: string } | { done: string };

/**
 * `deliver`: one attempt of one delivery. Reloads delivery, endpoint and event
 * through the tenant layer, takes an endpoint slot and claims the attempt in one
 * transaction; signs and POSTs the exact bytes; records the attempt and
 * schedules the next one in a second (the same BullMQ job moved to delayed, and
 * its outbox row moved to the same time so the relay re-creates it if Redis
 * loses it). Receiver failures never throw: they are outcomes, not job errors.
 */
export function createDeliverer(deps: WorkerDeps, options: DelivererOptions = {}) {
  const { db, config, log } = deps;
  const settings = config.webhooks;
  // A slot and the in-flight claim outlive the attempt's own deadline by a margin.
  const leaseMs = settings.timeoutMs * 2 + 5000;
  const slots = options.slots ?? createEndpointSlots({ redis: deps.redis, prefix: config.queuePrefix, max: settings.maxConcurrencyPerEndpoint, leaseMs });
  const policy = { allowPrivateNetworks: config.webhookAllowPrivateNetworks };

  /**
   * Which endpoint a delivery parked for a busy endpoint waits on, so its next
   * turn asks Redis for a slot before touching PostgreSQL. Only ever used to
   * pick a slot key; bounded, oldest entries dropped first.
   */
  const parkedOn = new Map<string, string>();
  const park = (deliveryId: string, webhookId: string) => {
    parkedOn.delete(deliveryId);
    parkedOn.set(deliveryId, webhookId);
    if (parkedOn.size > 10000) parkedOn.delete(parkedOn.keys().next().value as string);
  };

  /** `held.slot` is the endpoint slot this run holds; whoever takes one puts it there so the caller always frees it. */
  async function decide(tenantId: string, deliveryId: string, held: { slot: EndpointSlot | null }): Promise<Decision> {
    return withTenant(deps.db.app, tenantId, async (t): Promise<Decision> => {
      const delivery = await getDeliveryRecord(t, deliveryId, { forUpdate: true });
      const webhook = await getWebhook(t, delivery.webhook_id);
      const event = await getWebhookEvent(t, delivery.event_id);
      if (delivery.status !== 'pending') {
        await consumeOutbox(t, 'webhooks', 'deliver', deliveryId);
        return { done: `already ${delivery.status}` };
      }
      if (!webhook.enabled) {
        await failDelivery(t, deliveryId, 'endpoint disabled');
        await consumeOutbox(t, 'webhooks', 'deliver', deliveryId);
        return { done: 'endpoint disabled' };
      }
      const due = delivery.next_attempt_at?.getTime() ?? 0;
      if (due > Date.now() + 1000) return { wait: due, why: 'not due yet' };
      if (!held.slot) {
        const taken = await slots.acquire(webhook.id, deliveryId);
        if ('waitMs' in taken) return { wait: Date.now() + taken.waitMs, why: 'endpoint busy', parkOn: webhook.id };
        held.slot = taken;
      }
      // The attempt number is taken here, under the row lock; next_attempt_at
      // doubles as a lease, so a duplicate run of this job waits instead of sending.
      const attempt = await claimDeliveryAttempt(t, delivery, leaseMs / 1000);
      return { send: { delivery, webhook, event, attempt } };
    });
  }

  async function send({ webhook, event, delivery }: Claimed): Promise<WebhookAnswer> {
    const body = serializeEventPayload(event.payload);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      'X-Senderz-Event': event.type,
      'X-Senderz-Delivery': delivery.id,
      // webhook-id is the event id: stable across retries (and replays), what receivers de-duplicate on.
      ...signDelivery({ id: event.id, timestamp: Math.floor(Date.now() / 1000), body, secrets: signingSecrets(webhook, config.encryptionKey) }),
    };
    if (event.sandbox) headers['X-Senderz-Sandbox'] = '1';
    return postWebhook({ url: webhook.url, body, headers, timeoutMs: settings.timeoutMs, policy, resolve: options.resolve });
  }

  /** Records the attempt and its consequences for the delivery and the endpoint, in one transaction. */
  async function record(tenantId: string, claimed: Claimed, answer: WebhookAnswer) {
    const { delivery, webhook, attempt } = claimed;
    const succeeded = answer.status !== null && answer.status >= 200 && answer.status < 300;
    const gone = answer.status === 410;
    return withTenant(db.app, tenantId, async (t) => {
      let nextAt = succeeded || gone ? null : nextWebhookAttemptAt(settings.retryScheduleSeconds, attempt);
      let disabledReason: string | null = null;
      if (succeeded) {
        const fresh = webhook.failing_since === null && webhook.last_success_at !== null && Date.now() - webhook.last_success_at.getTime() < SUCCESS_STAMP_MS;
        if (!fresh) await markWebhookSucceeded(t, webhook.id);
      } else {
        // 410 disables at once; otherwise when nothing has succeeded for disableAfterDays.
        const row = await markWebhookFailing(t, webhook.id, { gone, disableAfterDays: settings.disableAfterDays });
        if (row && !row.enabled) {
          disabledReason = row.disabled_reason;
          nextAt = null;
        }
      }
      const status: DeliveryStatus = succeeded ? 'succeeded' : nextAt ? 'pending' : 'failed';
      await recordDeliveryAttempt(t, delivery.id, { attempt, status, statusCode: answer.status, latencyMs: answer.latencyMs, error: answer.error, nextAt });
      if (nextAt) await addToOutbox(t, [deliverJob(tenantId, delivery.id, nextAt.getTime() - Date.now())]);
      else await consumeOutbox(t, 'webhooks', 'deliver', delivery.id);
      // The endpoint is off: its other pending deliveries stop here too (retry them after re-enabling).
      if (disabledReason) await failPendingDeliveries(t, webhook.id, 'endpoint disabled');
      return { status, nextAt, disabledReason };
    });
  }

  return async function deliver(payload: JobPayload<'webhooks', 'deliver'>): Promise<JobOutcome> {
    const { tenantId, deliveryId } = payload;
    const held: { slot: EndpointSlot | null } = { slot: null };
    try {
      const parked = parkedOn.get(deliveryId);
      if (parked) {
        const taken = await slots.acquire(parked, deliveryId);
        if ('waitMs' in taken) return deferred(new Date(Date.now() + taken.waitMs), 'endpoint busy');
        held.slot = taken;
      }
      const decision = await decide(tenantId, deliveryId, held).catch(async (error: unknown) => {
        parkedOn.delete(deliveryId);
        throw error;
      });
      if ('done' in decision) {
        parkedOn.delete(deliveryId);
        return skipped(decision.done);
      }
      if ('wait' in decision) {
        if (decision.parkOn) park(deliveryId, decision.parkOn);
        return deferred(new Date(decision.wait), decision.why);
      }
      parkedOn.delete(deliveryId);
      const claimed = decision.send;

      const answer = await send(claimed);
      // Free the endpoint before the bookkeeping.
      const slot = held.slot;
      held.slot = null;
      await slot?.release(answer.latencyMs);

      const outcome = await record(tenantId, claimed, answer);
      log.info(
        { webhookId: claimed.webhook.id, deliveryId, attempt: claimed.attempt, statusCode: answer.status, latencyMs: answer.latencyMs, error: answer.error, outcome: outcome.status },
        'webhook attempt',
      );
      webhookDeliveries.inc({ outcome: outcome.status === 'pending' ? 'retrying' : outcome.status });
      if (outcome.disabledReason) log.warn({ webhookId: claimed.webhook.id, reason: outcome.disabledReason }, 'webhook endpoint disabled');
      if (outcome.nextAt) return deferred(outcome.nextAt, `attempt ${claimed.attempt} failed; retry at ${outcome.nextAt.toISOString()}`);
      return done(`attempt ${claimed.attempt}: ${outcome.status}`);
    } finally {
      await held.slot?.release();
    }
  };
}
