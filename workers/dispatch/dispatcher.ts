import type { Job } from 'bullmq';
import { withTenant } from '../../shared/db/tenant';
import { NotFoundError } from '../../shared/errors';
import { getMessage, Channel } from '../../shared/data/messages';
import { getOwnTenant } from '../../shared/data/tenants';
import { cachedCapabilities, recordIncapable, storeCapabilities } from '../../shared/data/capabilities';
import { createDispatchStatements, DispatchContext, insertReroutedDispatch, settlePendingDispatch } from '../../shared/data/dispatches';
import { linesHeldByOthers } from '../../shared/data/routes';
import { callBridge, SendMedia, SendPush } from '../../shared/device/client';
import { signedMediaUrl } from '../../shared/media/rules';
import { transitionMessage, MessageStatus } from '../../shared/messages/status';
import { messagePriority } from '../../shared/messages/priority';
import { enqueueAll, outboxJob, OutboxJob } from '../../shared/outbox';
import { DEFAULT_JOB_OPTIONS } from '../../shared/queues';
import { newId } from '../../shared/ids';
import { createLineDirectory } from '../../shared/routing/line-directory';
import { planRoute } from '../../shared/routing/plan';
import { takeLineSlot } from '../../shared/compliance/line-slots';
import { takeWarmupSlot } from '../../shared/compliance/warmup';
import type { WorkerDeps } from '../deps';
import { deferred, done, JobOutcome, skipped } from '../runtime';

type Payload = { tenantId: string; messageId: string; dispatchId: string };

/** How long to wait when a line's per-minute cap is reached or the bridge says 429. */
const BUSY_RETRY_MS = 2000;

/**
 * Whether a message still waits for a push. Normally only a `sending` one; an
 * SMS fallback may also follow an iMessage the device first reported `sent`
 * and then undeliverable (statuses never move back, so it stays `sent` until
 * the SMS is delivered). No other pending dispatch can meet a `sent` message.
 */
function stillToSend(status: MessageStatus, channel: Channel, smsFallback: boolean): boolean {
  return status === 'sending' || (status === 'sent' && channel === 'sms' && smsFallback);
}

/**
 * The dispatcher: one read (the dispatch, its message and its line's current
 * state), the signed push, and the acceptance recorded; both statements are
 * shared with the other jobs of the process running at the same time. Refusals, failures and re-routes are rare and take a transaction of
 * their own.
 */
export function createDispatcher(deps: WorkerDeps) {
  const { db, queues, config, log } = deps;
  const lines = createLineDirectory(db.app, config.encryptionKey);
  const statements = createDispatchStatements(db.app);
  const planDeps = { lines, deviceTimeoutMs: config.device.timeoutMs, log };

  /** Moves a dispatch to another line (or fails the message when there is none). */
  async function reroute(payload: Payload, reason: string, failedLineId: string, excludeChannels?: Set<Channel>): Promise<JobOutcome> {
    const { tenantId, messageId, dispatchId } = payload;
    const known = await withTenant(db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId);
      const tenant = await getOwnTenant(t);
      const held = await linesHeldByOthers(t, message.to_number);
      const capabilities = (await cachedCapabilities(t, [message.to_number])).get(message.to_number) ?? null;
      return { message, tenant, held, capabilities };
    });
    const { message: current } = known;
    // A message that fell back to SMS stays on SMS wherever it goes next.
    const channels = current.was_downgraded ? new Set<Channel>([...(excludeChannels ?? []), 'imessage', 'rcs']) : excludeChannels;
    const plan = await planRoute(
      planDeps,
      { id: tenantId, pool: known.tenant.pool },
      { to_number: current.to_number, requested_channel: current.requested_channel, pinned_from: current.pinned_from, sticky_line_id: null, capabilities: known.capabilities, held_lines: known.held },
      { excludeLines: excludeChannels ? undefined : new Set([failedLineId]), excludeChannels: channels, freshLines: true },
    );
    const outcome = await withTenant(db.app, tenantId, async (t) => {
      if (!(await settlePendingDispatch(t, dispatchId, excludeChannels ? 'rejected' : 'rerouted', reason))) return { jobs: [] as OutboxJob[], result: skipped('dispatch already settled') };
      const message = await getMessage(t, messageId, { forUpdate: true });
      if (!stillToSend(message.status, message.channel ?? 'sms', message.was_downgraded)) return { jobs: [], result: skipped(`message already ${message.status}`) };
      if ('dispatch' in plan) {
        if (plan.learned) await storeCapabilities(t, [plan.learned]);
        const { line, channel } = plan.dispatch;
        const next = { id: newId(), lineId: line.id, from: line.phone_number, channel, priority: messagePriority(message.message_type, Boolean(message.campaign_id)) };
        await insertReroutedDispatch(t, message, next);
        const job = outboxJob('dispatch', 'dispatch-message', next.id, { tenantId, messageId, dispatchId: next.id }, { priority: next.priority });
        return { jobs: [job], result: done(`re-routed to ${line.id} (${reason})`) };
      }
      const failReason = 'fail' in plan ? (channels ? reason : plan.fail) : 'device_offline';
      const transition = await transitionMessage(t, messageId, 'failed', { reason: failReason });
      return { jobs: transition.jobs, result: done(`failed: ${failReason}`) };
    });
    await enqueueAll(queues, outcome.jobs);
    return outcome.result;
  }

  /** Ends a pending dispatch and fails its message, in one transaction. */
  async function fail(payload: Payload, dispatchStatus: 'rejected' | 'failed', reason: string): Promise<JobOutcome> {
    const jobs = await withTenant(db.app, payload.tenantId, async (t) => {
      if (!(await settlePendingDispatch(t, payload.dispatchId, dispatchStatus, reason))) return [];
      return (await transitionMessage(t, payload.messageId, 'failed', { reason })).jobs;
    });
    await enqueueAll(queues, jobs);
    return done(`failed: ${reason}`);
  }

  function mediaForPush(tenantId: string, item: DispatchContext['media'][number]): SendMedia {
    const entry: SendMedia = { url: signedMediaUrl(config.publicUrl, config.encryptionKey, tenantId, item.id), content_type: item.content_type ?? 'application/octet-stream', size: item.size ?? 0 };
    if (item.filename) entry.filename = item.filename;
    return entry;
  }

  return async function dispatchMessage(payload: Payload, job: Job): Promise<JobOutcome> {
    const { tenantId, messageId, dispatchId } = payload;

    const context = await statements.context(tenantId, dispatchId);
    // Another tenant's dispatch, or one paired with another message, is not found: a terminal skip.
    if (!context || context.message_id !== messageId) throw new NotFoundError('dispatch');
    if (context.dispatch_status !== 'pending' || !stillToSend(context.message_status, context.channel, context.channel === 'sms')) return skipped('already settled');

    const line = context.line_enabled && context.line_status === 'online' ? await lines.line(context.line_id) : null;
    if (!line) return reroute(payload, 'line_unavailable', context.line_id);
    // An SMS fallback is first tried on the line that took the iMessage; a line without SMS hands it on.
    if (!line.capabilities[context.channel]) {
      const others = new Set<Channel>((['imessage', 'sms', 'rcs'] as const).filter((channel) => channel !== context.channel));
      return reroute(payload, `${context.channel}_unavailable`, line.id, others);
    }
    // SMS cannot carry attachments (no MMS): another channel on any line, or the message fails naming why.
    const media = context.media ?? [];
    if (media.length > 0 && context.channel === 'sms') return reroute(payload, 'media_not_supported_on_sms', context.line_id, new Set<Channel>(['sms']));

    // Per-minute throughput first, then the line's warm-up cap for the day, each with this
    // tenant's fair share of a pooled line and a reserve for OTP and alerts (shared/compliance/line-slots.ts).
    const wait =
      (await takeLineSlot(deps.redis, config.queuePrefix, line, tenantId, context.message_type)) ||
      (await takeWarmupSlot(deps, line, { ...payload, messageType: context.message_type }));
    if (wait > 0) return deferred(new Date(Date.now() + wait), 'line busy');

    const push: SendPush = {
      dispatch_id: dispatchId,
      message_id: messageId,
      line_id: line.id,
      from: line.phone_number,
      to: context.to_number,
      body: context.body ?? '',
      channel: context.channel,
    };
    // Signed afresh on every push: a retry or a re-route never hands the bridge an expired URL.
    if (media.length > 0) push.media = media.map((item) => mediaForPush(tenantId, item));
    let status: number;
    let error: string | undefined;
    try {
      const answer = await callBridge({ lineId: line.id, bridgeUrl: line.bridge_url, secret: lines.secret(line) }, 'POST', '/v1/send', push, config.device.timeoutMs);
      status = answer.status;
      error = typeof answer.body?.error === 'string' ? answer.body.error : undefined;
    } catch (caught) {
      status = 0;
      error = (caught as Error).name === 'TimeoutError' ? 'timeout' : (caught as Error).message;
    }

    if (status === 202 || status === 200) {
      await statements.accepted(tenantId, dispatchId);
      return done('accepted by bridge');
    }
    if (status === 422 && (error === 'not_imessage' || error === 'not_rcs')) {
      const refused = error === 'not_imessage' ? 'imessage' : 'rcs';
      await withTenant(db.app, tenantId, (t) => recordIncapable(t, context.to_number, refused));
      if (context.requested_channel === 'auto') return reroute(payload, error, context.line_id, new Set<Channel>([refused, context.channel]));
      return fail(payload, 'rejected', error);
    }
    if (status === 429) return deferred(new Date(Date.now() + BUSY_RETRY_MS), 'bridge busy');
    if (status >= 400 && status < 500) return fail(payload, 'failed', error && /^[a-z_]{1,40}$/.test(error) ? error : 'carrier_error');

    // 5xx or no answer: retry with backoff; on the last attempt move to another line.
    const attempts = job.opts.attempts ?? DEFAULT_JOB_OPTIONS.attempts ?? 1;
    log.warn({ lineId: line.id, status, error, attempt: job.attemptsMade + 1 }, 'bridge did not accept the send');
    if (job.attemptsMade + 1 >= Math.min(attempts, 4)) return reroute(payload, status ? `bridge_${status}` : 'bridge_unreachable', line.id);
    throw new Error(`bridge answered ${status || error}`);
  };
}
