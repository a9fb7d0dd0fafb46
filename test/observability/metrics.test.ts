import path from 'node:path';
import net from 'node:net';
import { fork } from 'node:child_process';
import { expect } from 'chai';
import request from 'supertest';
import { adminHeaders, api, createTenant, eventually, harness } from '../helpers/harness';
import { startPlatform, RunningPlatform } from '../helpers/platform';
import { dropLeftoverWebhookJobs, Receiver, registerWebhook, startReceiver } from '../webhooks/helpers';
import { startMetricsServer, watchQueueDepth, MetricsServer } from '../../shared/metrics';
import { logger } from '../../shared/logger';
import { loadConfig } from '../../shared/config';
import { metricsPort } from '../../workers/pools';

/** The value of one series in a Prometheus text exposition (0 when absent). */
function series(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) total += Number(match[4]);
  }
  return total;
}

describe('metrics: Prometheus series on web and on a pool listener', function () {
  this.timeout(60000);
  let platform: RunningPlatform;
  let receiver: Receiver;
  let listener: MetricsServer;

  const scrapeWeb = async () => {
    const res = await api().get('/metrics').set(adminHeaders());
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.match(/text\/plain/);
    return res.text;
  };
  const scrapePool = async () => {
    const res = await request(`http://127.0.0.1:${listener.port}`).get('/metrics');
    expect(res.status).to.equal(200);
    return res.text;
  };

  before(async () => {
    await dropLeftoverWebhookJobs();
    platform = await startPlatform({ pools: ['sending', 'dispatch', 'webhooks'] });
    receiver = await startReceiver();
    // As bin/worker.ts does for a pool process with WORKER_METRICS_PORT set (port 0: any free one).
    watchQueueDepth(harness().queues, ['sending', 'dispatch', 'webhooks']);
    listener = await startMetricsServer(0, '127.0.0.1', logger);
  });
  after(async () => {
    await listener.close();
    await receiver.close();
    await platform.stop();
  });

  it('when /metrics is asked without the operator credential, then it answers 401 in the error envelope', async () => {
    const res = await api().get('/metrics');
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('INVALID_API_KEY');
    expect(res.text).not.to.include('senderz_');
    const tenant = await createTenant();
    expect((await api().get('/metrics').set(tenant.auth)).status).to.equal(401);
  });

  it('when a message is sent, then accept, job, bridge, status and webhook series move on web and on the pool listener', async () => {
    const pool = `p-metrics-${process.pid}`;
    const tenant = await createTenant({ pool });
    const line = await platform.addLine({ pool });
    await registerWebhook(tenant, receiver.url, ['message.delivered']);
    const [webBefore, poolBefore] = [await scrapeWeb(), await scrapePool()];

    const sent = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230042', body: 'counted' });
    expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
    await receiver.waitFor(1, 20000);
    // The delivery is recorded after the receiver answered.
    const moved = (text: string, name: string, labels: Record<string, string>, before: string) => series(text, name, labels) - series(before, name, labels);
    const webAfter = await eventually(async () => {
      const text = await scrapeWeb();
      return moved(text, 'senderz_webhook_deliveries_total', { outcome: 'succeeded' }, webBefore) >= 1 ? text : null;
    }, 10000, 'webhook delivery counted');
    const poolAfter = await scrapePool();

    for (const [after, before] of [[webAfter, webBefore], [poolAfter, poolBefore]]) {
      expect(moved(after, 'senderz_message_accept_duration_seconds_count', { status: '202' }, before)).to.be.at.least(1);
      expect(moved(after, 'senderz_messages_accepted_total', { pool, status: 'queued' }, before)).to.equal(1);
      expect(moved(after, 'senderz_jobs_total', { queue: 'sending', job: 'route-message', outcome: 'completed' }, before)).to.be.at.least(1);
      expect(moved(after, 'senderz_jobs_total', { queue: 'dispatch', job: 'dispatch-message', outcome: 'completed' }, before)).to.be.at.least(1);
      expect(moved(after, 'senderz_jobs_total', { queue: 'webhooks', job: 'deliver', outcome: 'completed' }, before)).to.be.at.least(1);
      expect(moved(after, 'senderz_job_duration_seconds_count', { queue: 'dispatch', job: 'dispatch-message' }, before)).to.be.at.least(1);
      expect(moved(after, 'senderz_bridge_request_duration_seconds_count', { line: line.id, path: '/v1/send', status: '202' }, before)).to.equal(1);
      expect(moved(after, 'senderz_message_status_total', { status: 'delivered' }, before)).to.be.at.least(1);
      expect(moved(after, 'senderz_http_request_duration_seconds_count', { method: 'POST', route: '/v1/messages', status: '202' }, before)).to.be.at.least(1);
    }
    // Tracing is off without an SDK: the job payload is ids only.
    const routed = await harness().queues.get('sending').getJob(`route-message__${sent.body.data.message_id as string}`);
    expect(routed?.data).to.deep.equal({ tenantId: tenant.id, messageId: sent.body.data.message_id });
    // Labels never carry a tenant id, a message id or a number.
    expect(webAfter).not.to.include(tenant.id);
    expect(webAfter).not.to.include(sent.body.data.message_id as string);
    expect(webAfter).not.to.include('15551230042');
  });

  it('when jobs wait in a queue, then its depth is read at scrape time', async () => {
    const queue = harness().queues.get('webhooks');
    const before = series(await scrapePool(), 'senderz_queue_jobs', { queue: 'webhooks', state: 'delayed' });
    const job = await queue.add('deliver', { tenantId: 'T', deliveryId: `metrics_${Date.now()}` }, { delay: 600000 });
    try {
      expect(series(await scrapePool(), 'senderz_queue_jobs', { queue: 'webhooks', state: 'delayed' })).to.equal(before + 1);
      expect(series(await scrapeWeb(), 'senderz_queue_jobs', { queue: 'webhooks', state: 'delayed' })).to.equal(before + 1);
    } finally {
      await job.remove();
    }
  });

  it('when WORKER_METRICS_PORT is set, then it is validated and each pool type gets its own port; unset, no listener', () => {
    const base = { NODE_ENV: 'test', ADMIN_API_KEY: 'a'.repeat(32), ENCRYPTION_KEY: harness().config.encryptionKey.toString('base64') };
    expect(loadConfig(base).workers.metricsPort).to.equal(null);
    expect(loadConfig({ ...base, WORKER_METRICS_PORT: '9400' }).workers.metricsPort).to.equal(9400);
    expect(() => loadConfig({ ...base, WORKER_METRICS_PORT: 'ninety' })).to.throw(/WORKER_METRICS_PORT/);
    expect([metricsPort(9400, ['sending']), metricsPort(9400, ['dispatch']), metricsPort(9400, ['webhooks'])]).to.deep.equal([9400, 9401, 9402]);
  });

  it('when a pool process starts with WORKER_METRICS_PORT, then it serves its own queue depth on base + pool index, and still stops cleanly', async () => {
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const child = fork(path.resolve(__dirname, '..', '..', 'bin', 'worker.js'), ['dispatch'], {
      env: { ...process.env, ...harness().env, WORKER_METRICS_PORT: String(free - 1), WORKER_METRICS_HOST: '127.0.0.1', METRICS_PROCESS: '1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await eventually(async () => stdout.includes('worker pool started'), 20000, 'pool started');
      const res = await request(`http://127.0.0.1:${free}`).get('/metrics');
      expect(res.status).to.equal(200);
      expect(res.text).to.match(/senderz_queue_jobs\{queue="dispatch",state="waiting"\} \d+/);
      expect(res.text).not.to.include('queue="sending"');
      expect(res.text).to.include('senderz_process_cpu_user_seconds_total');
      expect((await request(`http://127.0.0.1:${free}`).get('/other')).status).to.equal(404);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).to.equal(0);
  });
});
