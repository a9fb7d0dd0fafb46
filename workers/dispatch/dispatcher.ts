import type { Job } from 'bullmq';
import { DelayedError } from 'bullmq';
import { withTenant, findOwned } from '../../shared/db/tenant';
import { getMessage, Channel } from '../../shared/data/messages';
import { getPhoneLine, PhoneLineRow } from '../../shared/data/phone-lines';
import { recordIncapable } from '../../shared/data/capabilities';
import { decryptSecret } from '../../shared/crypto';
import { callBridge, SendPush } from '../../shared/device/client';
import { transitionMessage } from '../../shared/messages/status';
import { consumeOutbox, enqueueAll, OutboxJob } from '../../shared/outbox';
import { DEFAULT_JOB_OPTIONS } from '../../shared/queues';
import { planRoute, recordDispatch } from '../sending/router';
import { takeWarmupSlot } from '../../shared/compliance/warmup';
import type { WorkerDeps } from '../deps';

export interface DispatchRow {
  tenant_id: string;
  id: string;
  message_id: string;
  line_id: string;
  channel: Channel;
  status: 'pending' | 'accepted' | 'sent' | 'delivered' | 'read' | 'failed' | 'rejected' | 'rerouted' | 'cancelled';
  attempts: number;
}

type Payload = { tenantId: string; messageId: string; dispatchId: string };

/** How long to wait when a line's per-minute cap is reached or the bridge says 429. */
const BUSY_RETRY_MS = 2000;

/**
 * Per-line throughput, shared by every dispatch process through Redis: a fixed
 * one-minute window per line. Returns 0 when the send may go now, else the ms
 * to wait for the next window.
 */
export async function takeLineSlot(deps: WorkerDeps, line: PhoneLineRow): Promise<number> {
  if (line.max_per_minute === null) return 0;
  const now = Date.now();
  const window = Math.floor(now / 60000);
  const key = `${deps.config.queuePrefix}:line-rate:${line.id}:${window}`;
  const results = await deps.redis.multi().incr(key).expire(key, 120).exec();
  const count = Number(results?.[0]?.[1] ?? 0);
  if (count <= line.max_per_minute) return 0;
  await deps.redis.decr(key);
  return (window + 1) * 60000 - now + Math.floor(Math.random() * 250);
}

export function createDispatcher(deps: WorkerDeps) {
  const { db, queues, config, log } = deps;

  /** Moves a dispatch to another line (or fails the message when there is none). */
  async function reroute(payload: Payload, reason: string, failedLineId: string, excludeChannels?: Set<Channel>): Promise<string> {
    const { tenantId, messageId, dispatchId } = payload;
    const plan = await withTenant(db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId);
      return planRoute(deps, t, message, { excludeLines: excludeChannels ? undefined : new Set([failedLineId]), excludeChannels });
    });
    const outcome = await withTenant(db.app, tenantId, async (t) => {
      const updated = await t.from('dispatches').where({ id: dispatchId }).whereIn('status', ['pending']).update({ status: excludeChannels ? 'rejected' : 'rerouted', last_error: reason, updated_at: t.trx.fn.now() });
      if (!updated) return { jobs: [] as OutboxJob[], result: 'dispatch already settled' };
      const message = await getMessage(t, messageId, { forUpdate: true });
      await consumeOutbox(t, 'dispatch', 'dispatch-message', dispatchId);
      if (message.status !== 'sending') return { jobs: [], result: `message already ${message.status}` };
      if ('dispatch' in plan) {
        await t.from('messages').where({ id: messageId }).update({
          line_id: plan.dispatch.line.id,
          from_number: plan.dispatch.line.phone_number,
          channel: plan.dispatch.channel,
          updated_at: t.trx.fn.now(),
        });
        const job = await recordDispatch(t, message, plan.dispatch);
        return { jobs: [job], result: `re-routed to ${plan.dispatch.line.id} (${reason})` };
      }
      const failReason = 'fail' in plan ? (excludeChannels ? reason : plan.fail) : 'device_offline';
      const transition = await transitionMessage(t, messageId, 'failed', { reason: failReason });
      return { jobs: transition.jobs, result: `failed: ${failReason}` };
    });
    await enqueueAll(queues, outcome.jobs);
    return outcome.result;
  }

  async function settle(payload: Payload, work: (t: Parameters<Parameters<typeof withTenant>[2]>[0]) => Promise<OutboxJob[]>): Promise<void> {
    const jobs = await withTenant(db.app, payload.tenantId, async (t) => {
      const produced = await work(t);
      await consumeOutbox(t, 'dispatch', 'dispatch-message', payload.dispatchId);
      return produced;
    });
    await enqueueAll(queues, jobs);
  }

  return async function dispatchMessage(payload: Payload, job: Job, token?: string): Promise<string> {
    const { tenantId, messageId, dispatchId } = payload;

    const loaded = await withTenant(db.app, tenantId, async (t) => {
      const dispatch = await findOwned<DispatchRow>(t, 'dispatches', dispatchId, 'dispatch');
      const message = await getMessage(t, messageId);
      if (dispatch.message_id !== message.id) throw new Error('dispatch does not belong to this message');
      if (dispatch.status !== 'pending' || message.status !== 'sending') {
        await consumeOutbox(t, 'dispatch', 'dispatch-message', dispatchId);
        return null;
      }
      return { dispatch, message };
    });
    if (!loaded) return 'already settled';
    const { dispatch, message } = loaded;

    const line = await getPhoneLine(db.app, dispatch.line_id).catch(() => null);
    if (!line || !line.enabled || line.status !== 'online') return reroute(payload, 'line_unavailable', dispatch.line_id);

    // Per-minute throughput first, then the line's warm-up cap for the day (shared/compliance/warmup.ts).
    const wait = (await takeLineSlot(deps, line)) || (await takeWarmupSlot(deps, line, payload));
    if (wait > 0) {
      if (!token) return 'line busy';
      await job.moveToDelayed(Date.now() + wait, token);
      throw new DelayedError();
    }

    const push: SendPush = {
      dispatch_id: dispatch.id,
      message_id: message.id,
      line_id: line.id,
      from: line.phone_number,
      to: message.to_number,
      body: message.body ?? '',
      channel: dispatch.channel,
    };
    let status: number;
    let error: string | undefined;
    try {
      const answer = await callBridge(
        { bridgeUrl: line.bridge_url, secret: decryptSecret(config.encryptionKey, line.secret_encrypted) },
        'POST',
        '/v1/send',
        push,
        config.device.timeoutMs,
      );
      status = answer.status;
      error = typeof answer.body?.error === 'string' ? answer.body.error : undefined;
    } catch (caught) {
      status = 0;
      error = (caught as Error).name === 'TimeoutError' ? 'timeout' : (caught as Error).message;
    }

    if (status === 202 || status === 200) {
      await settle(payload, async (t) => {
        await t.from('dispatches').where({ id: dispatchId, status: 'pending' }).update({ status: 'accepted', attempts: t.trx.raw('attempts + 1'), updated_at: t.trx.fn.now() });
        return [];
      });
      return 'accepted by bridge';
    }
    if (status === 422 && (error === 'not_imessage' || error === 'not_rcs')) {
      const refused = error === 'not_imessage' ? 'imessage' : 'rcs';
      await withTenant(db.app, tenantId, (t) => recordIncapable(t, message.to_number, refused));
      if (message.requested_channel === 'auto') return reroute(payload, error, dispatch.line_id, new Set<Channel>([refused, dispatch.channel]));
      await settle(payload, async (t) => {
        await t.from('dispatches').where({ id: dispatchId, status: 'pending' }).update({ status: 'rejected', last_error: error, updated_at: t.trx.fn.now() });
        return (await transitionMessage(t, messageId, 'failed', { reason: error })).jobs;
      });
      return `failed: ${error}`;
    }
    if (status === 429) {
      if (!token) return 'bridge busy';
      await job.moveToDelayed(Date.now() + BUSY_RETRY_MS, token);
      throw new DelayedError();
    }
    if (status >= 400 && status < 500) {
      const reason = error && /^[a-z_]{1,40}$/.test(error) ? error : 'carrier_error';
      await settle(payload, async (t) => {
        await t.from('dispatches').where({ id: dispatchId, status: 'pending' }).update({ status: 'failed', last_error: reason, updated_at: t.trx.fn.now() });
        return (await transitionMessage(t, messageId, 'failed', { reason })).jobs;
      });
      return `failed: ${reason}`;
    }

    // 5xx or no answer: retry with backoff; on the last attempt move to another line.
    const attempts = job.opts.attempts ?? DEFAULT_JOB_OPTIONS.attempts ?? 1;
    log.warn({ lineId: line.id, status, error, attempt: job.attemptsMade + 1 }, 'bridge did not accept the send');
    if (job.attemptsMade + 1 >= Math.min(attempts, 4)) return reroute(payload, status ? `bridge_${status}` : 'bridge_unreachable', line.id);
    throw new Error(`bridge answered ${status || error}`);
  };
}
