import fs from 'node:fs';
import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { expect } from 'chai';
import { adminHeaders, api, createTenant, eventually, harness } from '../helpers/harness';
import { createSimulator, Simulator } from '../../simulator/server';
import { PlatformProcess } from './processes';

/** CPU seconds a process has used so far (user + system), from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted from the state field (3).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function tableExists(name: string): Promise<boolean> {
  const row = await harness().db.owner('information_schema.tables').where({ table_schema: 'public', table_name: name }).first('table_name');
  return Boolean(row);
}

/** A pooled line on the simulator, online. */
async function addLine(simulator: Simulator, simulatorUrl: string, pool: string): Promise<string> {
  const phoneNumber = `+1555940${String(Math.floor(Math.random() * 10000)).padStart(4, '0')}`;
  const secret = crypto.randomBytes(32).toString('hex');
  const res = await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({ phone_number: phoneNumber, bridge_url: `${simulatorUrl}/lines/${encodeURIComponent(phoneNumber)}`, secret, capabilities: { imessage: true, sms: true, rcs: true }, mode: 'pooled', pool, max_per_minute: null, warmup: false });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  const id = res.body.data.id as string;
  simulator.registerLine({ line_id: id, phone_number: phoneNumber, secret });
  simulator.heartbeat(id);
  await eventually(async () => (await harness().db.owner('phone_lines').where({ id }).first())?.status === 'online', 10000, 'line online');
  return id;
}

describe('horizontal scaling: two processes of each pool against one PostgreSQL and Redis', function () {
  this.timeout(180000);
  let server: http.Server;
  let simulator: Simulator;
  let simulatorUrl: string;
  let processes: PlatformProcess[] = [];

  before(async () => {
    server = http.createServer(harness().app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    simulator = createSimulator({ port: 0, platformUrl: url, heartbeatIntervalMs: 60000, latencyMs: { sent: 10, delivered: 20, read: null }, retryMaxMs: 500, logger: pino({ level: 'silent' }) });
    simulatorUrl = (await simulator.start()).url;
  });

  after(async () => {
    await Promise.all(processes.map((child) => child.stop()));
    await simulator.stop();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  });

  it('when two sending and two dispatch processes share a burst, then every message is dispatched exactly once and the new-contact counters are exact', async () => {
    const pool = `scaling-${crypto.randomBytes(3).toString('hex')}`;
    const tenant = await createTenant({ pool, plan: 'scale', limits: { new_contacts_per_day: null, new_contacts_per_month: null, messages_per_day: null, requests_per_minute: null } });
    await addLine(simulator, simulatorUrl, pool);
    await addLine(simulator, simulatorUrl, pool);

    const env = { ...harness().env, LOG_LEVEL: 'warn', WORKER_LOCK_DURATION_MS: '5000', WORKER_STALLED_INTERVAL_MS: '5000', SENDING_CONCURRENCY: '8', DISPATCH_CONCURRENCY: '8' };
    processes = ['sending', 'sending', 'dispatch', 'dispatch'].map((name, index) => PlatformProcess.worker(name, env, `${name}-${index % 2}`));
    for (const child of processes) child.start();
    // Idle CPU after boot, so that the burst's share of each process can be told apart.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const cpuBefore = processes.map((child) => cpuSeconds(child.pid));

    // 200 sends to 160 distinct numbers: the last 40 repeat earlier numbers, racing them across processes.
    const distinct = 160;
    const total = 200;
    const base = 7000000 + Math.floor(Math.random() * 1000) * 1000;
    const numberOf = (index: number) => `+1555${String(base + (index % distinct)).padStart(7, '0')}`;
    const ids: string[] = [];
    let next = 0;
    const sender = async () => {
      while (next < total) {
        const index = next;
        next += 1;
        const res = await api().post('/v1/messages').set(tenant.auth).send({ to: numberOf(index), body: `scaling ${index}` });
        expect(res.status, JSON.stringify(res.body)).to.equal(202);
        ids.push(res.body.data.message_id);
      }
    };
    await Promise.all(Array.from({ length: 16 }, sender));

    const owner = harness().db.owner;
    await eventually(
      async () => {
        const row = await owner('messages').where({ tenant_id: tenant.id, direction: 'outbound', status: 'delivered' }).count({ n: '*' }).first();
        return Number(row?.n) === total;
      },
      150000,
      `all ${total} delivered by the four processes: ${processes.map((child) => child.tail.slice(-3).join(' | ')).join(' || ')}`,
    );
    const cpuAfter = processes.map((child) => cpuSeconds(child.pid));

    // Exactly one dispatch reached a bridge per message.
    const perMessage = new Map<string, Set<string>>();
    for (const send of simulator.sends()) {
      if (!ids.includes(send.message_id)) continue;
      perMessage.set(send.message_id, (perMessage.get(send.message_id) ?? new Set()).add(send.dispatch_id));
    }
    expect(perMessage.size, 'every message reached a bridge').to.equal(total);
    expect([...perMessage.entries()].filter(([, dispatches]) => dispatches.size > 1), 'no message dispatched twice').to.deep.equal([]);
    const dispatchRows = await owner('dispatches').where({ tenant_id: tenant.id }).whereNotIn('status', ['rerouted', 'rejected', 'cancelled']).select('message_id');
    expect(dispatchRows, 'one live dispatch row per message').to.have.length(total);

    // Both processes of each pool took a share of the work.
    const used = cpuAfter.map((after, index) => after - cpuBefore[index]);
    for (const [index, child] of processes.entries()) {
      const partner = processes.findIndex((other, otherIndex) => otherIndex !== index && other.label.split('-')[0] === child.label.split('-')[0]);
      const pair = used[index] + used[partner];
      expect(used[index], `${child.label} used ${used[index].toFixed(2)} s of the pair's ${pair.toFixed(2)} s CPU`).to.be.greaterThan(pair * 0.1);
    }

    // Usage: a number is a new contact once, however many processes raced on it.
    if (await tableExists('usage_daily')) {
      const daily = await owner('usage_daily').where({ tenant_id: tenant.id }).sum({ n: 'new_contacts' }).first();
      expect(Number(daily?.n), 'usage_daily.new_contacts = distinct numbers').to.equal(distinct);
    }
    if (await tableExists('usage_monthly')) {
      const monthly = await owner('usage_monthly').where({ tenant_id: tenant.id }).sum({ n: 'new_contacts' }).first();
      expect(Number(monthly?.n), 'usage_monthly.new_contacts = distinct numbers').to.equal(distinct);
    }
    if (await tableExists('new_contact_claims')) {
      const claims = await owner('new_contact_claims').where({ tenant_id: tenant.id }).count({ n: '*' }).first();
      expect(Number(claims?.n), 'one claim per new number').to.equal(distinct);
    }
    const known = await owner('known_recipients').where({ tenant_id: tenant.id }).count({ n: '*' }).first();
    expect(Number(known?.n), 'known recipients = distinct numbers').to.equal(distinct);
    const usage = await api().get('/v1/billing/usage').set(tenant.auth);
    if (usage.status === 200) {
      expect(usage.body.data.new_contacts.used_this_month, 'GET /v1/billing/usage').to.equal(distinct);
      expect(usage.body.data.messages.delivered).to.equal(total);
    }
  });
});
