import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { runJob, QueueHandlers } from '../../workers/runtime';
import type { QueueName } from '../../shared/queues';
import { logger } from '../../shared/logger';

/** A stand-in for a BullMQ job handed to a handler called directly (no delays are requested without a token). */
export function fakeJob(name: string, data: unknown, attemptsMade = 0): Job {
  return { id: `test-${name}-${Date.now()}`, name, data, opts: { attempts: 8 }, attemptsMade } as unknown as Job;
}

/** Runs a job through the same checks a pool applies (payload schema, ownership → terminal failure). */
export async function runThroughPool<Q extends QueueName>(queue: Q, handlers: QueueHandlers<Q>, name: string, data: unknown): Promise<{ result?: unknown; error?: Error; terminal: boolean }> {
  try {
    const result = await runJob(queue, handlers, fakeJob(name, data), logger);
    return { result, terminal: false };
  } catch (error) {
    return { error: error as Error, terminal: error instanceof UnrecoverableError };
  }
}
