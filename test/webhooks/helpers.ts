import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { loadConfig, Config } from '../../shared/config';
import { withTenant } from '../../shared/db/tenant';
import { createTestDelivery } from '../../shared/data/webhooks';
import type { OutboxJob } from '../../shared/outbox';
import { api, eventually, harness, TestTenant } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import type { WorkerDeps } from '../../workers/deps';

/**
 * A webhook receiver as a customer would run one: a plain HTTP server that
 * keeps the raw bytes and headers of every POST. It knows nothing of the
 * platform's code.
 */
export interface ReceivedHook {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  json: Record<string, unknown>;
  at: number;
}

/** What to answer the n-th request (0-based): a status, a status with headers, or 'hang' (never answer). */
export type Responder = (hook: ReceivedHook, index: number) => number | { status: number; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedHook[];
  /** Requests whose body arrived, answered or not (hanging ones included). */
  arrivals: number;
  respond: Responder;
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedHook[]>;
  close(): Promise<void>;
}

export async function startReceiver(respond: Responder = () => 200): Promise<Receiver> {
  const receiver = { received: [] as ReceivedHook[], arrivals: 0, respond } as Receiver;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        // not JSON: kept raw
      }
      const hook: ReceivedHook = { path: req.url ?? '/', headers: req.headers, raw, json, at: Date.now() };
      const index = receiver.arrivals;
      receiver.arrivals += 1;
      const answer = receiver.respond(hook, index);
      if (answer === 'hang') return;
      receiver.received.push(hook);
      const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : answer;
      res.writeHead(status, headers);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  receiver.port = port;
  receiver.url = `http://127.0.0.1:${port}/hooks`;
  receiver.waitFor = (count, timeoutMs = 10000) =>
    eventually(async () => (receiver.received.length >= count ? receiver.received : null), timeoutMs, `${count} webhook(s) at the receiver`);
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}

/** A config as the process would load it from its environment, with webhook settings changed. */
export function webhookConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...harness().env, ...overrides });
}

export function depsWith(overrides: Record<string, string>): WorkerDeps {
  return { ...workerDeps(), config: webhookConfig(overrides) };
}

export async function registerWebhook(tenant: TestTenant, url: string, events: string[] = ['message.sent'], extra: Record<string, unknown> = {}) {
  const res = await api().post('/v1/webhooks').set(tenant.auth).send({ url, events, ...extra });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.data as { id: string; secret: string; url: string; events: string[]; enabled: boolean };
}

/** A `webhook.test` delivery recorded (with its outbox row) but not enqueued: the test runs the handler itself. */
export async function pendingTestDelivery(tenantId: string, webhookId: string, sandbox = false): Promise<{ deliveryId: string; eventId: string; jobs: OutboxJob[] }> {
  return withTenant(harness().db.app, tenantId, (t) => createTestDelivery(t, webhookId, sandbox));
}

export async function deliveryRow(tenantId: string, deliveryId: string) {
  return harness().db.owner('webhook_deliveries').where({ tenant_id: tenantId, id: deliveryId }).first();
}

export async function webhookRow(tenantId: string, webhookId: string) {
  return harness().db.owner('webhooks').where({ tenant_id: tenantId, id: webhookId }).first();
}

export async function attemptRows(tenantId: string, deliveryId: string) {
  return harness().db.owner('webhook_delivery_attempts').where({ tenant_id: tenantId, delivery_id: deliveryId }).orderBy('attempt');
}

/**
 * Earlier test files send thousands of messages with no webhooks pool running:
 * their `message-event` jobs wait in the shared queue, and a pool started here
 * would first work through all of them. They belong to finished tests (and to
 * tenants without endpoints), so they are dropped before the pool starts.
 */
export async function dropLeftoverWebhookJobs(): Promise<void> {
  await harness().queues.get('webhooks').drain(true);
}
