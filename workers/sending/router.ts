import type { Job } from 'bullmq';
import { DelayedError } from 'bullmq';
import { withTenant, TenantTx } from '../../shared/db/tenant';
import { getMessage, MessageRow, Channel } from '../../shared/data/messages';
import { getOwnTenant, TenantRow } from '../../shared/data/tenants';
import { cachedCapabilities, storeCapabilities } from '../../shared/data/capabilities';
import { decryptSecret } from '../../shared/crypto';
import { askCapabilities } from '../../shared/device/client';
import { chooseLine, usableLines } from '../../shared/routing/lines';
import { decideChannel, RecipientCapabilities } from '../../shared/routing/channels';
import { transitionMessage } from '../../shared/messages/status';
import { messagePriority } from '../../shared/messages/priority';
import { addToOutbox, consumeOutbox, enqueueAll, outboxJob, OutboxJob } from '../../shared/outbox';
import { newId } from '../../shared/ids';
import type { PhoneLineRow } from '../../shared/data/phone-lines';
import type { WorkerDeps } from '../deps';
import { ComplianceCheck, runCompliance } from './compliance';

/** How long a message waits for a line to come online before each new look. */
const NO_LINE_RETRY_MS = 15000;
/** After this long without any usable line, the message fails (device_offline). */
const NO_LINE_GIVE_UP_MS = 24 * 3600 * 1000;

export interface PlannedDispatch {
  line: PhoneLineRow;
  channel: Channel;
}

export type RoutePlan = { dispatch: PlannedDispatch } | { fail: string } | { wait: true };

/**
 * Chooses a line and channel for a message. Runs outside any transaction: it
 * may ask a bridge for the recipient's capabilities.
 */
export async function planRoute(
  deps: WorkerDeps,
  t: TenantTx,
  message: MessageRow,
  options: { excludeLines?: Set<string>; excludeChannels?: Set<Channel>; tenant?: TenantRow } = {},
): Promise<RoutePlan> {
  const tenant = options.tenant ?? (await getOwnTenant(t));
  const lines = await usableLines(t.trx, { id: tenant.id, pool: tenant.pool });
  const sticky = (await t
    .from('conversations')
    .where({ phone_number: message.to_number })
    .orderBy('last_outbound_at', 'desc')
    .first('line_id')) as { line_id: string } | undefined;
  const pinnedFrom = message.pinned_from;
  if (pinnedFrom && !lines.some((line) => line.phone_number === pinnedFrom)) return { fail: 'line_unavailable' };
  const line = chooseLine(lines, tenant, message.to_number, { pinnedFrom, stickyLineId: sticky?.line_id, exclude: options.excludeLines });
  if (!line) return { wait: true };

  let recipient: RecipientCapabilities | null = (await cachedCapabilities(t, [message.to_number])).get(message.to_number) ?? null;
  if (!recipient && message.requested_channel === 'auto' && line.capabilities.imessage) {
    try {
      const [answer] = await askCapabilities(
        { bridgeUrl: line.bridge_url, secret: decryptSecret(deps.config.encryptionKey, line.secret_encrypted) },
        [message.to_number],
        deps.config.device.timeoutMs,
      );
      if (answer) [recipient] = await storeCapabilities(t, [answer]);
    } catch (error) {
      // Without an answer, try iMessage: a 422 not_imessage from the bridge falls back.
      deps.log.warn({ lineId: line.id, err: (error as Error).message }, 'capability check failed');
    }
  }
  const decision = decideChannel(message.requested_channel, line.capabilities, recipient, options.excludeChannels);
  if ('fail' in decision) return { fail: decision.fail };
  return { dispatch: { line, channel: decision.channel } };
}

/**
 * Records a dispatch of a message on a line: the dispatch row, the message's
 * line/channel, the conversation, and the dispatch job in the outbox.
 */
export async function recordDispatch(t: TenantTx, message: MessageRow, planned: PlannedDispatch): Promise<OutboxJob> {
  const dispatchId = newId();
  await t.insert('dispatches', { id: dispatchId, message_id: message.id, line_id: planned.line.id, channel: planned.channel });
  await t.trx.raw(
    `INSERT INTO conversations (tenant_id, line_id, phone_number, last_outbound_at) VALUES (?, ?, ?, now())
     ON CONFLICT (tenant_id, line_id, phone_number) DO UPDATE SET last_outbound_at = now()`,
    [t.tenantId, planned.line.id, message.to_number],
  );
  const job = outboxJob(
    'dispatch',
    'dispatch-message',
    dispatchId,
    { tenantId: t.tenantId, messageId: message.id, dispatchId },
    { priority: messagePriority(message.message_type, Boolean(message.campaign_id)) },
  );
  await addToOutbox(t, [job]);
  return job;
}

export function createRouter(deps: WorkerDeps, checks: ComplianceCheck[]) {
  return async function routeMessage(payload: { tenantId: string; messageId: string }, job: Job, token?: string): Promise<string> {
    const { tenantId, messageId } = payload;
    const { db, queues } = deps;

    // 1. Look, without locks, and plan (may call a bridge).
    const look = await withTenant(db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId);
      if (message.status !== 'queued' || message.direction !== 'outbound' || message.sandbox) {
        await consumeOutbox(t, 'sending', 'route-message', messageId);
        return { done: `already ${message.status}` };
      }
      const tenant = await getOwnTenant(t);
      const verdict = await runCompliance(checks, t, message, tenant);
      return { message, verdict, tenant };
    });
    if ('done' in look) return look.done as string;

    let plan: RoutePlan | null = null;
    if (look.verdict.action === 'allow') plan = await withTenant(db.app, tenantId, (t) => planRoute(deps, t, look.message, { tenant: look.tenant }));

    // 2. Commit the decision with a conditional update: a second run of this
    // job finds the message no longer queued and does nothing.
    const outcome = await withTenant(db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId, { forUpdate: true });
      if (message.status !== 'queued') {
        await consumeOutbox(t, 'sending', 'route-message', messageId);
        return { jobs: [] as OutboxJob[], result: `already ${message.status}` };
      }
      const verdict = look.verdict;
      if (verdict.action === 'block') {
        const transition = await transitionMessage(t, messageId, 'blocked', { reason: verdict.reason });
        await consumeOutbox(t, 'sending', 'route-message', messageId);
        return { jobs: transition.jobs, result: `blocked: ${verdict.reason}` };
      }
      if (verdict.action === 'defer') {
        await t.from('messages').where({ id: messageId }).update({ release_at: verdict.until, reason: verdict.reason, updated_at: t.trx.fn.now() });
        await t.from('outbox').where({ queue: 'sending', job_name: 'route-message', ref_id: messageId }).update({ available_at: verdict.until, enqueued_at: null });
        return { jobs: [], result: 'deferred', delayUntil: verdict.until };
      }
      if (!plan || 'wait' in plan) {
        if (Date.now() - message.created_at.getTime() > NO_LINE_GIVE_UP_MS) {
          const transition = await transitionMessage(t, messageId, 'failed', { reason: 'device_offline' });
          await consumeOutbox(t, 'sending', 'route-message', messageId);
          return { jobs: transition.jobs, result: 'failed: no line came online' };
        }
        const until = new Date(Date.now() + NO_LINE_RETRY_MS);
        await t.from('outbox').where({ queue: 'sending', job_name: 'route-message', ref_id: messageId }).update({ available_at: until, enqueued_at: null });
        return { jobs: [], result: 'waiting for a line', delayUntil: until };
      }
      if ('fail' in plan) {
        const transition = await transitionMessage(t, messageId, 'failed', { reason: plan.fail });
        await consumeOutbox(t, 'sending', 'route-message', messageId);
        return { jobs: transition.jobs, result: `failed: ${plan.fail}` };
      }
      const { line, channel } = plan.dispatch;
      const transition = await transitionMessage(t, messageId, 'sending', { set: { line_id: line.id, from_number: line.phone_number, channel } });
      const dispatchJob = await recordDispatch(t, message, plan.dispatch);
      await consumeOutbox(t, 'sending', 'route-message', messageId);
      return { jobs: [...transition.jobs, dispatchJob], result: `dispatching on ${line.id}` };
    });

    await enqueueAll(queues, outcome.jobs);
    if ('delayUntil' in outcome && outcome.delayUntil && token) {
      await job.moveToDelayed(outcome.delayUntil.getTime(), token);
      throw new DelayedError();
    }
    return outcome.result;
  };
}
