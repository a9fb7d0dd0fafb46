import { expect } from 'chai';
import { api, adminHeaders, deleteRedisPrefix, eventually, harness } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { logger } from '../../shared/logger';
import { withTenant } from '../../shared/db/tenant';
import { getMessage } from '../../shared/data/messages';
import { getOwnTenant } from '../../shared/data/tenants';
import { takeUsageSlots, capsFor } from '../../shared/compliance/caps';
import { createQueues, jobId } from '../../shared/queues';
import { relayOutbox } from '../../workers/maintenance/relay';
import { createPoolWorker, closeWorkers } from '../../workers/runtime';
import { createSendingHandlers } from '../../workers/sending';
import type { ComplianceCheck } from '../../workers/sending/compliance';
import { subscribe } from '../helpers/subscriptions';
import { fictionalNumber, messageRow, routeAt, send, tenantWithOfflineLine, uniqueName, dropLeftoverWork } from './helpers';

const DAY1 = new Date('2026-03-10T15:00:00Z');
const DAY2 = new Date('2026-03-11T00:00:01Z');

async function counters(tenantId: string, day = '2026-03-10', month = '2026-03-01') {
  const { owner } = harness().db;
  const daily = await owner('usage_daily').where({ tenant_id: tenantId, day }).first();
  const monthly = await owner('usage_monthly').where({ tenant_id: tenantId, period_start: month }).first();
  const claims = await owner('new_contact_claims').where({ tenant_id: tenantId, period_start: month }).count({ n: '*' }).first();
  return { day: daily?.new_contacts ?? 0, messages: daily?.messages ?? 0, month: monthly?.new_contacts ?? 0, claims: Number(claims?.n ?? 0) };
}

async function billingEvents(tenantId: string, type: string) {
  return harness().db.owner('billing_events').where({ tenant_id: tenantId, type });
}

describe('usage caps (new contacts per day/month, messages per day)', () => {
  after(dropLeftoverWork);

  it('when the plan is trial, starter, growth or scale, then the caps are 10/250, 10/250, 50/1250 and 500/10000, and a limits override wins', () => {
    expect(capsFor({ plan: 'trial', limits: {} })).to.deep.equal({ newContactsPerDay: 10, newContactsPerMonth: 250, messagesPerDay: null });
    expect(capsFor({ plan: 'starter', limits: {} })).to.include({ newContactsPerDay: 10, newContactsPerMonth: 250 });
    expect(capsFor({ plan: 'growth', limits: {} })).to.include({ newContactsPerDay: 50, newContactsPerMonth: 1250 });
    expect(capsFor({ plan: 'scale', limits: {} })).to.include({ newContactsPerDay: 500, newContactsPerMonth: 10000 });
    expect(capsFor({ plan: 'trial', limits: { new_contacts_per_day: null, new_contacts_per_month: 3, messages_per_day: 7 } })).to.deep.equal({
      newContactsPerDay: null,
      newContactsPerMonth: 3,
      messagesPerDay: 7,
    });
  });

  it('when a trial tenant messages 12 new numbers in a day, then 10 pass and 2 wait (queued, daily_limit) until the next UTC midnight', async () => {
    const { tenant } = await tenantWithOfflineLine();
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) ids.push(await send(tenant, fictionalNumber()));
    const results: string[] = [];
    for (const id of ids) results.push(await routeAt(tenant.id, id, DAY1));
    expect(results.filter((result) => result === 'deferred: waiting for a line')).to.have.length(10);
    expect(results.slice(10)).to.deep.equal(['deferred: daily_limit', 'deferred: daily_limit']);
    const held = await messageRow(tenant.id, ids[11]);
    expect(held).to.include({ status: 'queued', reason: 'daily_limit' });
    expect(held.release_at.toISOString()).to.equal('2026-03-11T00:00:00.000Z');
    const outbox = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'sending', job_name: 'route-message', ref_id: ids[11] }).first();
    expect(outbox.available_at.toISOString()).to.equal('2026-03-11T00:00:00.000Z');
    expect(await counters(tenant.id)).to.deep.equal({ day: 10, messages: 0, month: 10, claims: 10 });
    const reached = await billingEvents(tenant.id, 'new_contacts.daily_cap_reached');
    expect(reached, 'cap reached: one billing event').to.have.length(1);
    expect(reached[0].data).to.deep.equal({ day: '2026-03-10', limit: 10 });

    // At midnight the held message is routed again and takes a slot of the new day.
    expect(await routeAt(tenant.id, ids[11], DAY2)).to.equal('deferred: waiting for a line');
    expect(await counters(tenant.id, '2026-03-11')).to.include({ day: 1, month: 11 });
  });

  it('when two messages go to the same new number on the same day, or a routing job runs twice, then the number counts once', async () => {
    const { tenant } = await tenantWithOfflineLine();
    const number = fictionalNumber();
    const first = await send(tenant, number);
    const second = await send(tenant, number);
    await routeAt(tenant.id, first, DAY1);
    await routeAt(tenant.id, first, DAY1);
    await routeAt(tenant.id, second, DAY1);
    // Later that month, still never successfully messaged: counted once per month.
    const third = await send(tenant, number);
    await routeAt(tenant.id, third, new Date('2026-03-20T12:00:00Z'));
    expect(await counters(tenant.id)).to.deep.equal({ day: 1, messages: 0, month: 1, claims: 1 });
    expect((await messageRow(tenant.id, first)).counted_new_contact).to.equal(true);
  });

  it('when the tenant already messaged the number successfully, then it is not a new contact', async () => {
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 0 } });
    const number = fictionalNumber();
    await harness().db.owner('known_recipients').insert({ tenant_id: tenant.id, phone_number: number });
    const id = await send(tenant, number);
    expect(await routeAt(tenant.id, id, DAY1)).to.equal('deferred: waiting for a line');
    expect(await counters(tenant.id)).to.deep.equal({ day: 0, messages: 0, month: 0, claims: 0 });
  });

  it('when 20 routings of new numbers run concurrently with 5 slots left, then exactly 5 are counted and 15 wait', async function () {
    this.timeout(60000);
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 8, new_contacts_per_month: null } });
    // Three slots already used today.
    for (let i = 0; i < 3; i += 1) await routeAt(tenant.id, await send(tenant, fictionalNumber()), DAY1);
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) ids.push(await send(tenant, fictionalNumber()));
    const results = await Promise.all(ids.map((id) => routeAt(tenant.id, id, DAY1)));
    expect(results.filter((result) => result === 'deferred: waiting for a line')).to.have.length(5);
    expect(results.filter((result) => result === 'deferred: daily_limit')).to.have.length(15);
    expect(await counters(tenant.id)).to.deep.equal({ day: 8, messages: 0, month: 8, claims: 8 });
    const counted = await harness().db.owner('messages').where({ tenant_id: tenant.id, counted_new_contact: true }).count({ n: '*' }).first();
    expect(Number(counted?.n)).to.equal(8);
  });

  it('when routings race at the monthly cap, then exactly the cap is counted and the rest are blocked with reason monthly_limit', async function () {
    this.timeout(60000);
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: null, new_contacts_per_month: 4 } });
    await subscribe(tenant.id, ['message.blocked']);
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) ids.push(await send(tenant, fictionalNumber()));
    const results = await Promise.all(ids.map((id) => routeAt(tenant.id, id, DAY1)));
    expect(results.filter((result) => result === 'deferred: waiting for a line')).to.have.length(4);
    expect(results.filter((result) => result === 'done: blocked: monthly_limit')).to.have.length(8);
    expect(await counters(tenant.id)).to.include({ month: 4, day: 4, claims: 4 });
    const blocked = await harness().db.owner('messages').where({ tenant_id: tenant.id, status: 'blocked', reason: 'monthly_limit' });
    expect(blocked).to.have.length(8);
    // message.blocked is announced for each.
    const hooks = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', job_name: 'message-event' }).whereIn('ref_id', blocked.map((row) => `${row.id}_2`));
    expect(hooks).to.have.length(8);
    expect(await billingEvents(tenant.id, 'new_contacts.monthly_cap_reached')).to.have.length(1);
  });

  it('when limits.messages_per_day is set, then messages beyond it wait with reason daily_limit, a re-run counts nothing twice, and unlimited tenants count nothing', async () => {
    const { tenant } = await tenantWithOfflineLine({ limits: { messages_per_day: 2, new_contacts_per_day: null, new_contacts_per_month: null } });
    const number = fictionalNumber();
    const ids = [await send(tenant, number), await send(tenant, number), await send(tenant, number)];
    expect(await routeAt(tenant.id, ids[0], DAY1)).to.equal('deferred: waiting for a line');
    expect(await routeAt(tenant.id, ids[0], DAY1)).to.equal('deferred: waiting for a line');
    expect(await routeAt(tenant.id, ids[1], DAY1)).to.equal('deferred: waiting for a line');
    expect(await routeAt(tenant.id, ids[2], DAY1)).to.equal('deferred: daily_limit');
    expect((await messageRow(tenant.id, ids[2])).reason).to.equal('daily_limit');
    expect(await counters(tenant.id)).to.include({ messages: 2, day: 1 });
    expect(await billingEvents(tenant.id, 'messages.daily_cap_reached')).to.have.length(1);

    const open = await tenantWithOfflineLine({ limits: { new_contacts_per_day: null, new_contacts_per_month: null } });
    const free = await send(open.tenant, fictionalNumber());
    expect(await routeAt(open.tenant.id, free, DAY1)).to.equal('deferred: waiting for a line');
    expect(await counters(open.tenant.id)).to.deep.equal({ day: 1, messages: 0, month: 1, claims: 1 });
  });

  it('when a sandbox message or a keyword confirmation is metered, then nothing is counted', async () => {
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 0 } });
    const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: fictionalNumber(), body: 'sandbox' });
    expect(res.status).to.equal(202);
    const outcome = await withTenant(harness().db.app, tenant.id, async (t) => takeUsageSlots(t, await getMessage(t, res.body.data.message_id), await getOwnTenant(t), DAY1));
    expect(outcome).to.deep.equal({ ok: true });
    const confirmation = await send(tenant, fictionalNumber());
    await harness().db.owner('messages').where({ tenant_id: tenant.id, id: confirmation }).update({ system_reply: true });
    const reply = await withTenant(harness().db.app, tenant.id, async (t) => takeUsageSlots(t, await getMessage(t, confirmation), await getOwnTenant(t), DAY1));
    expect(reply).to.deep.equal({ ok: true });
    expect(await counters(tenant.id)).to.deep.equal({ day: 0, messages: 0, month: 0, claims: 0 });
  });

  it('when a held message\'s release time has passed and its job was lost, then the outbox relay re-enqueues it and it is routed on the new day', async () => {
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 1 } });
    const past = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    const first = await send(tenant, fictionalNumber());
    const held = await send(tenant, fictionalNumber());
    expect(await routeAt(tenant.id, first, past)).to.equal('deferred: waiting for a line');
    expect(await routeAt(tenant.id, held, past)).to.equal('deferred: daily_limit');
    const until = (await messageRow(tenant.id, held)).release_at as Date;
    expect(until.getTime()).to.be.lessThan(Date.now());

    // The delayed BullMQ job is gone (e.g. Redis restarted); the outbox row is due.
    const queue = harness().queues.get('sending');
    await queue.remove(jobId('route-message', held));
    expect(await queue.getJobState(jobId('route-message', held))).to.equal('unknown');
    await relayOutbox(workerDeps());
    expect(['waiting', 'prioritized']).to.include(await queue.getJobState(jobId('route-message', held)));

    expect(await routeAt(tenant.id, held, new Date(until.getTime() + 1000))).to.equal('deferred: waiting for a line');
    expect((await messageRow(tenant.id, held)).counted_new_contact).to.equal(true);
  });

  it('when a check defers a message, then the routing job is delayed until then and routing runs again at that time', async function () {
    this.timeout(20000);
    const { tenant } = await tenantWithOfflineLine();
    const id = await send(tenant, fictionalNumber());
    const prefix = uniqueName('cmp_defer');
    const queues = createQueues(harness().redis, prefix);
    const deps = { ...workerDeps(), queues };
    const calls: number[] = [];
    let until = 0;
    const deferOnce: ComplianceCheck = {
      name: 'defer-once',
      async check() {
        calls.push(Date.now());
        if (calls.length > 1) return { action: 'allow' };
        until = Date.now() + 1500;
        return { action: 'defer', until: new Date(until), reason: 'daily_limit' };
      },
    };
    const worker = createPoolWorker({ queue: 'sending', handlers: createSendingHandlers(deps, { checks: [deferOnce] }), connection: harness().workerRedis,
      prefix,
      concurrency: 1,
      log: logger,
      lockDurationMs: deps.config.workers.lockDurationMs,
      stalledIntervalMs: deps.config.workers.stalledIntervalMs,
    });
    try {
      await queues.add('sending', 'route-message', { tenantId: tenant.id, messageId: id }, { jobId: jobId('route-message', id) });
      await eventually(async () => calls.length >= 2, 10000, 'routing to run again');
      expect(calls[1]).to.be.at.least(until);
      expect((await messageRow(tenant.id, id)).status).to.equal('queued');
    } finally {
      await closeWorkers([worker], 5000);
      await queues.close();
      await deleteRedisPrefix(harness().redis, prefix);
    }
  });

  it('when the operator raises the limit, then the next routing uses the new cap', async () => {
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 0 } });
    const id = await send(tenant, fictionalNumber());
    expect(await routeAt(tenant.id, id, DAY1)).to.equal('deferred: daily_limit');
    const patched = await api().patch(`/admin/tenants/${tenant.id}`).set(adminHeaders()).send({ limits: { new_contacts_per_day: 5 } });
    expect(patched.status).to.equal(200);
    expect(await routeAt(tenant.id, id, DAY1)).to.equal('deferred: waiting for a line');
  });
});
