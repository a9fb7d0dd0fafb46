import { expect } from 'chai';
import type { Worker } from 'bullmq';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startPool } from '../../workers/pools';
import { closeWorkers } from '../../workers/runtime';
import { relayOutbox } from '../../workers/maintenance/relay';
import { bullJobId, enqueueAll } from '../../shared/outbox';
import type { WorkerDeps } from '../../workers/deps';
import { deliveryRow, depsWith, dropLeftoverWebhookJobs, pendingTestDelivery, Receiver, registerWebhook, startReceiver } from './helpers';

/**
 * Deliveries through a real webhooks pool (BullMQ delays, the outbox relay),
 * with a retry schedule of seconds given through configuration.
 */
describe('webhooks: the pool', () => {
  let worker: Worker | null = null;
  const receivers: Receiver[] = [];

  async function startWorker(deps: WorkerDeps, concurrency?: number): Promise<void> {
    worker = startPool('webhooks', deps, harness().workerRedis, concurrency);
    await worker.waitUntilReady();
  }

  async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
    const started = await startReceiver(...args);
    receivers.push(started);
    return started;
  }

  before(dropLeftoverWebhookJobs);

  afterEach(async () => {
    if (worker) await closeWorkers([worker], 5000);
    worker = null;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('when the receiver fails twice then recovers, then the retries happen on schedule and every attempt is in the delivery log', async function () {
    this.timeout(30000);
    await startWorker(depsWith({ WEBHOOK_RETRY_SCHEDULE: '1,1,1' }));
    const hooks = await receiver((_hook, index) => (index < 2 ? 500 : 200));
    const tenant = await createTenant();
    const hook = await registerWebhook(tenant, hooks.url);
    const created = await pendingTestDelivery(tenant.id, hook.id);
    await enqueueAll(harness().queues, created.jobs);

    await eventually(async () => (await deliveryRow(tenant.id, created.deliveryId))?.status === 'succeeded', 15000, 'delivery succeeded');
    expect(hooks.arrivals).to.equal(3);
    const ids = new Set(hooks.received.map((got) => got.headers['webhook-id']));
    expect(ids, 'webhook-id is stable across retries').to.deep.equal(new Set([created.eventId]));
    const gaps = hooks.received.slice(1).map((got, i) => got.at - hooks.received[i].at);
    for (const gap of gaps) expect(gap, 'about one second apart (schedule 1 s ± 10 %)').to.be.within(850, 3000);

    const log = await api().get(`/v1/webhooks/${hook.id}/deliveries`).set(tenant.auth);
    const [entry] = log.body.data;
    expect(entry).to.include({ id: created.deliveryId, status: 'succeeded', attempt_count: 3, next_attempt_at: null, last_status_code: 200 });
    expect(entry.attempts.map((a: { status_code: number }) => a.status_code)).to.deep.equal([500, 500, 200]);
    expect(entry.attempts[0].next_attempt_at).to.be.a('string');
    expect(entry.attempts[0].error).to.equal('HTTP 500');
    expect(entry.attempts[2].next_attempt_at).to.equal(null);
    for (const attempt of entry.attempts) expect(attempt).to.have.all.keys('attempt', 'attempted_at', 'status_code', 'latency_ms', 'error', 'next_attempt_at');
  });

  it('when a receiver never recovers, then after the last scheduled attempt the delivery is failed; a manual retry (202) delivers it once it is back', async function () {
    this.timeout(30000);
    await startWorker(depsWith({ WEBHOOK_RETRY_SCHEDULE: '1,1' }));
    let healthy = false;
    const hooks = await receiver(() => (healthy ? 200 : 500));
    const tenant = await createTenant();
    const hook = await registerWebhook(tenant, hooks.url);
    const created = await pendingTestDelivery(tenant.id, hook.id);
    await enqueueAll(harness().queues, created.jobs);
    await eventually(async () => (await deliveryRow(tenant.id, created.deliveryId))?.status === 'failed', 15000, 'delivery failed');
    expect(hooks.arrivals).to.equal(3);

    healthy = true;
    const retry = await api().post(`/v1/webhooks/${hook.id}/deliveries/${created.deliveryId}/retry`).set(tenant.auth);
    expect(retry.status, JSON.stringify(retry.body)).to.equal(202);
    expect(retry.body.data).to.include({ id: created.deliveryId, status: 'pending' });
    await eventually(async () => (await deliveryRow(tenant.id, created.deliveryId))?.status === 'succeeded', 10000, 'retried delivery succeeded');
    expect(hooks.arrivals).to.equal(4);

    // A succeeded delivery can be replayed too: same event, same webhook-id.
    const replay = await api().post(`/v1/webhooks/${hook.id}/deliveries/${created.deliveryId}/retry`).set(tenant.auth);
    expect(replay.status).to.equal(202);
    await eventually(async () => (await deliveryRow(tenant.id, created.deliveryId))?.attempts === 5, 10000, 'replayed');
    expect(hooks.arrivals).to.equal(5);
    expect(hooks.received[4].headers['webhook-id']).to.equal(created.eventId);
  });

  it('when POST /test is called, then the test event reaches the endpoint through the pool', async () => {
    await startWorker(depsWith({}));
    const hooks = await receiver();
    const tenant = await createTenant();
    const hook = await registerWebhook(tenant, hooks.url);
    const res = await api().post(`/v1/webhooks/${hook.id}/test`).set(tenant.sandboxAuth);
    expect(res.status).to.equal(202);
    const [got] = await hooks.waitFor(1);
    expect(got.json).to.include({ event: 'webhook.test', webhook_id: hook.id });
    expect(got.headers['x-senderz-sandbox'], 'a test sent with a test key is sandbox traffic').to.equal('1');
  });

  it('when Redis loses a delivery scheduled for retry, then the outbox relay re-creates it once its time has passed and it is delivered', async function () {
    this.timeout(30000);
    const deps = depsWith({ WEBHOOK_RETRY_SCHEDULE: '30' });
    await startWorker(deps);
    const hooks = await receiver((_hook, index) => (index === 0 ? 500 : 200));
    const tenant = await createTenant();
    const hook = await registerWebhook(tenant, hooks.url);
    const created = await pendingTestDelivery(tenant.id, hook.id);
    await enqueueAll(harness().queues, created.jobs);
    await eventually(async () => (await deliveryRow(tenant.id, created.deliveryId))?.attempts === 1, 10000, 'first attempt');
    const queue = harness().queues.get('webhooks');
    const jobId = bullJobId(created.jobs[0]);
    await eventually(async () => (await queue.getJobState(jobId)) === 'delayed', 5000, 'job delayed for its retry');

    // Redis restarts empty: the delayed job is gone. Then the retry time passes.
    await (await queue.getJob(jobId))?.remove();
    expect(await queue.getJobState(jobId)).to.equal('unknown');
    // Long past, so the relay (oldest rows first, in batches) reaches it before other tests' leftovers.
    const past = new Date('2000-01-01T00:00:00Z');
    await harness().db.owner('webhook_deliveries').where({ tenant_id: tenant.id, id: created.deliveryId }).update({ next_attempt_at: past });
    await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', ref_id: created.deliveryId }).update({ available_at: past });

    expect(await relayOutbox(deps)).to.be.greaterThan(0);
    await eventually(async () => (await deliveryRow(tenant.id, created.deliveryId))?.status === 'succeeded', 10000, 'delivered after the relay');
    expect(hooks.arrivals).to.equal(2);
  });

  it('when tenant A\'s endpoint hangs with deliveries queued, then tenant B\'s deliveries still arrive at once (per-endpoint concurrency limit)', async function () {
    this.timeout(30000);
    // Four pool slots, at most two per endpoint, three-second timeout: without
    // the limit A's eight hanging deliveries would hold every slot for 3 s.
    await startWorker(depsWith({ WEBHOOK_TIMEOUT_MS: '3000', WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT: '2', WEBHOOK_RETRY_SCHEDULE: '60' }), 4);
    const hanging = await receiver(() => 'hang');
    const healthy = await receiver();
    const a: TestTenant = await createTenant();
    const b: TestTenant = await createTenant();
    const hookA = await registerWebhook(a, hanging.url);
    const hookB = await registerWebhook(b, healthy.url);

    for (let i = 0; i < 8; i += 1) await enqueueAll(harness().queues, (await pendingTestDelivery(a.id, hookA.id)).jobs);
    await eventually(async () => hanging.arrivals >= 2, 5000, 'A\'s endpoint holding its slots');

    const started = Date.now();
    for (let i = 0; i < 3; i += 1) await enqueueAll(harness().queues, (await pendingTestDelivery(b.id, hookB.id)).jobs);
    const got = await healthy.waitFor(3, 2500);
    const slowest = Math.max(...got.map((hook) => hook.at - started));
    expect(slowest, 'B waited for A').to.be.lessThan(1500);
    expect(hanging.arrivals, 'A never had more than its two slots').to.equal(2);

    // Park A's endpoint so its leftover jobs end quickly.
    await harness().db.owner('webhooks').where({ tenant_id: a.id, id: hookA.id }).update({ enabled: false });
  });
});
