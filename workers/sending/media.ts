import type { Job } from 'bullmq';
import { withTenant } from '../../shared/db/tenant';
import { getMessage } from '../../shared/data/messages';
import { failMessageMedia, pendingMessageMedia, storeMessageMedia } from '../../shared/data/media';
import { fetchMedia, FetchedMedia } from '../../shared/media/fetch';
import { MEDIA_FETCH_TIMEOUT_MS } from '../../shared/media/rules';
import { transitionMessage } from '../../shared/messages/status';
import { messagePriority } from '../../shared/messages/priority';
import { addToOutbox, consumeOutbox, enqueueAll, outboxJob, OutboxJob } from '../../shared/outbox';
import type { Resolver } from '../../shared/webhooks/ssrf';
import type { WorkerDeps } from '../deps';
import { done, JobOutcome, skipped } from '../runtime';

/** Unreachable sources are tried this many times (with the queue's backoff) before the message fails. */
const MAX_FETCH_ATTEMPTS = 3;

/**
 * `fetch-media`. The media step of an outbound message with attachments, before routing:
 * each pending attachment is downloaded through the webhooks' SSRF-safe
 * connect (size, type and time limits in shared/media) and stored as soon as
 * it arrives, so at most one attachment is held in memory. When all are
 * stored, the routing job takes this job's place in the outbox, in the same
 * transaction; an attachment that is too large, of a refused type, blocked or
 * unreachable (after retries) fails the message with that reason. Stored
 * attachments are never fetched again, so a re-run only picks up the rest.
 * An inbound message's attachments take the same download (fetchInbound).
 */
export function createMediaFetcher(deps: WorkerDeps, options: { resolve?: Resolver } = {}) {
  const policy = { allowPrivateNetworks: deps.config.webhookAllowPrivateNetworks };

  async function failMessage(tenantId: string, messageId: string, mediaId: string, fetched: Extract<FetchedMedia, { ok: false }>): Promise<JobOutcome> {
    const jobs = await withTenant(deps.db.app, tenantId, async (t) => {
      await failMessageMedia(t, mediaId, fetched.reason);
      await consumeOutbox(t, 'sending', 'fetch-media', messageId);
      return (await transitionMessage(t, messageId, 'failed', { reason: fetched.reason })).jobs;
    });
    await enqueueAll(deps.queues, jobs);
    return done(`failed: ${fetched.reason} (${fetched.detail})`);
  }

  /** Whether a failed download should be tried again later (throws to the queue's backoff) rather than recorded as failed. */
  function retryLater(messageId: string, mediaId: string, fetched: Extract<FetchedMedia, { ok: false }>, job?: Job): void {
    const lastAttempt = !job || job.attemptsMade + 1 >= Math.min(job.opts.attempts ?? 1, MAX_FETCH_ATTEMPTS);
    if (!fetched.transient || lastAttempt) return;
    deps.log.warn({ messageId, mediaId, detail: fetched.detail, attempt: (job?.attemptsMade ?? 0) + 1 }, 'attachment not downloaded; retrying');
    throw new Error(`attachment ${mediaId}: ${fetched.detail}`);
  }

  /**
   * An inbound message's attachments (the bridge's URLs are outside URLs, so
   * the same connect, limits and retries apply). The message stays `received`
   * whatever happens: an attachment that cannot be taken is marked failed
   * with the reason, and the others are still fetched.
   */
  async function fetchInbound(tenantId: string, messageId: string, pending: { id: string; source_url: string }[], job?: Job): Promise<JobOutcome> {
    let failed = 0;
    for (const media of pending) {
      const fetched = await fetchMedia(media.source_url, { policy, timeoutMs: MEDIA_FETCH_TIMEOUT_MS, resolve: options.resolve });
      if (fetched.ok) {
        await withTenant(deps.db.app, tenantId, (t) => storeMessageMedia(t, media.id, fetched.content, fetched.contentType));
        continue;
      }
      retryLater(messageId, media.id, fetched, job);
      failed += 1;
      deps.log.info({ messageId, mediaId: media.id, reason: fetched.reason, detail: fetched.detail }, 'inbound attachment not taken');
      await withTenant(deps.db.app, tenantId, (t) => failMessageMedia(t, media.id, fetched.reason));
    }
    await withTenant(deps.db.app, tenantId, (t) => consumeOutbox(t, 'sending', 'fetch-media', messageId));
    return done(`inbound: ${pending.length - failed} attachment(s) stored, ${failed} failed`);
  }

  return async function fetchMessageMedia(payload: { tenantId: string; messageId: string }, job?: Job): Promise<JobOutcome> {
    const { tenantId, messageId } = payload;
    const loaded = await withTenant(deps.db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId);
      if (message.direction === 'inbound') return { inbound: true, pending: await pendingMessageMedia(t, messageId) };
      if (message.status !== 'queued') return null;
      return { inbound: false, pending: await pendingMessageMedia(t, messageId) };
    });
    if (!loaded) return skipped('message no longer queued');
    const { pending } = loaded;
    if (loaded.inbound) return fetchInbound(tenantId, messageId, pending, job);

    for (const media of pending) {
      const fetched = await fetchMedia(media.source_url, { policy, timeoutMs: MEDIA_FETCH_TIMEOUT_MS, resolve: options.resolve });
      if (!fetched.ok) {
        retryLater(messageId, media.id, fetched, job);
        return failMessage(tenantId, messageId, media.id, fetched);
      }
      await withTenant(deps.db.app, tenantId, (t) => storeMessageMedia(t, media.id, fetched.content, fetched.contentType));
    }

    const jobs = await withTenant(deps.db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId, { forUpdate: true });
      await consumeOutbox(t, 'sending', 'fetch-media', messageId);
      if (message.status !== 'queued') return [] as OutboxJob[];
      const next = outboxJob('sending', message.sandbox ? 'sandbox-advance' : 'route-message', messageId, { tenantId, messageId }, {
        priority: messagePriority(message.message_type, Boolean(message.campaign_id)),
      });
      await addToOutbox(t, [next]);
      return [next];
    });
    await enqueueAll(deps.queues, jobs);
    return jobs.length ? done(`${pending.length} attachment(s) stored; routing`) : skipped('message no longer queued');
  };
}
