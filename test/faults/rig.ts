import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { loadConfig, Config } from '../../shared/config';
import { createDatabase, Database } from '../../shared/db';
import { createRedis } from '../../shared/redis';
import { createQueues, Queues } from '../../shared/queues';
import { logger } from '../../shared/logger';
import { createApiApp, ApiApp } from '../../api/app';
import { POOLS } from '../../workers/pools';
import { createSimulator, Simulator } from '../../simulator/server';
import { eventually, harness } from '../helpers/harness';
import { freePort, PlatformProcess, RedisServer } from './processes';

/**
 * The fault rig: the platform as it runs in production, minus the web
 * process. The API runs in this process (built with createApiApp on the rig's
 * own config, database pools and Redis clients, so it follows the rig's
 * private Redis), every pool and the scheduler run as real child processes,
 * the device simulator and a webhook receiver run here too.
 */

/** The pools the rig runs as processes: every pool of the registry, one process each, as the Procfile does. */
export function rigPools(): string[] {
  return Object.keys(POOLS);
}

export interface RigOptions {
  /** WEBHOOK_RETRY_SCHEDULE for the webhooks process. */
  webhookRetrySchedule: string;
  /** Extra environment for every child. */
  env?: Record<string, string>;
}

export interface ReceivedEvent {
  eventId: string;
  type: string;
  messageId: string | null;
  phoneNumber: string | null;
  /** Requests for this event id answered 2xx. */
  count: number;
}

/**
 * A customer's webhook endpoint: counts deliveries per event id (the
 * Standard Webhooks `webhook-id`, stable across retries) and per path, and can
 * be taken down (connections refused) and brought back on the same port.
 */
export class CountingReceiver {
  readonly byPath = new Map<string, Map<string, ReceivedEvent>>();
  port = 0;
  private server: http.Server | null = null;

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  events(pathName: string): Map<string, ReceivedEvent> {
    let events = this.byPath.get(pathName);
    if (!events) {
      events = new Map();
      this.byPath.set(pathName, events);
    }
    return events;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          // counted under its header id all the same
        }
        const eventId = String(req.headers['webhook-id'] ?? json.event_id ?? '');
        const events = this.events(new URL(req.url ?? '/', 'http://receiver.invalid').pathname);
        const seen = events.get(eventId);
        if (seen) seen.count += 1;
        else
          events.set(eventId, {
            eventId,
            type: String(json.event ?? req.headers['x-senderz-event'] ?? ''),
            messageId: typeof json.message_id === 'string' ? json.message_id : null,
            phoneNumber: typeof json.phone_number === 'string' ? json.phone_number : null,
            count: 1,
          });
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening: every delivery attempt meets a refused connection. */
  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}

export interface PhaseTenant {
  label: string;
  id: string;
  key: string;
  pool: string;
  lines: { id: string; phoneNumber: string }[];
  webhookPath: string | null;
}

export interface FaultRig {
  env: Record<string, string>;
  config: Config;
  db: Database;
  redisServer: RedisServer;
  redis: Redis;
  subscriber: Redis;
  queues: Queues;
  api: ApiApp;
  url: string;
  simulator: Simulator;
  simulatorLog: string[];
  receiver: CountingReceiver;
  processes: Map<string, PlatformProcess>;
  createPhaseTenant(label: string, options?: { lines?: number; webhookEvents?: string[] }): Promise<PhaseTenant>;
  retirePhaseTenant(tenant: PhaseTenant): Promise<void>;
  /** The last lines of every child and of the simulator, for a failure message. */
  tails(lines?: number): string;
  stop(): Promise<void>;
}

async function json(url: string, method: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

let phoneCounter = 0;

export async function startRig(options: RigOptions): Promise<FaultRig> {
  const base = harness();
  const redisServer = new RedisServer(await freePort());
  await redisServer.start();

  const env: Record<string, string> = {
    ...base.env,
    REDIS_URL: redisServer.url,
    QUEUE_PREFIX: `senderz_faults_${crypto.randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'warn',
    // A killed worker's jobs are handed on within a few seconds instead of 30.
    WORKER_LOCK_DURATION_MS: '4000',
    WORKER_STALLED_INTERVAL_MS: '2000',
    // Lines report every 2 s (simulator below). A line silent for 30 s is offline: short enough for the
    // line fault to be seen by the sweep, long enough that a slow, shared machine does not lose lines.
    LINE_OFFLINE_AFTER_SECONDS: '30',
    WEBHOOK_RETRY_SCHEDULE: options.webhookRetrySchedule,
    // An attempt's lease is 2 × timeout + 5 s: a delivery claimed by a killed process is retried after 11 s, not 25.
    WEBHOOK_TIMEOUT_MS: '3000',
    // Modest concurrency: the PostgreSQL cluster (max_connections 100) is shared with other test runs.
    SENDING_CONCURRENCY: '4',
    DISPATCH_CONCURRENCY: '8',
    WEBHOOKS_CONCURRENCY: '4',
    BILLING_CONCURRENCY: '2',
    CAMPAIGNS_CONCURRENCY: '2',
    ...options.env,
  };
  const config = loadConfig(env);
  const db = createDatabase(config);
  const redis = createRedis(config.redisUrl, 'producer');
  const subscriber = createRedis(config.redisUrl, 'worker');
  redis.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  const queues = createQueues(redis, config.queuePrefix);
  const api = createApiApp({ config, db, redis, subscriber, queues, log: logger });
  const server = http.createServer(api.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const simulatorLog: string[] = [];
  const simulatorSink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) simulatorLog.push(line);
      if (simulatorLog.length > 2000) simulatorLog.splice(0, simulatorLog.length - 2000);
      callback();
    },
  });
  const simulator = createSimulator({
    port: 0,
    platformUrl: url,
    heartbeatIntervalMs: 2000,
    latencyMs: { sent: 20, delivered: 40, read: null },
    imessageRule: 'all',
    retryInitialMs: 100,
    retryMaxMs: 1000,
    logger: pino({ level: 'warn' }, simulatorSink),
  });
  const { url: simulatorUrl } = await simulator.start();
  const receiver = new CountingReceiver();
  await receiver.up();

  const processes = new Map<string, PlatformProcess>();
  for (const pool of rigPools()) processes.set(pool, PlatformProcess.worker(pool, env));
  processes.set('scheduler', PlatformProcess.scheduler(env));
  for (const child of processes.values()) child.start();
  // If this test process dies without its after() hooks, take the children with it.
  const killChildren = () => {
    for (const child of processes.values()) child.child?.kill('SIGKILL');
    redisServer.killNow();
  };
  process.once('exit', killChildren);

  const admin = { Authorization: `Bearer ${config.adminApiKey}` };
  const liveLines = new Set<string>();

  const rig: FaultRig = {
    env,
    config,
    db,
    redisServer,
    redis,
    subscriber,
    queues,
    api,
    url,
    simulator,
    simulatorLog,
    receiver,
    processes,

    async createPhaseTenant(label, tenantOptions = {}) {
      const pool = `fault-${label}-${crypto.randomBytes(2).toString('hex')}`;
      // No cap is ever reached, but messages_per_day is set so that the daily message counter is kept
      // (it only moves under a cap), and a phase can check that every message was metered exactly once.
      const limits = { new_contacts_per_day: null, new_contacts_per_month: null, messages_per_day: 10_000_000, requests_per_minute: null };
      const tenant = await json(`${url}/admin/tenants`, 'POST', admin, { name: `Fault ${label}`, plan: 'scale', pool, limits });
      if (tenant.status !== 201) throw new Error(`tenant create failed: ${tenant.status} ${JSON.stringify(tenant.body)}`);
      const tenantId = (tenant.body.data as { id: string }).id;
      const key = await json(`${url}/admin/api-keys`, 'POST', admin, { tenant_id: tenantId, name: 'load', prefix: 'tf_live', rate_limit: null });
      if (key.status !== 201) throw new Error(`key create failed: ${key.status} ${JSON.stringify(key.body)}`);
      const secretKey = (key.body.data as { key: string }).key;

      const lines: PhaseTenant['lines'] = [];
      for (let i = 0; i < (tenantOptions.lines ?? 2); i += 1) {
        phoneCounter += 1;
        const phoneNumber = `+1555800${String(1000 + phoneCounter)}`;
        const secret = crypto.randomBytes(32).toString('hex');
        const line = await json(`${url}/admin/phone-lines`, 'POST', admin, {
          phone_number: phoneNumber,
          bridge_url: `${simulatorUrl}/lines/${encodeURIComponent(phoneNumber)}`,
          secret,
          capabilities: { imessage: true, sms: true, rcs: true },
          mode: 'pooled',
          pool,
          max_per_minute: null,
          warmup: false,
        });
        if (line.status !== 201) throw new Error(`line create failed: ${line.status} ${JSON.stringify(line.body)}`);
        const id = (line.body.data as { id: string }).id;
        simulator.registerLine({ line_id: id, phone_number: phoneNumber, secret });
        liveLines.add(id);
        lines.push({ id, phoneNumber });
      }
      await eventually(
        async () => (await db.owner('phone_lines').whereIn('id', lines.map((line) => line.id)).where('status', 'online')).length === lines.length,
        15000,
        `lines of ${label} online`,
      );

      let webhookPath: string | null = null;
      if (tenantOptions.webhookEvents && rigPools().includes('webhooks')) {
        webhookPath = `/${label}`;
        const hook = await json(`${url}/v1/webhooks`, 'POST', { Authorization: `Bearer ${secretKey}` }, { url: `${receiver.baseUrl}${webhookPath}`, events: tenantOptions.webhookEvents });
        if (hook.status !== 201) throw new Error(`webhook create failed: ${hook.status} ${JSON.stringify(hook.body)}`);
      }
      return { label, id: tenantId, key: secretKey, pool, lines, webhookPath };
    },

    async retirePhaseTenant(tenant) {
      for (const line of tenant.lines) {
        simulator.removeLine(line.id);
        liveLines.delete(line.id);
        await json(`${url}/admin/phone-lines/${line.id}`, 'PATCH', admin, { enabled: false }).catch(() => undefined);
      }
    },

    tails(lines = 25) {
      const parts: string[] = [];
      for (const child of processes.values()) parts.push(`--- ${child.label} (started ${child.starts}×)\n${child.tail.slice(-lines).join('\n')}`);
      parts.push(`--- simulator\n${simulatorLog.slice(-lines).join('\n')}`);
      parts.push(`--- redis-server\n${redisServer.tail.slice(-5).join('\n')}`);
      return parts.join('\n');
    },

    async stop() {
      process.off('exit', killChildren);
      await Promise.all([...processes.values()].map((child) => child.stop()));
      await simulator.stop();
      await receiver.down();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await api.close();
      await queues.close().catch(() => undefined);
      redis.disconnect();
      subscriber.disconnect();
      await db.destroy();
      await redisServer.stop();
    },
  };
  return rig;
}
