import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { runJob, QueueHandlers } from '../../workers/runtime';
import type { QueueName } from '../../shared/queues';
import { logger } from '../../shared/logger';
import { dropOutboxRow } from '../../shared/outbox';
import { harness } from './harness';

/** A stand-in for a BullMQ job handed to a handler called directly (no delays are requested without a token). */
export function fakeJob(name: string, data: unknown, attemptsMade = 0): Job {
  return { id: `test-${name}-${Date.now()}`, name, data, opts: { attempts: 8 }, attemptsMade } as unknown as Job;
}

/**
 * A handler's outcome as one line to compare in a test: `kind: detail` for a
 * typed outcome (done, skipped, deferred, failed), the value itself otherwise.
 */
export function outcomeText(value: unknown): string {
  if (value && typeof value === 'object' && 'kind' in value) {
    const outcome = value as { kind: string; detail?: string; reason?: string };
    return `${outcome.kind}: ${outcome.detail ?? outcome.reason ?? ''}`;
  }
  return String(value);
}

/**
 * Runs a job through the same checks a pool applies (payload schema,
 * ownership → terminal failure, the job's outbox row dropped on a terminal
 * skip); a typed outcome comes back as `outcomeText`. `id` is the job's
 * BullMQ id (`<job name>__<ref id>`, as the pool sees it) when the test is
 * about its outbox row.
 */
export async function runThroughPool<Q extends QueueName>(
  queue: Q,
  handlers: QueueHandlers<Q>,
  name: string,
  data: unknown,
  id?: string,
): Promise<{ result?: unknown; error?: Error; terminal: boolean }> {
  const job = fakeJob(name, data);
  if (id) (job as { id?: string }).id = id;
  try {
    const result = await runJob(queue, handlers, job, logger, undefined, (tenantId, queueName, jobName, refId) => dropOutboxRow(harness().db.app, tenantId, queueName, jobName, refId));
    return { result: typeof result === 'object' && result !== null && 'kind' in result ? outcomeText(result) : result, terminal: false };
  } catch (error) {
    return { error: error as Error, terminal: error instanceof UnrecoverableError };
  }
}
