import { expect } from 'chai';
import { createBatcher } from '../../shared/db/batcher';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A batcher whose statement records the items of each call and answers each item doubled. */
function recordingBatcher(options: { maxBatch?: number; lingerMs?: number } = {}) {
  const batches: number[][] = [];
  const call = createBatcher<number, number>({
    ...options,
    async run(items) {
      batches.push([...items]);
      await sleep(5);
      return items.map((item) => item * 2);
    },
  });
  return { call, batches };
}

describe('statement batcher', () => {
  it('when calls are made in the same turn, then they share one statement and each caller gets its own answer', async () => {
    const { call, batches } = recordingBatcher();
    const answers = await Promise.all([1, 2, 3].map((item) => call(item)));
    expect(answers).to.deep.equal([2, 4, 6]);
    expect(batches).to.deep.equal([[1, 2, 3]]);
  });

  it('when calls come a few milliseconds apart, then each goes alone (a lone call waits for nothing)', async () => {
    const { call, batches } = recordingBatcher();
    const first = call(1);
    await sleep(15);
    const second = call(2);
    expect(await Promise.all([first, second])).to.deep.equal([2, 4]);
    expect(batches).to.deep.equal([[1], [2]]);
  });

  it('when one item of a batch fails, then only its caller gets the error', async () => {
    const call = createBatcher<number, number>({
      async run(items) {
        if (items.includes(13)) throw new Error('unlucky');
        return items.map((item) => item + 1);
      },
    });
    const outcomes = await Promise.allSettled([1, 13, 2].map((item) => call(item)));
    expect(outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as Error).message))).to.deep.equal([2, 'unlucky', 3]);
  });

  it('when a call may linger, then it goes with the next statement another call starts, and each caller still gets its own answer', async () => {
    const { call, batches } = recordingBatcher();
    const lazy = call(1, { lingerMs: 200 });
    await sleep(20);
    // Nothing went yet: the lingering call waits for company.
    expect(batches).to.deep.equal([]);
    const eager = call(2);
    expect(await Promise.all([lazy, eager])).to.deep.equal([2, 4]);
    expect(batches).to.deep.equal([[1, 2]]);
  });

  it('when nothing else comes, then a lingering call goes alone once it has waited its time, and an eager call never waits for it', async () => {
    const { call, batches } = recordingBatcher();
    const started = Date.now();
    const lazy = call(1, { lingerMs: 40 });
    expect(await lazy).to.equal(2);
    expect(Date.now() - started).to.be.at.least(35);
    expect(batches).to.deep.equal([[1]]);

    const eagerStarted = Date.now();
    const second = call(3, { lingerMs: 1000 });
    expect(await call(4)).to.equal(8);
    expect(Date.now() - eagerStarted).to.be.below(500);
    expect(await second).to.equal(6);
    expect(batches).to.deep.equal([[1], [3, 4]]);
  });

  it('when the batcher has a gather window, then calls 10 ms apart share a statement, and a full statement goes without waiting out the window', async () => {
    const { call, batches } = recordingBatcher({ lingerMs: 60, maxBatch: 3 });
    const first = call(1);
    await sleep(10);
    const second = call(2);
    expect(await Promise.all([first, second])).to.deep.equal([2, 4]);
    expect(batches).to.deep.equal([[1, 2]]);

    const started = Date.now();
    expect(await Promise.all([5, 6, 7].map((item) => call(item)))).to.deep.equal([10, 12, 14]);
    expect(Date.now() - started, 'a full statement waits for no one').to.be.below(40);
    // A call's own lingerMs still wins over the window.
    const eagerStarted = Date.now();
    expect(await call(8, { lingerMs: 0 })).to.equal(16);
    expect(Date.now() - eagerStarted).to.be.below(40);
    expect(batches).to.deep.equal([[1, 2], [5, 6, 7], [8]]);
  });
});
