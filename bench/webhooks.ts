import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { loadConfig } from '../shared/config';
import { createDatabase, Database } from '../shared/db';
import { withTenant } from '../shared/db/tenant';
import { createTenant } from '../shared/data/tenants';
import { createTestDelivery, createWebhook } from '../shared/data/webhooks';
import { createQueues, Queues } from '../shared/queues';
import { createRedis } from '../shared/redis';
import { enqueueAll, OutboxJob } from '../shared/outbox';
import { createBenchEnv, percentile, printTable, progress, Row, startProcess, stopProcess, summarize } from './lib';

/**
 * Webhook delivery benchmark. A `webhooks` worker process (as in the Procfile)
 * delivers to receivers in this process:
 * - throughput: deliveries per second to healthy local receivers, one endpoint
 *   (held to the per-endpoint concurrency limit) and eight endpoints;
 * - fairness: tenant B's delivery latency while tenant A has a backlog queued
 *   in front of it, with A's receiver healthy, hanging (never answering), and
 *   hanging with the per-endpoint limit lifted (what the limit buys).
 */

interface Receiver {
  url: string;
  /** Arrival time per delivery id (X-Senderz-Delivery). */
  arrivals: Map<string, number>;
  close(): Promise<void>;
}

async function startReceiver(hang = false): Promise<Receiver> {
  const arrivals = new Map<string, number>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.set(String(req.headers['x-senderz-delivery']), Date.now());
      if (!hang) res.end('ok');
    });
  });
  server.keepAliveTimeout = 10000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    arrivals,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Context {
  db: Database;
  queues: Queues;
  encryptionKey: Buffer;
}

let tenantCounter = 0;

async function endpoint(context: Context, url: string): Promise<{ tenantId: string; webhookId: string }> {
  tenantCounter += 1;
  const tenant = await createTenant(context.db.owner, { name: `bench ${tenantCounter}` });
  const { row } = await withTenant(context.db.app, tenant.id, (t) => createWebhook(t, context.encryptionKey, { url, events: ['message.sent'] }));
  return { tenantId: tenant.id, webhookId: row.id };
}

/** Deliveries recorded (event, delivery, outbox row) but not yet enqueued. */
async function prepare(context: Context, target: { tenantId: string; webhookId: string }, count: number): Promise<{ ids: string[]; jobs: OutboxJob[] }> {
  return withTenant(context.db.app, target.tenantId, async (t) => {
    const ids: string[] = [];
    const jobs: OutboxJob[] = [];
    for (let i = 0; i < count; i += 1) {
      const created = await createTestDelivery(t, target.webhookId, false);
      ids.push(created.deliveryId);
      jobs.push(...created.jobs);
    }
    return { ids, jobs };
  });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function succeededCount(context: Context, ids: string[]): Promise<number> {
  const [row] = await context.db.owner('webhook_deliveries').whereIn('id', ids).where('status', 'succeeded').count({ n: '*' });
  return Number(row.n);
}

/** Deliveries per second from the first enqueue to the last arrival. */
async function throughput(context: Context, endpoints: number, perEndpoint: number): Promise<number> {
  const receiver = await startReceiver();
  try {
    const targets = await Promise.all(Array.from({ length: endpoints }, () => endpoint(context, receiver.url)));
    const prepared = await Promise.all(targets.map((target) => prepare(context, target, perEndpoint)));
    const ids = prepared.flatMap((batch) => batch.ids);
    const started = Date.now();
    // Interleave endpoints the way independent traffic would arrive.
    const jobs: OutboxJob[] = [];
    for (let i = 0; i < perEndpoint; i += 1) for (const batch of prepared) jobs.push(batch.jobs[i]);
    await enqueueAll(context.queues, jobs);
    await until(() => receiver.arrivals.size >= ids.length, 120000, 'all deliveries');
    const seconds = (Math.max(...receiver.arrivals.values()) - started) / 1000;
    await until(async () => (await succeededCount(context, ids)) === ids.length, 30000, 'deliveries recorded');
    return ids.length / seconds;
  } finally {
    await receiver.close();
  }
}

/** B's latency (enqueue → arrival) for `countB` deliveries queued right behind A's backlog of `countA`. */
async function fairness(context: Context, aHangs: boolean, countA: number, countB: number): Promise<number[]> {
  const receiverA = await startReceiver(aHangs);
  const receiverB = await startReceiver();
  try {
    const a = await endpoint(context, receiverA.url);
    const b = await endpoint(context, receiverB.url);
    const backlog = await prepare(context, a, countA);
    const measured = await prepare(context, b, countB);
    await enqueueAll(context.queues, backlog.jobs);
    const enqueuedAt = new Map<string, number>();
    for (const job of measured.jobs) {
      enqueuedAt.set((job.payload as { deliveryId: string }).deliveryId, Date.now());
      await enqueueAll(context.queues, [job]);
    }
    await until(() => receiverB.arrivals.size >= countB, 120000, 'B deliveries');
    // A's leftovers (retrying or parked on its busy endpoint) end at once.
    await context.db.owner('webhooks').where({ id: a.webhookId }).update({ enabled: false });
    return measured.ids.map((id) => (receiverB.arrivals.get(id) as number) - (enqueuedAt.get(id) as number));
  } finally {
    await receiverA.close();
    await receiverB.close();
  }
}

export async function runWebhookBench(options: { runs?: number; perEndpoint?: number } = {}): Promise<Row[]> {
  const runs = options.runs ?? 3;
  const perEndpoint = options.perEndpoint ?? 250;
  const bench = await createBenchEnv('webhooks');
  // A 5 s receiver timeout (default 10 s) keeps the no-limit scenario short; the effect is the same.
  const env = { ...bench.env, WEBHOOK_RETRY_SCHEDULE: '60', WEBHOOK_TIMEOUT_MS: '5000' };
  const config = loadConfig(env);
  const db = createDatabase(config, { appPoolMax: 12 });
  const redis = createRedis(config.redisUrl, 'producer');
  const queues = createQueues(redis, config.queuePrefix);
  const context: Context = { db, queues, encryptionKey: config.encryptionKey };
  let worker: ChildProcess | null = null;
  const startWorker = async (extra: Record<string, string> = {}) => {
    worker = startProcess('bin/worker.js', ['webhooks'], { ...env, ...extra });
    // The worker has no port; give it time to connect before the clock starts.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  };
  const stopWorker = async () => {
    if (worker) await stopProcess(worker);
    worker = null;
  };
  const rows: Row[] = [];
  try {
    await startWorker();
    const one: number[] = [];
    const eight: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      progress(`webhooks: throughput run ${run + 1}/${runs}`);
      one.push(await throughput(context, 1, perEndpoint * 2));
      eight.push(await throughput(context, 8, perEndpoint));
    }
    const limit = config.webhooks.maxConcurrencyPerEndpoint;
    rows.push(summarize('webhooks throughput', '1 endpoint', one, 'deliveries/s', `at most ${limit} in flight per endpoint`));
    rows.push(summarize('webhooks throughput', '8 endpoints', eight, 'deliveries/s', 'one worker process, concurrency 32'));

    const latencyRows = (label: string, latencies: number[], note: string) => [
      summarize('webhooks fairness', `B p50, ${label}`, [percentile(latencies, 50)], 'ms', note),
      summarize('webhooks fairness', `B p95, ${label}`, [percentile(latencies, 95)], 'ms'),
      summarize('webhooks fairness', `B max, ${label}`, [Math.max(...latencies)], 'ms'),
    ];
    const countA = 64;
    const countB = 50;
    progress('webhooks: fairness, A healthy');
    rows.push(...latencyRows('A healthy', await fairness(context, false, countA, countB), `${countA} of A's queued first`));
    progress('webhooks: fairness, A hanging');
    rows.push(...latencyRows('A hangs', await fairness(context, true, countA, countB), `A never answers (timeout ${config.webhooks.timeoutMs} ms)`));
    await stopWorker();
    await startWorker({ WEBHOOK_MAX_CONCURRENCY_PER_ENDPOINT: '1000' });
    progress('webhooks: fairness, A hanging, per-endpoint limit lifted');
    rows.push(...latencyRows('A hangs, no limit', await fairness(context, true, countA, countB), 'what the per-endpoint limit prevents'));
    return rows;
  } finally {
    await stopWorker();
    await queues.close();
    redis.disconnect();
    await db.destroy();
    await bench.cleanup();
  }
}

if (require.main === module) {
  runWebhookBench().then(printTable, (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
