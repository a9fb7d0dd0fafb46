import { NotFoundError } from '../../shared/errors';
import { createRouteStatements, RouteAction, RouteContext } from '../../shared/data/routes';
import { createLineDirectory } from '../../shared/routing/line-directory';
import { createCapabilityAsker } from '../../shared/device/client';
import { planRoute, RoutePlan } from '../../shared/routing/plan';
import { messageEventJob, MessageStatus } from '../../shared/messages/status';
import { messagePriority } from '../../shared/messages/priority';
import { enqueueAll, outboxJob, OutboxJob } from '../../shared/outbox';
import { newId } from '../../shared/ids';
import { nextUtcMidnight } from '../../shared/compliance/calendar';
import type { WorkerDeps } from '../deps';
import { deferred, done, JobOutcome, skipped } from '../runtime';
import { ComplianceCheck, runCompliance } from './compliance';

/** How long a message waits for a line to come online before each new look. */
const NO_LINE_RETRY_MS = 15000;
/** After this long without any usable line, the message fails (device_offline). */
const NO_LINE_GIVE_UP_MS = 24 * 3600 * 1000;
/** A chosen line that turned out held or gone is replaced at most this many times per run. */
const MAX_CHOICES = 3;

const STATUS_OF: Partial<Record<RouteAction['action'], MessageStatus>> = { dispatch: 'sending', block: 'blocked', fail: 'failed' };

/**
 * The router: compliance checks, then a line and channel, committed with a
 * conditional update so a second run of the job finds the message no longer
 * queued and does nothing. Two statements per message, each shared with the
 * other jobs routed at the same time: one read (senderz_route_context) and
 * one write (senderz_route_commit) that also takes the usage slots and
 * records the pending dispatch, which is itself the durable intent to push it. A bridge is asked for capabilities, when they
 * are unknown, between the two and never inside a transaction.
 */
export function createRouter(deps: WorkerDeps, checks: ComplianceCheck[]) {
  const lines = createLineDirectory(deps.db.app, deps.config.encryptionKey);
  const statements = createRouteStatements(deps.db.app);
  const planDeps = { lines, deviceTimeoutMs: deps.config.device.timeoutMs, log: deps.log, askCapability: createCapabilityAsker(deps.config.device.timeoutMs) };

  async function decide(tenantId: string, context: RouteContext, excludeLines: Set<string>, freshLines: boolean): Promise<{ action: RouteAction; plan: RoutePlan | null }> {
    const capabilities = context.cap_imessage === null ? null : { imessage: context.cap_imessage, sms: context.cap_sms !== false, rcs: context.cap_rcs === true };
    const plan = await planRoute(planDeps, { id: tenantId, pool: context.pool }, { ...context, capabilities }, { excludeLines, freshLines });
    if ('fail' in plan) return { action: { action: 'fail', reason: plan.fail }, plan };
    if ('wait' in plan) {
      if (Date.now() - new Date(context.created_at).getTime() > NO_LINE_GIVE_UP_MS) return { action: { action: 'fail', reason: 'device_offline' }, plan };
      return { action: { action: 'wait', until: new Date(Date.now() + NO_LINE_RETRY_MS) }, plan };
    }
    const { line, channel } = plan.dispatch;
    const priority = messagePriority(context.message_type, Boolean(context.campaign_id));
    return { action: { action: 'dispatch', lineId: line.id, from: line.phone_number, channel, dispatchId: newId(), priority }, plan };
  }

  return async function routeMessage(payload: { tenantId: string; messageId: string }): Promise<JobOutcome> {
    const { tenantId, messageId } = payload;
    const context = await statements.context(tenantId, messageId);
    if (!context) throw new NotFoundError('message');
    if (context.status !== 'queued' || context.direction !== 'outbound' || context.sandbox) return skipped(`already ${context.status}`);

    const verdict = await runCompliance(checks, context);
    const meterAt = verdict.action === 'meter' ? verdict.at : null;
    const tenant = { plan: context.plan, limits: context.limits };
    const excludeLines = new Set<string>();
    let action: RouteAction;
    let plan: RoutePlan | null = null;
    if (verdict.action === 'block' || verdict.action === 'defer') action = verdict;
    else ({ action, plan } = await decide(tenantId, context, excludeLines, false));

    for (let choice = 1; ; choice += 1) {
      const learned = plan && 'dispatch' in plan ? plan.learned : null;
      const committed = await statements.commit(tenantId, messageId, action, { meterAt, tenant, learned });
      const jobs: OutboxJob[] = [];
      const written = committed.outcome === 'block' && action.action !== 'block' ? 'blocked' : STATUS_OF[committed.outcome as RouteAction['action']];
      if (committed.announced && written) {
        const announce = messageEventJob(tenantId, messageId, committed.sequence, written);
        if (announce) jobs.push(announce);
      }
      switch (committed.outcome) {
        case 'missing':
          throw new NotFoundError('message');
        case 'not_queued':
          return skipped('already routed');
        case 'held':
        case 'line_gone':
          if (action.action !== 'dispatch' || choice >= MAX_CHOICES) {
            action = { action: 'wait', until: new Date(Date.now() + NO_LINE_RETRY_MS) };
            plan = null;
          } else {
            excludeLines.add(action.lineId);
            ({ action, plan } = await decide(tenantId, context, excludeLines, true));
          }
          continue;
        case 'dispatch': {
          const dispatch = action as Extract<RouteAction, { action: 'dispatch' }>;
          jobs.push(outboxJob('dispatch', 'dispatch-message', dispatch.dispatchId, { tenantId, messageId, dispatchId: dispatch.dispatchId }, { priority: dispatch.priority }));
          await enqueueAll(deps.queues, jobs);
          return done(`dispatching on ${dispatch.lineId}`);
        }
        case 'block':
          await enqueueAll(deps.queues, jobs);
          return done(`blocked: ${action.action === 'block' ? action.reason : 'monthly_limit'}`);
        case 'fail':
          await enqueueAll(deps.queues, jobs);
          return done(action.action === 'fail' && action.reason === 'device_offline' ? 'failed: no line came online' : `failed: ${action.action === 'fail' ? action.reason : ''}`);
        case 'wait':
        case 'defer': {
          if (committed.outcome === 'wait') return deferred((action as { until: Date }).until, 'waiting for a line');
          if (action.action === 'defer') return deferred(action.until, action.reason);
          return deferred(nextUtcMidnight(meterAt ?? new Date()), 'daily_limit');
        }
      }
    }
  };
}
