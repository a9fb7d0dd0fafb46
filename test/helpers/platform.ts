import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import { createSimulator, Simulator, SimulatorOptions } from '../../simulator/server';
import { startPool, PoolName } from '../../workers/pools';
import { closeWorkers } from '../../workers/runtime';
import type { WorkerDeps } from '../../workers/deps';
import { logger } from '../../shared/logger';
import { expect } from 'chai';
import { adminHeaders, api, createTenant, eventually, harness, TestTenant } from './harness';

/**
 * A running platform for full-path tests: the API on a real port, the chosen
 * worker pools in this process, and the device simulator (a separate program
 * that only speaks the public protocol) posting events back over HTTP.
 */
export interface RunningPlatform {
  url: string;
  simulator: Simulator;
  workers: Worker[];
  deps: WorkerDeps;
  addLine(options?: LineOptions): Promise<TestLine>;
  stop(): Promise<void>;
}

export interface LineOptions {
  mode?: 'pooled' | 'dedicated';
  tenantId?: string;
  pool?: string;
  capabilities?: { imessage: boolean; sms: boolean; rcs: boolean };
  maxPerMinute?: number | null;
  /** Warm-up of a new line (default off in tests). */
  warmup?: boolean;
  phoneNumber?: string;
  /** Wait until the first heartbeat marked it online (default true). */
  waitOnline?: boolean;
}

export interface TestLine {
  id: string;
  phoneNumber: string;
  secret: string;
}

let lineCounter = 0;

export function workerDeps(): WorkerDeps {
  const h = harness();
  return { config: h.config, db: h.db, queues: h.queues, redis: h.redis, log: logger };
}

export async function startPlatform(options: { pools?: PoolName[]; simulator?: SimulatorOptions } = {}): Promise<RunningPlatform> {
  const server = http.createServer(harness().app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Links the workers hand out (the bridges' signed media downloads) point at this API.
  const deps = { ...workerDeps(), config: { ...harness().config, publicUrl: url } };
  const workers = (options.pools ?? ['sending', 'dispatch']).map((pool) => startPool(pool, deps, harness().workerRedis));
  const simulator = createSimulator({ port: 0, platformUrl: url, heartbeatIntervalMs: 60000, latencyMs: { sent: 20, delivered: 40, read: null }, retryMaxMs: 500, ...options.simulator });
  const { url: simulatorUrl } = await simulator.start();

  return {
    url,
    simulator,
    workers,
    deps,
    async addLine(lineOptions: LineOptions = {}) {
      lineCounter += 1;
      const phoneNumber = lineOptions.phoneNumber ?? `+1555700${String(1000 + lineCounter)}`;
      const secret = crypto.randomBytes(32).toString('hex');
      const res = await api()
        .post('/admin/phone-lines')
        .set(adminHeaders())
        .send({
          phone_number: phoneNumber,
          bridge_url: `${simulatorUrl}/lines/${encodeURIComponent(phoneNumber)}`,
          secret,
          capabilities: lineOptions.capabilities ?? { imessage: true, sms: true, rcs: true },
          mode: lineOptions.mode ?? (lineOptions.tenantId ? 'dedicated' : 'pooled'),
          tenant_id: lineOptions.tenantId,
          pool: lineOptions.pool,
          max_per_minute: lineOptions.maxPerMinute === undefined ? null : lineOptions.maxPerMinute,
          warmup: lineOptions.warmup ?? false,
        });
      if (res.status !== 201) throw new Error(`line create failed: ${res.status} ${JSON.stringify(res.body)}`);
      const id = res.body.data.id as string;
      simulator.registerLine({ line_id: id, phone_number: phoneNumber, secret });
      if (lineOptions.waitOnline !== false) {
        simulator.heartbeat(id);
        await eventually(async () => (await harness().db.owner('phone_lines').where({ id }).first())?.status === 'online', 5000, 'line online');
      }
      return { id, phoneNumber, secret };
    },
    async stop() {
      await closeWorkers(workers, 5000);
      await simulator.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Puts every line registered so far out of the way, so a test controls which lines exist. */
export async function disableAllLines(): Promise<void> {
  await harness().db.owner('phone_lines').update({ enabled: false });
}

export async function messageStatus(tenantId: string, messageId: string): Promise<string | undefined> {
  return (await harness().db.owner('messages').where({ tenant_id: tenantId, id: messageId }).first('status'))?.status;
}

let tenantPoolCounter = 0;

/** A tenant with its own line pool and one pooled line in it. */
export async function tenantWithLine(platform: RunningPlatform, lineOptions: LineOptions = {}): Promise<{ tenant: TestTenant; line: TestLine; pool: string }> {
  tenantPoolCounter += 1;
  const pool = `pool-${process.pid}-${tenantPoolCounter}`;
  const tenant = await createTenant({ pool });
  const line = await platform.addLine({ pool, ...lineOptions });
  return { tenant, line, pool };
}

/** POST /v1/messages that must be accepted; the message id. */
export async function send(tenant: TestTenant, body: object): Promise<string> {
  const res = await api().post('/v1/messages').set(tenant.auth).send(body);
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.data.message_id as string;
}

/** The message as GET /v1/messages/:id shows it, once it has `status`. */
export async function waitForStatus(tenant: TestTenant, id: string, status: string, timeoutMs = 10000) {
  return eventually(async () => {
    const res = await api().get(`/v1/messages/${id}`).set(tenant.auth);
    return res.body.data?.status === status ? res.body.data : null;
  }, timeoutMs, `message ${id} ${status}`);
}
