import { withTenant } from '../../shared/db/tenant';
import { getMessage } from '../../shared/data/messages';
import { transitionMessage } from '../../shared/messages/status';
import { consumeOutbox, enqueueAll, outboxJob, OutboxJob, addToOutbox } from '../../shared/outbox';
import type { WorkerDeps } from '../deps';
import { done, JobOutcome, skipped } from '../runtime';

/** PRODUCT.md "Sandbox": magic recipients and what happens to them. */
export const SANDBOX_OUTCOMES: Record<string, { fail?: string; deliverAfterMs?: number }> = {
  '+15555550001': {},
  '+15555550002': { fail: 'carrier_error' },
  '+15555550003': { fail: 'opted_out' },
  '+15555550004': { fail: 'rate_limited' },
  '+15555550005': { deliverAfterMs: 5000 },
};

/** The line number sandbox messages appear to come from. */
export const SANDBOX_FROM = '+15555550100';

/**
 * Synthetic delivery for tf_test_ traffic: no device, no line, no billing.
 * First run: queued → sent → delivered (or failed); the +1…0005 number is
 * delivered by a second, delayed run.
 */
export function createSandboxAdvancer(deps: WorkerDeps) {
  return async function advanceSandbox(payload: { tenantId: string; messageId: string }): Promise<JobOutcome> {
    const { tenantId, messageId } = payload;
    const outcome = await withTenant(deps.db.app, tenantId, async (t) => {
      const message = await getMessage(t, messageId, { forUpdate: true });
      await consumeOutbox(t, 'sending', 'sandbox-advance', messageId);
      if (!message.sandbox) return { jobs: [] as OutboxJob[], result: skipped('not a sandbox message') };
      const rule = SANDBOX_OUTCOMES[message.to_number] ?? {};
      const jobs: OutboxJob[] = [];
      if (message.status === 'queued') {
        if (rule.fail) {
          jobs.push(...(await transitionMessage(t, messageId, 'failed', { reason: rule.fail })).jobs);
          return { jobs, result: done(`failed: ${rule.fail}`) };
        }
        const channel = message.requested_channel === 'auto' ? 'imessage' : message.requested_channel;
        jobs.push(...(await transitionMessage(t, messageId, 'sent', { set: { channel, from_number: message.pinned_from ?? SANDBOX_FROM } })).jobs);
        if (rule.deliverAfterMs) {
          const later = outboxJob('sending', 'sandbox-advance', `${messageId}_delivered`, { tenantId, messageId }, { delayMs: rule.deliverAfterMs, priority: 1 });
          await addToOutbox(t, [later]);
          jobs.push(later);
          return { jobs, result: done('sent; delivery scheduled') };
        }
      }
      if (message.status === 'queued' || message.status === 'sent') {
        await consumeOutbox(t, 'sending', 'sandbox-advance', `${messageId}_delivered`);
        jobs.push(...(await transitionMessage(t, messageId, 'delivered')).jobs);
        return { jobs, result: done('delivered') };
      }
      return { jobs, result: skipped(`already ${message.status}`) };
    });
    await enqueueAll(deps.queues, outcome.jobs);
    return outcome.result;
  };
}
