import type { Knex } from 'knex';
import { recordAccepted } from '../../shared/data/dispatches';

/** Most acceptances written by one statement. */
const MAX_BATCH = 200;

/**
 * Records bridge acceptances in batches: every push accepted while a write
 * is being prepared goes into the same statement (senderz_record_accepted),
 * each in its own tenant's scope. `record` resolves only once the batch is
 * committed, so a job completes after its acceptance is durable; a process
 * that dies before that leaves the dispatch pending, the relay runs it
 * again and the bridge, which de-duplicates by dispatch id, answers 202
 * without sending twice.
 */
export function createAcceptedRecorder(app: Knex) {
  const waiting: { tenantId: string; dispatchId: string; done: (error?: unknown) => void }[] = [];
  let scheduled = false;

  async function flush(): Promise<void> {
    scheduled = false;
    const batch = waiting.splice(0, MAX_BATCH);
    if (waiting.length > 0) schedule();
    try {
      await recordAccepted(app, batch);
      for (const item of batch) item.done();
    } catch (error) {
      for (const item of batch) item.done(error);
    }
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => void flush());
  }

  return {
    record(tenantId: string, dispatchId: string): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        waiting.push({ tenantId, dispatchId, done: (error) => (error ? reject(error as Error) : resolve()) });
        schedule();
      });
    },
  };
}
