import path from 'node:path';
import { fork, ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { api, createTenant, deleteRedisPrefix, eventually, harness, TestTenant } from '../helpers/harness';
import { startPlatform, RunningPlatform, workerDeps } from '../helpers/platform';
import { fakeJob, runThroughPool } from '../helpers/jobs';
import { relayOutbox } from '../../workers/maintenance/relay';
import { startPool } from '../../workers/pools';
import { closeWorkers } from '../../workers/runtime';
import { createSendingHandlers } from '../../workers/sending';
import { createDispatchHandlers } from '../../workers/dispatch';

let poolCounter = 0;

async function sendMany(tenant: TestTenant, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const res = await api().post('/v1/messages').set(tenant.auth).send({ to: `+1555123${String(2000 + i * 2).padStart(4, '0')}`, body: `durable ${i}` });
    expect(res.status).to.equal(202);
    ids.push(res.body.data.message_id);
  }
  return ids;
}

async function statuses(tenantId: string): Promise<Record<string, number>> {
  const rows = await harness().db.owner('messages').where({ tenant_id: tenantId, direction: 'outbound' }).select('status');
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
  return counts;
}

/** Every message reached the device exactly once: one send record (one dispatch) per message. */
function assertSentOnce(platform: RunningPlatform, ids: string[]): void {
  const perMessage = new Map<string, Set<string>>();
  for (const send of platform.simulator.sends()) {
    if (!ids.includes(send.message_id)) continue;
    perMessage.set(send.message_id, (perMessage.get(send.message_id) ?? new Set()).add(send.dispatch_id));
  }
  expect(perMessage.size, 'every message reached the device').to.equal(ids.length);
  const doubles = [...perMessage.entries()].filter(([, dispatches]) => dispatches.size > 1);
  expect(doubles, 'no message was dispatched twice').to.deep.equal([]);
}

describe('nothing lost, nothing twice', function () {
  this.timeout(90000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: [] });
  });
  after(async () => {
    await platform.stop();
  });

  async function tenantWithLine(): Promise<TestTenant> {
    poolCounter += 1;
    const pool = `durable-${poolCounter}`;
    // Unlimited new contacts: these tests send to many fresh numbers at once.
    const tenant = await createTenant({ pool, limits: { new_contacts_per_day: null, new_contacts_per_month: null } });
    await platform.addLine({ pool, maxPerMinute: null });
    return tenant;
  }

  it('when Redis loses every job (restart without persistence) before any work ran, then the relay rebuilds the work from PostgreSQL', async () => {
    const tenant = await tenantWithLine();
    const ids = await sendMany(tenant, 15);
    await deleteRedisPrefix(harness().redis, harness().config.queuePrefix);
    const workers = ['sending', 'dispatch'].map((pool) => startPool(pool as 'sending' | 'dispatch', workerDeps(), harness().workerRedis));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await statuses(tenant.id)).queued, 'nothing moves without the relay').to.equal(15);
      await relayOutbox(workerDeps(), { graceSeconds: 0 });
      await eventually(async () => (await statuses(tenant.id)).delivered === 15, 20000, 'all delivered');
      assertSentOnce(platform, ids);
    } finally {
      await closeWorkers(workers, 5000);
    }
  });

  it('when Redis loses every job between routing and dispatch, then the relay re-enqueues the dispatches and each is sent once', async () => {
    const tenant = await tenantWithLine();
    const ids = await sendMany(tenant, 10);
    const sending = createSendingHandlers(workerDeps());
    for (const id of ids) await sending['route-message']({ tenantId: tenant.id, messageId: id }, fakeJob('route-message', {}));
    expect((await statuses(tenant.id)).sending).to.equal(10);
    await deleteRedisPrefix(harness().redis, harness().config.queuePrefix);
    const workers = [startPool('dispatch', workerDeps(), harness().workerRedis)];
    try {
      await relayOutbox(workerDeps(), { graceSeconds: 0 });
      await eventually(async () => (await statuses(tenant.id)).delivered === 10, 20000, 'all delivered');
      assertSentOnce(platform, ids);
    } finally {
      await closeWorkers(workers, 5000);
    }
  });

  it('when dispatches are delivered, then their later reports are written in place and the relay, even with Redis emptied, pushes none of them again', async () => {
    const tenant = await tenantWithLine();
    const ids = await sendMany(tenant, 4);
    const workers = ['sending', 'dispatch'].map((pool) => startPool(pool as 'sending' | 'dispatch', workerDeps(), harness().workerRedis));
    try {
      await eventually(async () => (await statuses(tenant.id)).delivered === 4, 20000, 'all delivered');
    } finally {
      await closeWorkers(workers, 5000);
    }
    const owner = harness().db.owner;
    // A later report (delivered → read) changes no indexed column, so PostgreSQL updates the row in place (HOT).
    const trx = await owner.transaction();
    const hotSoFar = async () => (await trx.raw("SELECT pg_stat_get_xact_tuples_hot_updated('dispatches'::regclass)::int AS hot")).rows[0].hot as number;
    let inPlace: { updated: number; hot: number };
    try {
      const before = await hotSoFar();
      const updated = await trx('dispatches').where({ tenant_id: tenant.id }).whereIn('message_id', ids).update({ status: 'read', updated_at: trx.fn.now() });
      inPlace = { updated, hot: (await hotSoFar()) - before };
    } finally {
      await trx.rollback();
    }
    expect(inPlace.updated).to.equal(4);
    expect(inPlace.hot, 'report updates done in place').to.be.at.least(3);

    // Settled dispatches are invisible to the relay: nothing is pushed a second time.
    await deleteRedisPrefix(harness().redis, harness().config.queuePrefix);
    const pushedBefore = platform.simulator.sends().length;
    const again = [startPool('dispatch', workerDeps(), harness().workerRedis)];
    try {
      await relayOutbox(workerDeps(), { graceSeconds: 0 });
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await closeWorkers(again, 5000);
    }
    expect(platform.simulator.sends().length - pushedBefore).to.equal(0);
    assertSentOnce(platform, ids);
  });

  it('when a dispatch worker dies after the bridge accepted but before recording it, then the rerun is de-duplicated by the bridge', async () => {
    const tenant = await tenantWithLine();
    const [id] = await sendMany(tenant, 1);
    await runThroughPool('sending', createSendingHandlers(workerDeps()), 'route-message', { tenantId: tenant.id, messageId: id });
    const dispatch = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).first();
    const dispatcher = createDispatchHandlers(workerDeps());
    const payload = { tenantId: tenant.id, messageId: id, dispatchId: dispatch.id };
    // The device reports late, so the rerun comes before any report (as after a crash and a quick restart).
    platform.simulator.configure({ latencyMs: { sent: 1500, delivered: 1600 } });
    try {
      await dispatcher['dispatch-message'](payload, fakeJob('dispatch-message', payload));
      // The crash: the acceptance was never recorded, and the job's outbox row is still there.
      await harness().db.owner('dispatches').where({ id: dispatch.id }).update({ status: 'pending' });
      await dispatcher['dispatch-message'](payload, fakeJob('dispatch-message', payload, 1));
    } finally {
      platform.simulator.configure({ latencyMs: { sent: 50, delivered: 150 } });
    }
    await eventually(async () => (await statuses(tenant.id)).delivered === 1, 10000, 'delivered');
    const sends = platform.simulator.sends().filter((send) => send.message_id === id);
    expect(sends).to.have.length(1);
    expect(sends[0].attempts).to.equal(2);
  });

  it('when the sending and dispatch processes are killed with SIGKILL mid-stream and restarted, then every message is delivered and none twice', async () => {
    const tenant = await tenantWithLine();
    const env = { ...process.env, ...harness().env, WORKER_LOCK_DURATION_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000', LOG_LEVEL: 'silent' };
    const script = path.resolve(__dirname, '..', '..', 'bin', 'worker.js');
    const spawnPools = (): ChildProcess[] => ['sending', 'dispatch'].map((pool) => fork(script, [pool], { env, stdio: 'ignore' }));
    let children = spawnPools();
    try {
      const ids = await sendMany(tenant, 40);
      await eventually(async () => ((await statuses(tenant.id)).delivered ?? 0) >= 5, 30000, 'first deliveries');
      for (const child of children) child.kill('SIGKILL');
      const atKill = await statuses(tenant.id);
      expect(atKill.delivered ?? 0, 'killed mid-stream').to.be.lessThan(40);
      children = spawnPools();
      const relay = setInterval(() => void relayOutbox(workerDeps(), { graceSeconds: 2 }).catch(() => undefined), 1000);
      try {
        await eventually(async () => (await statuses(tenant.id)).delivered === 40, 60000, 'all 40 delivered');
      } finally {
        clearInterval(relay);
      }
      assertSentOnce(platform, ids);
    } finally {
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
    }
  });
});
