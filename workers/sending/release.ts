import { withTenant } from '../../shared/db/tenant';
import { getMessage } from '../../shared/data/messages';
import { listMessageMedia } from '../../shared/data/media';
import { transitionMessage } from '../../shared/messages/status';
import { messagePriority } from '../../shared/messages/priority';
import { addToOutbox, consumeOutbox, enqueueAll, outboxJob, OutboxJob } from '../../shared/outbox';
import type { JobPayload } from '../../shared/queues';
import type { WorkerDeps } from '../deps';
import { deferred, done, JobOutcome, skipped } from '../runtime';

/**
 * `release-scheduled`: a scheduled send's send_at has come. scheduled → queued
 * and its routing job (the sandbox's synthetic delivery for a test key's
 * message) recorded in the same transaction, so the release happens once even
 * when the job runs twice; a cancelled message stays cancelled. From here the
 * message is an ordinary queued send: the router checks opt-outs, caps and
 * quiet hours as it does for any other.
 */
export function createScheduledReleaser(deps: WorkerDeps) {
  return async function releaseScheduled(payload: JobPayload<'sending', 'release-scheduled'>): Promise<JobOutcome> {
    const { tenantId, messageId } = payload;
    const result = await withTenant(deps.db.app, tenantId, async (t): Promise<{ jobs: OutboxJob[]; outcome: JobOutcome }> => {
      const message = await getMessage(t, messageId, { forUpdate: true });
      // A job promoted early (by hand, or a clock ahead of PostgreSQL's) waits for its time; its outbox row stays.
      if (message.status === 'scheduled' && message.send_at && message.send_at.getTime() > Date.now() + 1000) {
        return { jobs: [], outcome: deferred(message.send_at, 'not due yet') };
      }
      await consumeOutbox(t, 'sending', 'release-scheduled', messageId);
      if (message.status !== 'scheduled') return { jobs: [], outcome: skipped(`already ${message.status}`) };
      const transition = await transitionMessage(t, messageId, 'queued', { set: { release_at: null } });
      // Attachments are downloaded first (then routed), as for a send that was not scheduled.
      const hasMedia = (await listMessageMedia(t, messageId)).length > 0;
      const route = outboxJob('sending', hasMedia ? 'fetch-media' : message.sandbox ? 'sandbox-advance' : 'route-message', messageId, { tenantId, messageId }, {
        priority: messagePriority(message.message_type, false),
      });
      await addToOutbox(t, [route]);
      return { jobs: [...transition.jobs, route], outcome: done('released') };
    });
    await enqueueAll(deps.queues, result.jobs);
    return result.outcome;
  };
}
