import { expect } from 'chai';
import { api, createTenant, eventually, harness } from '../helpers/harness';
import { startPlatform, RunningPlatform, send, tenantWithLine, waitForStatus, messageStatus } from '../helpers/platform';
import { fakeJob, outcomeText, runThroughPool } from '../helpers/jobs';
import { subscribe } from '../helpers/subscriptions';
import { withTenant } from '../../shared/db/tenant';
import { recordOptOut } from '../../shared/data/opt-outs';
import { createSendingHandlers } from '../../workers/sending';
import { createDispatchHandlers } from '../../workers/dispatch';
import { startPool } from '../../workers/pools';
import { closeWorkers } from '../../workers/runtime';

/** Names pools made by hand in this file. */
let poolCounter = 0;

describe('messaging pipeline, full path (HTTP → router → dispatch → simulator → device events)', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: ['sending', 'dispatch'] });
  });
  after(async () => {
    await platform.stop();
  });

  it('when a message is sent to an iMessage number, then it is delivered over iMessage and its history is ordered', async () => {
    const { tenant, line } = await tenantWithLine(platform);
    const id = await send(tenant, { to: '+15551234568', body: 'full path' });
    const message = await waitForStatus(tenant, id, 'delivered');
    expect(message).to.include({ channel: 'imessage', from: line.phoneNumber });
    expect(message.sent_at).to.be.a('string');
    expect(message.delivered_at).to.be.a('string');
    const events = (await api().get(`/v1/messages/${id}/events`).set(tenant.auth)).body.data as { sequence: number; status: string }[];
    expect(events.map((event) => event.status)).to.deep.equal(['queued', 'sending', 'sent', 'delivered']);
    expect(events.map((event) => event.sequence)).to.deep.equal([1, 2, 3, 4]);
    const sends = platform.simulator.sends().filter((s) => s.message_id === id);
    expect(sends).to.have.length(1);
    expect(sends[0]).to.include({ to: '+15551234568', body: 'full path', channel: 'imessage', line_id: line.id, attempts: 1 });
  });

  it('when auto is asked for a number without iMessage, then RCS is used where the line supports it, else SMS', async () => {
    const { tenant } = await tenantWithLine(platform);
    const rcs = await send(tenant, { to: '+15551234561', body: 'rcs please' });
    const sms = await send(tenant, { to: '+15551234569', body: 'sms please' });
    expect((await waitForStatus(tenant, rcs, 'delivered')).channel).to.equal('rcs');
    expect((await waitForStatus(tenant, sms, 'delivered')).channel).to.equal('sms');
    const { tenant: plain } = await tenantWithLine(platform, { capabilities: { imessage: true, sms: true, rcs: false } });
    const noRcsLine = await send(plain, { to: '+15551234563', body: 'no rcs on this line' });
    expect((await waitForStatus(plain, noRcsLine, 'delivered')).channel).to.equal('sms');
  });

  it('when iMessage is forced to a number without it, then the message fails with not_imessage', async () => {
    const { tenant } = await tenantWithLine(platform);
    const id = await send(tenant, { to: '+15551234567', body: 'forced', channel: 'imessage' });
    const message = await waitForStatus(tenant, id, 'failed');
    expect(message.reason).to.equal('not_imessage');
  });

  it('when capabilities are asked, then the device answers once and the second answer comes from the cache', async () => {
    const { tenant } = await tenantWithLine(platform);
    const first = await api().get('/v1/capabilities/%2B15551234568').set(tenant.auth);
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    expect(first.body.data).to.include({ number: '+15551234568', imessage: true, sms: true, cached: false });
    const second = await api().get('/v1/capabilities/%2B15551234568').set(tenant.auth);
    expect(second.body.data).to.include({ imessage: true, cached: true });
    expect(new Date(second.body.data.cache_expires_at).getTime() - Date.now()).to.be.greaterThan(89 * 86400000);
    const many = await api().post('/v1/capabilities').set(tenant.auth).send({ numbers: ['+15551234561', '+15551234569'] });
    expect(many.body.data.map((row: { imessage: boolean }) => row.imessage)).to.deep.equal([false, false]);
    const tooMany = await api().post('/v1/capabilities').set(tenant.auth).send({ numbers: Array.from({ length: 101 }, (_, i) => `+1555123${String(i).padStart(4, '0')}`) });
    expect(tooMany.status).to.equal(400);
    const other = await createTenant({ pool: `pipe-other-${poolCounter}` });
    await tenantWithLine(platform);
    // Another tenant's cache is its own: it does not learn that A asked.
    const otherAnswer = await api().get('/v1/capabilities/%2B15551234568').set(other.auth);
    expect(otherAnswer.status).to.equal(503);
  });

  it('when the device reports failure, then the message fails with the device\'s reason', async () => {
    const { tenant } = await tenantWithLine(platform);
    platform.simulator.configure({ outcomes: { '+15551239990': { fail: 'carrier_error' } } });
    const id = await send(tenant, { to: '+15551239990', body: 'doomed' });
    expect((await waitForStatus(tenant, id, 'failed')).reason).to.equal('carrier_error');
  });

  it('when an inbound message arrives on a dedicated line, then only that tenant sees it', async () => {
    const a = await createTenant({ pool: `pipe-in-${poolCounter}` });
    const b = await createTenant({ pool: `pipe-in-${poolCounter}` });
    const line = await platform.addLine({ tenantId: a.id, mode: 'dedicated' });
    platform.simulator.inbound({ line_id: line.id, from: '+15551110002', body: 'hello there' });
    const inbound = await eventually(async () => {
      const res = await api().get('/v1/messages?direction=inbound').set(a.auth);
      return res.body.data[0];
    }, 5000, 'inbound message');
    expect(inbound).to.include({ from: '+15551110002', to: line.phoneNumber, body: 'hello there', status: 'received', direction: 'inbound' });
    expect((await api().get('/v1/messages?direction=inbound').set(b.auth)).body.data).to.have.length(0);
  });

  it('when an inbound message arrives on a pooled line, then it belongs to the tenant that last messaged that number there', async () => {
    poolCounter += 1;
    const pool = `pipe-shared-${poolCounter}`;
    const a = await createTenant({ pool });
    const b = await createTenant({ pool });
    const line = await platform.addLine({ pool });
    const toA = await send(a, { to: '+15551110004', body: 'from A' });
    await waitForStatus(a, toA, 'delivered');
    const toB = await send(b, { to: '+15551110006', body: 'from B' });
    await waitForStatus(b, toB, 'delivered');
    platform.simulator.inbound({ line_id: line.id, from: '+15551110004', body: 'reply to A' });
    platform.simulator.inbound({ line_id: line.id, from: '+15551110006', body: 'reply to B' });
    const aInbound = await eventually(async () => (await api().get('/v1/messages?direction=inbound').set(a.auth)).body.data[0], 5000, 'A inbound');
    const bInbound = await eventually(async () => (await api().get('/v1/messages?direction=inbound').set(b.auth)).body.data[0], 5000, 'B inbound');
    expect(aInbound.body).to.equal('reply to A');
    expect(bInbound.body).to.equal('reply to B');
    expect((await api().get('/v1/messages?direction=inbound').set(a.auth)).body.data).to.have.length(1);
  });

  it('when the pinned line goes offline before dispatch, then the message waits instead of going out elsewhere', async () => {
    const { tenant, line, pool } = await tenantWithLine(platform);
    await platform.addLine({ pool });
    await harness().db.owner('phone_lines').where({ id: line.id }).update({ status: 'offline' });
    const id = await send(tenant, { to: '+15551234568', body: 'pinned', from_number: line.phoneNumber });
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await messageStatus(tenant.id, id)).to.equal('queued');
    expect(platform.simulator.sends().some((s) => s.message_id === id)).to.equal(false);
  });

  it('when a line is offline, then the router uses another usable line', async () => {
    const { tenant, line, pool } = await tenantWithLine(platform);
    const other = await platform.addLine({ pool });
    await harness().db.owner('phone_lines').where({ id: line.id }).update({ status: 'offline' });
    const id = await send(tenant, { to: '+15551234568', body: 'elsewhere' });
    const message = await waitForStatus(tenant, id, 'delivered');
    expect(message.from).to.equal(other.phoneNumber);
  });
});

describe('messaging jobs, called directly', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: [] });
  });
  after(async () => {
    await platform.stop();
  });
  afterEach(() => platform.simulator.reset());

  it('when route-message runs twice for the same message, then exactly one dispatch is created', async () => {
    const { tenant } = await tenantWithLine(platform);
    const id = await send(tenant, { to: '+15551234568', body: 'twice' });
    const handlers = createSendingHandlers(platform.deps);
    const first = await runThroughPool('sending', handlers, 'route-message', { tenantId: tenant.id, messageId: id });
    const second = await runThroughPool('sending', handlers, 'route-message', { tenantId: tenant.id, messageId: id });
    expect(String(first.result)).to.contain('dispatching');
    expect(String(second.result)).to.contain('skipped: already sending');
    expect(await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id })).to.have.length(1);
  });

  it('when dispatch-message runs twice (a duplicated job), then the bridge is pushed once and the message is sent once', async () => {
    const { tenant } = await tenantWithLine(platform);
    const id = await send(tenant, { to: '+15551234568', body: 'dispatch twice' });
    await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: tenant.id, messageId: id });
    const dispatch = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).first();
    const handlers = createDispatchHandlers(platform.deps);
    const payload = { tenantId: tenant.id, messageId: id, dispatchId: dispatch.id };
    const [a, b] = await Promise.all([runThroughPool('dispatch', handlers, 'dispatch-message', payload), runThroughPool('dispatch', handlers, 'dispatch-message', payload)]);
    const third = await runThroughPool('dispatch', handlers, 'dispatch-message', payload);
    expect([a.result, b.result]).to.include('done: accepted by bridge');
    expect(third.result).to.equal('skipped: already settled');
    const sends = platform.simulator.sends().filter((s) => s.dispatch_id === dispatch.id);
    expect(sends).to.have.length(1);
    expect(sends[0].attempts).to.be.at.most(2);
  });

  it('when the bridge answers 500 on the last attempt and another line exists, then the dispatch moves to it', async () => {
    const { tenant, line, pool } = await tenantWithLine(platform);
    const backup = await platform.addLine({ pool });
    const id = await send(tenant, { to: '+15551234568', body: 'reroute me', from_number: undefined });
    await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: tenant.id, messageId: id });
    const dispatch = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).first();
    platform.simulator.configure({ httpStatusQueue: [500] });
    const handlers = createDispatchHandlers(platform.deps);
    const job = fakeJob('dispatch-message', { tenantId: tenant.id, messageId: id, dispatchId: dispatch.id }, 7);
    const result = await handlers['dispatch-message']({ tenantId: tenant.id, messageId: id, dispatchId: dispatch.id }, job);
    const usedLine = dispatch.line_id === line.id ? backup.id : line.id;
    expect(outcomeText(result)).to.equal(`done: re-routed to ${usedLine} (bridge_500)`);
    const dispatches = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).orderBy('created_at');
    expect(dispatches.map((row) => row.status)).to.deep.equal(['rerouted', 'pending']);
    expect((await harness().db.owner('messages').where({ id }).first()).line_id).to.equal(usedLine);
  });

  it('when the line is at its per-minute cap, then the next dispatch waits without pushing', async () => {
    const { tenant } = await tenantWithLine(platform, { maxPerMinute: 1 });
    const handlers = createDispatchHandlers(platform.deps);
    const results: unknown[] = [];
    for (const to of ['+15551234568', '+15551234570']) {
      const id = await send(tenant, { to, body: 'capped' });
      await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: tenant.id, messageId: id });
      const dispatch = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).first();
      const outcome = await runThroughPool('dispatch', handlers, 'dispatch-message', { tenantId: tenant.id, messageId: id, dispatchId: dispatch.id });
      results.push(outcome.result ?? String(outcome.error));
    }
    const minuteNow = new Date().getSeconds();
    if (minuteNow < 58) expect(results).to.deep.equal(['done: accepted by bridge', 'deferred: line busy']);
  });

  it('when the recipient opted out after the message was accepted, then the router blocks it', async () => {
    const { tenant } = await tenantWithLine(platform);
    await subscribe(tenant.id, ['message.blocked']);
    const id = await send(tenant, { to: '+15551234568', body: 'too late' });
    await withTenant(harness().db.app, tenant.id, (t) => recordOptOut(t, '+15551234568', 'keyword', 'STOP'));
    const outcome = await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: tenant.id, messageId: id });
    expect(outcome.result).to.equal('done: blocked: opted_out');
    const message = await harness().db.owner('messages').where({ id }).first();
    expect(message).to.include({ status: 'blocked', reason: 'opted_out' });
    const webhookJob = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', ref_id: `${id}_2` }).first();
    expect(webhookJob, 'message.blocked is announced').to.not.equal(undefined);
  });

  describe('cross-tenant job payloads', () => {
    it('when tenant B\'s id is paired with tenant A\'s message in any job, then the job fails terminally and nothing changes', async () => {
      const { tenant: a } = await tenantWithLine(platform);
      const b = await createTenant();
      const id = await send(a, { to: '+15551234568', body: 'mine' });
      await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: a.id, messageId: id });
      const dispatch = await harness().db.owner('dispatches').where({ tenant_id: a.id, message_id: id }).first();
      const before = await harness().db.owner('messages').where({ id }).first();
      const sending = createSendingHandlers(platform.deps);
      const dispatching = createDispatchHandlers(platform.deps);
      const outcomes = [
        await runThroughPool('sending', sending, 'route-message', { tenantId: b.id, messageId: id }),
        await runThroughPool('sending', sending, 'process-inbound', { tenantId: b.id, messageId: id }),
        await runThroughPool('sending', sending, 'sandbox-advance', { tenantId: b.id, messageId: id }),
        await runThroughPool('dispatch', dispatching, 'dispatch-message', { tenantId: b.id, messageId: id, dispatchId: dispatch.id }),
      ];
      for (const outcome of outcomes) {
        expect(outcome.terminal, String(outcome.error)).to.equal(true);
        expect(outcome.error?.message).to.match(/skipped/);
      }
      expect(await harness().db.owner('messages').where({ id }).first()).to.deep.equal(before);
      expect(platform.simulator.sends().some((s) => s.message_id === id)).to.equal(false);
    });

    it('when one tenant\'s routing and another tenant\'s forged payload share a statement, then each item runs in its own tenant\'s scope', async () => {
      const { tenant: a, line } = await tenantWithLine(platform);
      const b = await createTenant();
      const mine = await send(a, { to: '+15551234568', body: 'mine' });
      const theirs = await send(a, { to: '+15551234570', body: 'also mine' });
      const sending = createSendingHandlers(platform.deps);
      // Started in the same tick through one handler: the router's batcher sends them as one statement.
      const [own, forged] = await Promise.all([
        runThroughPool('sending', sending, 'route-message', { tenantId: a.id, messageId: mine }),
        runThroughPool('sending', sending, 'route-message', { tenantId: b.id, messageId: theirs }),
      ]);
      expect(own.result).to.equal(`done: dispatching on ${line.id}`);
      expect(forged.terminal, String(forged.error)).to.equal(true);
      expect((await harness().db.owner('messages').where({ id: theirs }).first()).status).to.equal('queued');
      expect(await harness().db.owner('dispatches').where({ message_id: theirs }).select('id')).to.have.length(0);
    });

    it('when a dispatch job pairs a dispatch with another message of the same tenant, then it fails terminally (never retried) and nothing is pushed', async () => {
      const { tenant: a } = await tenantWithLine(platform);
      const first = await send(a, { to: '+15551234568', body: 'first' });
      const second = await send(a, { to: '+15551234570', body: 'second' });
      await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: a.id, messageId: first });
      const dispatch = await harness().db.owner('dispatches').where({ tenant_id: a.id, message_id: first }).first();
      const outcome = await runThroughPool('dispatch', createDispatchHandlers(platform.deps), 'dispatch-message', { tenantId: a.id, messageId: second, dispatchId: dispatch.id });
      expect(outcome.terminal, String(outcome.error)).to.equal(true);
      expect((await harness().db.owner('dispatches').where({ id: dispatch.id }).first()).status).to.equal('pending');
      expect(platform.simulator.sends().some((s) => s.dispatch_id === dispatch.id && s.message_id === second)).to.equal(false);
    });

    it('when a payload is malformed (missing ids, extra fields), then the job fails terminally before any work', async () => {
      const sending = createSendingHandlers(platform.deps);
      expect((await runThroughPool('sending', sending, 'route-message', { messageId: 'X' })).terminal).to.equal(true);
      expect((await runThroughPool('sending', sending, 'route-message', { tenantId: 'A', messageId: 'B', body: 'leak' })).terminal).to.equal(true);
    });
  });
});

describe('priority on a busy line', function () {
  this.timeout(60000);
  let platform: RunningPlatform;
  before(async () => {
    // No pools yet: the marketing backlog is queued before anything routes it.
    platform = await startPlatform({ pools: [] });
  });
  after(async () => {
    await platform.stop();
  });

  it('when an OTP is sent behind a queued marketing backlog on the same line, then it reaches the bridge before the backlog', async () => {
    // A plan whose daily new-contact cap is above the 26 recipients.
    const tenant = await createTenant({ pool: 'priority-busy', plan: 'scale' });
    const line = await platform.addLine({ pool: 'priority-busy' });
    const marketing: string[] = [];
    for (let i = 0; i < 25; i += 1) marketing.push(await send(tenant, { to: `+1555123${String(7000 + i)}`, body: `offer ${i}`, message_type: 'marketing' }));
    const otp = await send(tenant, { to: '+15551239999', body: 'code 123456', message_type: 'otp' });
    // One job at a time in each pool, so the order the bridge sees is the order the queues hand work out.
    const workers = [startPool('sending', platform.deps, harness().workerRedis, 1), startPool('dispatch', platform.deps, harness().workerRedis, 1)];
    try {
      await eventually(async () => (platform.simulator.sends().filter((s) => s.line_id === line.id).length >= 26 ? true : null), 45000, 'every message sent');
    } finally {
      await closeWorkers(workers, 5000);
    }
    const order = platform.simulator.sends().filter((s) => s.line_id === line.id).map((s) => s.message_id);
    expect(new Set(order).size).to.equal(26);
    expect(order.indexOf(otp), `OTP at ${order.indexOf(otp)} of ${order.length}`).to.be.lessThan(2);
    expect(order.filter((id) => marketing.includes(id))).to.have.length(25);
  });
});
