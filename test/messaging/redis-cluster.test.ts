import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import supertest from 'supertest';
import type { Worker } from 'bullmq';
import { Cluster } from 'ioredis';
import { adminHeaders, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startRedisCluster, LocalRedisCluster } from '../helpers/redis-cluster';
import { startReceiver, Receiver } from '../webhooks/helpers';
import { createSimulator, Simulator } from '../../simulator/server';
import { Config, redisCluster } from '../../shared/config';
import { createRedis, RedisClient, waitForRedis } from '../../shared/redis';
import { createQueues, Queues } from '../../shared/queues';
import { createApiApp, ApiApp } from '../../api/app';
import { startPool } from '../../workers/pools';
import { closeWorkers } from '../../workers/runtime';
import { logger } from '../../shared/logger';

/**
 * The whole platform on a real three-master Redis Cluster: the API, the
 * sending, dispatch and webhooks pools and the device simulator, with every
 * Redis key (queues, rate limits, line slots, endpoint slots, cache
 * invalidation) on the cluster.
 */
describe('Redis Cluster: the full path across three masters', function () {
  this.timeout(90000);
  let cluster: LocalRedisCluster;
  let config: Config;
  let producer: RedisClient;
  let subscriber: RedisClient;
  let workerConnection: RedisClient;
  let queues: Queues;
  let apiApp: ApiApp;
  let server: http.Server;
  let workers: Worker[];
  let simulator: Simulator;
  let simulatorUrl: string;
  let receiver: Receiver;
  let lineCounter = 0;

  before(async () => {
    cluster = await startRedisCluster();
    const h = harness();
    config = { ...h.config, redisCluster: redisCluster({ REDIS_CLUSTER_NODES: cluster.nodes }), queuePrefix: `${h.config.queuePrefix}_cluster` };
    producer = createRedis(config, 'producer');
    subscriber = createRedis(config, 'worker');
    workerConnection = createRedis(config, 'worker');
    await Promise.all([producer, subscriber, workerConnection].map((client) => waitForRedis(client, 10000)));
    queues = createQueues(producer, config.queuePrefix);
    apiApp = createApiApp({ config, db: h.db, redis: producer, subscriber, queues, log: logger });
    server = http.createServer(apiApp.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const deps = { config, db: h.db, queues, redis: producer, log: logger };
    workers = (['sending', 'dispatch', 'webhooks'] as const).map((pool) => startPool(pool, deps, workerConnection));
    simulator = createSimulator({ port: 0, platformUrl: url, heartbeatIntervalMs: 60000, latencyMs: { sent: 100, delivered: 300, read: null }, retryMaxMs: 500 });
    simulatorUrl = (await simulator.start()).url;
    receiver = await startReceiver();
  });

  after(async () => {
    await closeWorkers(workers ?? [], 5000);
    await simulator?.stop();
    await receiver?.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await apiApp?.close();
    await queues?.close();
    for (const client of [producer, subscriber, workerConnection]) client?.disconnect();
    await cluster?.stop();
  });

  const clusterApi = () => supertest(apiApp.app);

  async function addLine(tenantId: string, maxPerMinute: number | null): Promise<string> {
    lineCounter += 1;
    const phoneNumber = `+1555801${String(1000 + lineCounter)}`;
    const secret = crypto.randomBytes(32).toString('hex');
    const res = await clusterApi()
      .post('/admin/phone-lines')
      .set(adminHeaders())
      .send({
        phone_number: phoneNumber,
        bridge_url: `${simulatorUrl}/lines/${encodeURIComponent(phoneNumber)}`,
        secret,
        capabilities: { imessage: true, sms: true, rcs: true },
        mode: 'dedicated',
        tenant_id: tenantId,
        max_per_minute: maxPerMinute,
        warmup: false,
      });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const id = res.body.data.id as string;
    simulator.registerLine({ line_id: id, phone_number: phoneNumber, secret });
    simulator.heartbeat(id);
    await eventually(async () => (await harness().db.owner('phone_lines').where({ id }).first())?.status === 'online', 5000, 'line online');
    return id;
  }

  async function send(tenant: TestTenant, to: string): Promise<string> {
    const res = await clusterApi().post('/v1/messages').set(tenant.auth).send({ to, body: 'across the cluster', message_type: 'alert' });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.data.message_id as string;
  }

  it('when the platform runs on the cluster, then its queues spread over the masters under one hash tag each', async () => {
    expect(producer).to.be.instanceOf(Cluster);
    const keys: string[] = [];
    for (const node of (producer as Cluster).nodes('master')) keys.push(...(await node.keys(`{${config.queuePrefix}:*`)));
    // A queue's keys all carry its tag (one slot each); BullMQ writes a meta key per queue on first use.
    const tags = new Set(keys.map((key) => key.slice(0, key.indexOf('}') + 1)));
    expect([...tags].sort()).to.include.members([`{${config.queuePrefix}:dispatch}`, `{${config.queuePrefix}:sending}`, `{${config.queuePrefix}:webhooks}`]);
  });

  it('when a message is sent, then it is routed, dispatched and delivered, and its webhooks arrive in order', async () => {
    const tenant = await createTenant();
    await addLine(tenant.id, null);
    const hook = await clusterApi().post('/v1/webhooks').set(tenant.auth).send({ url: receiver.url, events: ['message.queued', 'message.sent', 'message.delivered'] });
    expect(hook.status, JSON.stringify(hook.body)).to.equal(201);

    const id = await send(tenant, '+15551234568');
    const delivered = await eventually(async () => {
      const res = await clusterApi().get(`/v1/messages/${id}`).set(tenant.auth);
      return res.body.data?.status === 'delivered' ? res.body.data : null;
    }, 20000, 'message delivered');
    expect(delivered.channel).to.equal('imessage');
    expect(simulator.sends().filter((sent) => sent.message_id === id)).to.have.length(1);

    const hooks = await receiver.waitFor(3, 20000);
    const mine = hooks.filter((got) => got.json.message_id === id);
    expect(mine.map((got) => got.json.event)).to.deep.equal(['message.queued', 'message.sent', 'message.delivered']);
  });

  it('when a line has a per-minute cap, then the dispatch processes hold it across the cluster', async function () {
    const tenant = await createTenant();
    const lineId = await addLine(tenant.id, 2);
    const window = Math.floor(Date.now() / 60000);
    const ids: string[] = [];
    for (let i = 0; i < 4; i += 1) ids.push(await send(tenant, `+1555123010${i}`));
    const sends = () => simulator.sends().filter((sent) => ids.includes(sent.message_id));
    await eventually(async () => sends().length >= 2, 20000, 'two sends');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    if (Math.floor(Date.now() / 60000) !== window) this.skip(); // the minute turned: the cap's window started over
    expect(sends()).to.have.length(2);
    expect(await producer.get(`${config.queuePrefix}:{line-minute:${lineId}:${window}}:total`)).to.equal('2');
    const statuses = await Promise.all(ids.map(async (id) => (await clusterApi().get(`/v1/messages/${id}`).set(tenant.auth)).body.data.status as string));
    expect(statuses.filter((status) => status === 'queued' || status === 'sending')).to.have.length(2);
  });

  it('when an API key is revoked on one API process, then another refuses it at once (invalidation over the cluster)', async () => {
    const otherSubscriber = createRedis(config, 'worker');
    const other = createApiApp({ config, db: harness().db, redis: producer, subscriber: otherSubscriber, queues, log: logger });
    try {
      const tenant = await createTenant();
      // The other process caches the key (AUTH_CACHE_SECONDS=5 in tests)...
      expect((await supertest(other.app).get('/v1/messages').set(tenant.auth)).status).to.equal(200);
      const revoked = await clusterApi().delete(`/v1/api-keys/${tenant.keyId}`).set(tenant.auth);
      expect(revoked.status, JSON.stringify(revoked.body)).to.be.oneOf([200, 204]);
      // ...and drops it on the message published through the cluster, well before the cache would expire.
      await eventually(async () => (await supertest(other.app).get('/v1/messages').set(tenant.auth)).status === 401, 2000, 'revoked key refused by the other process');
    } finally {
      await other.close();
      otherSubscriber.disconnect();
    }
  });

  it('when a key has a rate limit, then the counters on the cluster enforce it', async function () {
    const tenant = await createTenant({ rateLimit: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await clusterApi().get('/v1/messages').set(tenant.auth)).status);
    const minuteStart = Math.floor(Date.now() / 60000);
    if (statuses[2] === 200 && minuteStart * 60000 + 2000 > Date.now()) this.skip(); // the window turned mid-test
    expect(statuses).to.deep.equal([200, 200, 429]);
  });
});
