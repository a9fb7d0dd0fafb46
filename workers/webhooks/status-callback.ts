import { withTenant } from '../../shared/db/tenant';
import { NotFoundError } from '../../shared/errors';
import { getMessage } from '../../shared/data/messages';
import {
  claimStatusCallbackAttempt,
  ensureStatusCallbackSecret,
  getMessageHistoryRow,
  lockStatusCallbackDelivery,
  recordStatusCallbackAttempt,
} from '../../shared/data/status-callbacks';
import { signingSecrets } from '../../shared/data/webhooks';
import { consumeOutbox, postponeOutboxRow } from '../../shared/outbox';
import type { JobPayload } from '../../shared/queues';
import { postWebhook } from '../../shared/webhooks/client';
import { messageEventPayload, serializeEventPayload } from '../../shared/webhooks/payload';
import { signDelivery } from '../../shared/webhooks/signing';
import type { Resolver } from '../../shared/webhooks/ssrf';
import type { WorkerDeps } from '../deps';
import { deferred, done, JobOutcome, skipped } from '../runtime';
import { nextWebhookAttemptAt } from './deliver';

const USER_AGENT = 'senderz-status-callbacks/1';

interface Prepared {
  url: string;
  body: Buffer;
  eventId: string;
  type: string;
  sandbox: boolean;
  secrets: string[];
  attempt: number;
}

/**
 * `status-callback`: one status change of a message that carries its own
 * status_callback URL, POSTed to that URL with the same headers, signatures
 * and address checks as a webhook delivery, signed with the tenant's
 * status-callback secret. The first transaction reloads the message and its
 * history row in the tenant's scope (another tenant's ids: not found, a
 * terminal skip), takes the attempt under the delivery row's lock and builds
 * the exact bytes; the second records the answer. A failed attempt is retried
 * on the webhook schedule: the job is delayed and its outbox row moved to the
 * same time, so a Redis restart does not lose the retry.
 */
export function createStatusCallbackSender(deps: WorkerDeps, options: { resolve?: Resolver } = {}) {
  const { config, log } = deps;
  const settings = config.webhooks;
  const leaseSeconds = (settings.timeoutMs * 2 + 5000) / 1000;
  const policy = { allowPrivateNetworks: config.webhookAllowPrivateNetworks };

  return async function statusCallback(payload: JobPayload<'webhooks', 'status-callback'>): Promise<JobOutcome> {
    const { tenantId, messageId, sequence } = payload;
    const ref = `${messageId}_${sequence}`;
    const decision = await withTenant(deps.db.app, tenantId, async (t): Promise<{ send: Prepared } | { wait: Date } | { done: string }> => {
      const message = await getMessage(t, messageId);
      const history = await getMessageHistoryRow(t, messageId, sequence);
      if (!history) throw new NotFoundError('message event');
      if (!message.status_callback) {
        await consumeOutbox(t, 'webhooks', 'status-callback', ref);
        return { done: 'no status_callback' };
      }
      const delivery = await lockStatusCallbackDelivery(t, messageId, sequence);
      if (delivery.status !== 'pending') {
        await consumeOutbox(t, 'webhooks', 'status-callback', ref);
        return { done: `already ${delivery.status}` };
      }
      if (delivery.next_attempt_at && delivery.next_attempt_at.getTime() > Date.now() + 1000) return { wait: delivery.next_attempt_at };
      const attempt = await claimStatusCallbackAttempt(t, messageId, sequence, leaseSeconds);
      const secret = await ensureStatusCallbackSecret(t, config.encryptionKey);
      // Stable across retries: what a receiver de-duplicates on.
      const eventId = `cb_${ref}`;
      return {
        send: {
          url: message.status_callback,
          body: serializeEventPayload(messageEventPayload(eventId, message, history)),
          eventId,
          type: `message.${history.status}`,
          sandbox: message.sandbox,
          secrets: signingSecrets(secret, config.encryptionKey),
          attempt,
        },
      };
    });
    if ('done' in decision) return skipped(decision.done);
    if ('wait' in decision) return deferred(decision.wait, 'an attempt is in flight or not due yet');

    const prepared = decision.send;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      'X-Senderz-Event': prepared.type,
      ...signDelivery({ id: prepared.eventId, timestamp: Math.floor(Date.now() / 1000), body: prepared.body, secrets: prepared.secrets }),
    };
    if (prepared.sandbox) headers['X-Senderz-Sandbox'] = '1';
    const answer = await postWebhook({ url: prepared.url, body: prepared.body, headers, timeoutMs: settings.timeoutMs, policy, resolve: options.resolve });

    const succeeded = answer.status !== null && answer.status >= 200 && answer.status < 300;
    // 410 Gone: the receiver wants no more of this; no retry.
    const nextAt = succeeded || answer.status === 410 ? null : nextWebhookAttemptAt(settings.retryScheduleSeconds, prepared.attempt);
    const status = succeeded ? 'succeeded' : nextAt ? 'pending' : 'failed';
    await withTenant(deps.db.app, tenantId, async (t) => {
      await recordStatusCallbackAttempt(t, messageId, sequence, { status, statusCode: answer.status, error: answer.error, nextAt });
      if (nextAt) await postponeOutboxRow(t, 'webhooks', 'status-callback', ref, nextAt);
      else await consumeOutbox(t, 'webhooks', 'status-callback', ref);
    });
    log.info({ messageId, sequence, attempt: prepared.attempt, statusCode: answer.status, latencyMs: answer.latencyMs, error: answer.error, outcome: status }, 'status callback attempt');
    if (nextAt) return deferred(nextAt, `attempt ${prepared.attempt} failed; retry at ${nextAt.toISOString()}`);
    return done(`attempt ${prepared.attempt}: ${status}`);
  };
}
