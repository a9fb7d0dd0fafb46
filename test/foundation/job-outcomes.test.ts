import { expect } from 'chai';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { deferred, done, failed, JobOutcome, runJob, skipped } from '../../workers/runtime';
import type { QueueHandlers } from '../../workers/runtime';
import { NotFoundError } from '../../shared/errors';
import { newId } from '../../shared/ids';
import { jobId } from '../../shared/queues';
import { logger } from '../../shared/logger';

/** A job as BullMQ hands it to a worker, recording what the runtime asks of it. */
function job(payload: { tenantId: string; messageId: string }) {
  const delays: number[] = [];
  const bull = {
    id: jobId('route-message', payload.messageId),
    name: 'route-message',
    data: payload,
    opts: { attempts: 8 },
    attemptsMade: 0,
    moveToDelayed: async (at: number) => {
      delays.push(at);
    },
  } as unknown as Job;
  return { bull, delays };
}

function handlersReturning(outcome: () => Promise<JobOutcome>): QueueHandlers<'sending'> {
  const unused = async () => done('unused');
  return { 'route-message': outcome, 'process-inbound': unused, 'sandbox-advance': unused, 'release-scheduled': unused, 'fetch-media': unused };
}

describe('job outcomes are acted on in one place (workers/runtime.ts)', () => {
  const payload = () => ({ tenantId: newId(), messageId: newId() });

  it('when a handler defers, then the job is delayed until then without using an attempt (or, run directly, the outcome comes back)', async () => {
    const until = new Date(Date.now() + 15000);
    const { bull, delays } = job(payload());
    let thrown: unknown;
    await runJob('sending', handlersReturning(async () => deferred(until, 'waiting for a line')), bull, logger, 'lock-token').catch((error: unknown) => (thrown = error));
    expect(thrown).to.be.instanceOf(DelayedError);
    expect(delays).to.deep.equal([until.getTime()]);
    expect(await runJob('sending', handlersReturning(async () => deferred(until, 'waiting for a line')), job(payload()).bull, logger)).to.deep.equal({ kind: 'deferred', until, reason: 'waiting for a line' });
  });

  it('when a handler reports a permanent failure, then the job is unrecoverable (never retried)', async () => {
    let thrown: unknown;
    await runJob('sending', handlersReturning(async () => failed('dispatch belongs to another message')), job(payload()).bull, logger, 'lock-token').catch((error: unknown) => (thrown = error));
    expect(thrown).to.be.instanceOf(UnrecoverableError);
    expect((thrown as Error).message).to.equal('dispatch belongs to another message');
  });

  it('when a handler skips, or its record is missing or another tenant\'s, then the job\'s own outbox row is dropped (the latter terminally)', async () => {
    const dropped: string[][] = [];
    const dropper = async (tenantId: string, queue: string, name: string, refId: string) => {
      dropped.push([tenantId, queue, name, refId]);
    };
    const first = payload();
    expect(await runJob('sending', handlersReturning(async () => skipped('already sent')), job(first).bull, logger, 'lock-token', dropper)).to.deep.equal({ kind: 'skipped', reason: 'already sent' });
    const second = payload();
    let thrown: unknown;
    await runJob('sending', handlersReturning(async () => {
      throw new NotFoundError('message');
    }), job(second).bull, logger, 'lock-token', dropper).catch((error: unknown) => (thrown = error));
    expect(thrown).to.be.instanceOf(UnrecoverableError);
    expect(dropped).to.deep.equal([
      [first.tenantId, 'sending', 'route-message', first.messageId],
      [second.tenantId, 'sending', 'route-message', second.messageId],
    ]);
  });

  it('when a handler is done, then the outcome is the job\'s result and nothing is dropped', async () => {
    const dropped: unknown[] = [];
    const result = await runJob('sending', handlersReturning(async () => done('dispatching on L1')), job(payload()).bull, logger, 'lock-token', async (...args) => {
      dropped.push(args);
    });
    expect(result).to.deep.equal({ kind: 'done', detail: 'dispatching on L1' });
    expect(dropped).to.deep.equal([]);
  });
});
