import { expect } from 'chai';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startPlatform, RunningPlatform, send, tenantWithLine, waitForStatus } from '../helpers/platform';
import { runThroughPool } from '../helpers/jobs';
import { subscribe } from '../helpers/subscriptions';
import { createSendingHandlers } from '../../workers/sending';
import { createDispatchHandlers } from '../../workers/dispatch';
import { relayOutbox } from '../../workers/maintenance/relay';

/** Names pools made by hand in this file. */
let poolCounter = 0;

async function history(tenant: TestTenant, id: string): Promise<{ status: string; reason: string | null }[]> {
  return (await api().get(`/v1/messages/${id}/events`).set(tenant.auth)).body.data;
}

const dispatchesOf = (messageId: string) => harness().db.owner('dispatches').where({ message_id: messageId }).orderBy('created_at');

describe('SMS fallback after an accepted iMessage fails, full path', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: ['sending', 'dispatch', 'webhooks'] });
  });
  after(async () => {
    await platform.stop();
  });
  afterEach(() => platform.simulator.reset());

  it('when the device accepts an auto iMessage and then reports not_imessage, then it is delivered over SMS from the same line, once, marked was_downgraded', async () => {
    const { tenant, line } = await tenantWithLine(platform);
    await subscribe(tenant.id, ['message.delivered']);
    platform.simulator.configure({ outcomes: { '+15551240002': { fail: 'not_imessage', failOn: 'imessage' } } });
    const id = await send(tenant, { to: '+15551240002', body: 'falls back' });
    const message = await waitForStatus(tenant, id, 'delivered');
    expect(message).to.include({ channel: 'sms', was_downgraded: true, from: line.phoneNumber, reason: null });

    const sends = platform.simulator.sends().filter((s) => s.message_id === id);
    expect(sends.map((s) => s.channel)).to.deep.equal(['imessage', 'sms']);
    expect(sends[1].dispatch_id).to.equal(`${sends[0].dispatch_id}_sms`);
    expect(sends.every((s) => s.attempts === 1 && s.line_id === line.id)).to.equal(true);
    expect((await dispatchesOf(id)).map((d) => [d.channel, d.status])).to.deep.equal([
      ['imessage', 'failed'],
      ['sms', 'delivered'],
    ]);
    expect((await history(tenant, id)).map((event) => `${event.status}:${event.reason ?? ''}`)).to.deep.equal([
      'queued:',
      'sending:',
      'sending:sms_fallback',
      'sent:',
      'delivered:',
    ]);
    const webhook = await eventually(
      async () => harness().db.owner('webhook_events').where({ tenant_id: tenant.id, message_id: id, type: 'message.delivered' }).first(),
      5000,
      'message.delivered event',
    );
    expect(webhook.payload).to.include({ channel: 'sms', was_downgraded: true, status: 'delivered' });
    // The next message to that number goes straight to SMS.
    const next = await send(tenant, { to: '+15551240002', body: 'straight to sms' });
    expect(await waitForStatus(tenant, next, 'delivered')).to.include({ channel: 'sms', was_downgraded: false });
  });

  it('when the device reported the iMessage sent and then undeliverable, then the SMS still goes out and the message ends delivered', async () => {
    const { tenant } = await tenantWithLine(platform);
    platform.simulator.configure({ outcomes: { '+15551240004': { fail: 'undeliverable', failAfterSent: true, failOn: 'imessage' } } });
    const id = await send(tenant, { to: '+15551240004', body: 'sent, then not' });
    const message = await waitForStatus(tenant, id, 'delivered');
    expect(message).to.include({ channel: 'sms', was_downgraded: true });
    expect(platform.simulator.sends().filter((s) => s.message_id === id && s.channel === 'sms')).to.have.length(1);
    expect((await history(tenant, id)).map((event) => event.status)).to.deep.equal(['queued', 'sending', 'sent', 'sent', 'delivered']);
  });

  it('when iMessage was asked for explicitly, then the message fails with not_imessage and nothing goes over SMS', async () => {
    const { tenant } = await tenantWithLine(platform);
    platform.simulator.configure({ outcomes: { '+15551240006': { fail: 'not_imessage', failOn: 'imessage' } } });
    const id = await send(tenant, { to: '+15551240006', body: 'imessage only', channel: 'imessage' });
    expect(await waitForStatus(tenant, id, 'failed')).to.include({ reason: 'not_imessage', channel: 'imessage', was_downgraded: false });
    await platform.simulator.whenIdle();
    expect(platform.simulator.sends().filter((s) => s.message_id === id).map((s) => s.channel)).to.deep.equal(['imessage']);
    expect(await dispatchesOf(id)).to.have.length(1);
  });

  it('when another failure reason is reported for an auto iMessage, then the message fails as before', async () => {
    const { tenant } = await tenantWithLine(platform);
    platform.simulator.configure({ outcomes: { '+15551240008': { fail: 'carrier_error' } } });
    const id = await send(tenant, { to: '+15551240008', body: 'carrier says no' });
    expect(await waitForStatus(tenant, id, 'failed')).to.include({ reason: 'carrier_error', was_downgraded: false });
    expect(await dispatchesOf(id)).to.have.length(1);
  });
});

describe('SMS fallback, jobs called directly (replays, crashes, lines, tenants)', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: [] });
  });
  after(async () => {
    await platform.stop();
  });
  afterEach(() => platform.simulator.reset());

  /** A message routed and pushed as iMessage; the bridge then reports it undeliverable over iMessage. */
  async function acceptedThenUndeliverable(tenant: TestTenant, to: string): Promise<{ id: string; dispatchId: string }> {
    platform.simulator.configure({ outcomes: { [to]: { fail: 'not_imessage', failOn: 'imessage' } } });
    const id = await send(tenant, { to, body: 'try imessage first' });
    await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: tenant.id, messageId: id });
    const dispatch = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).first();
    expect(dispatch.channel).to.equal('imessage');
    const pushed = await runThroughPool('dispatch', createDispatchHandlers(platform.deps), 'dispatch-message', { tenantId: tenant.id, messageId: id, dispatchId: dispatch.id });
    expect(pushed.result).to.equal('done: accepted by bridge');
    // The report reaches the platform; no dispatch worker runs here, so the SMS waits as a pending dispatch.
    await eventually(async () => (await harness().db.owner('dispatches').where({ id: `${dispatch.id}_sms` }).first())?.status === 'pending', 5000, 'SMS dispatch');
    return { id, dispatchId: dispatch.id };
  }

  it('when the report is repeated, replayed, and the SMS job lost and run twice, then exactly one SMS is sent', async () => {
    const { tenant, line } = await tenantWithLine(platform);
    const { id, dispatchId } = await acceptedThenUndeliverable(tenant, '+15551240010');
    const smsId = `${dispatchId}_sms`;

    // The bridge says it twice more, under new event ids and with either reason: nothing new.
    const failed = platform.simulator.sends().find((s) => s.dispatch_id === dispatchId)!;
    expect(failed.reported).to.deep.equal(['failed']);
    platform.simulator.emitEvents(line.id, [{ type: 'failed', dispatch_id: dispatchId, reason: 'not_imessage' }, { type: 'failed', dispatch_id: dispatchId, reason: 'undeliverable' }]);
    await platform.simulator.whenIdle();
    expect(await dispatchesOf(id)).to.have.length(2);
    const afterReplay = await harness().db.owner('messages').where({ id }).first();
    expect(afterReplay).to.include({ status: 'sending', channel: 'sms', was_downgraded: true, last_sequence: 3 });

    // The queue lost the SMS job (a crash or a Redis restart): the relay finds the pending dispatch again.
    await harness().queues.get('dispatch').obliterate({ force: true });
    expect(await relayOutbox(platform.deps, { graceSeconds: 0 })).to.be.greaterThan(0);
    const relayed = await harness().queues.get('dispatch').getJobs(['waiting', 'prioritized', 'delayed']);
    expect(relayed.map((job) => job.data.dispatchId)).to.include(smsId);

    // Two workers run the job at once, then a third late: one push is accepted, the rest change nothing.
    const handlers = createDispatchHandlers(platform.deps);
    const payload = { tenantId: tenant.id, messageId: id, dispatchId: smsId };
    const runs = await Promise.all([runThroughPool('dispatch', handlers, 'dispatch-message', payload), runThroughPool('dispatch', handlers, 'dispatch-message', payload)]);
    const late = await runThroughPool('dispatch', handlers, 'dispatch-message', payload);
    expect(runs.map((run) => run.result)).to.include('done: accepted by bridge');
    expect(late.result).to.equal('skipped: already settled');
    await waitForStatus(tenant, id, 'delivered');
    const smsSends = platform.simulator.sends().filter((s) => s.message_id === id && s.channel === 'sms');
    expect(smsSends).to.have.length(1);
    expect(smsSends[0].dispatch_id).to.equal(smsId);
    await harness().queues.get('dispatch').obliterate({ force: true });
  });

  it('when the line that took the iMessage has no SMS, then the SMS goes out from another line of the tenant', async () => {
    poolCounter += 1;
    const pool = `fallback-${poolCounter}`;
    const tenant = await createTenant({ pool });
    const imessageOnly = await platform.addLine({ pool, capabilities: { imessage: true, sms: false, rcs: false } });
    const { id, dispatchId } = await acceptedThenUndeliverable(tenant, '+15551240012');
    const smsLine = await platform.addLine({ pool, capabilities: { imessage: false, sms: true, rcs: false } });

    const handlers = createDispatchHandlers(platform.deps);
    const moved = await runThroughPool('dispatch', handlers, 'dispatch-message', { tenantId: tenant.id, messageId: id, dispatchId: `${dispatchId}_sms` });
    expect(moved.result).to.equal(`done: re-routed to ${smsLine.id} (sms_unavailable)`);
    const next = (await dispatchesOf(id)).at(-1)!;
    expect(next).to.include({ line_id: smsLine.id, channel: 'sms', status: 'pending' });
    expect((await runThroughPool('dispatch', handlers, 'dispatch-message', { tenantId: tenant.id, messageId: id, dispatchId: next.id })).result).to.equal('done: accepted by bridge');
    const message = await waitForStatus(tenant, id, 'delivered');
    expect(message).to.include({ channel: 'sms', was_downgraded: true, from: smsLine.phoneNumber });
    const sends = platform.simulator.sends().filter((s) => s.message_id === id);
    expect(sends.map((s) => [s.line_id, s.channel])).to.deep.equal([
      [imessageOnly.id, 'imessage'],
      [smsLine.id, 'sms'],
    ]);
  });

  it("when tenant B's id is paired with tenant A's SMS fallback dispatch, or another line's bridge reports A's dispatch, then nothing is pushed or changed", async () => {
    const { tenant: a } = await tenantWithLine(platform);
    const { line: otherLine } = await tenantWithLine(platform);
    const b = await createTenant();
    const { id, dispatchId } = await acceptedThenUndeliverable(a, '+15551240014');
    const before = await harness().db.owner('messages').where({ id }).first();

    const forged = await runThroughPool('dispatch', createDispatchHandlers(platform.deps), 'dispatch-message', { tenantId: b.id, messageId: id, dispatchId: `${dispatchId}_sms` });
    expect(forged.terminal, String(forged.error)).to.equal(true);
    expect((await harness().db.owner('dispatches').where({ id: `${dispatchId}_sms` }).first()).status).to.equal('pending');

    // A second message of A, accepted as iMessage; a bridge of another line claims it failed: ignored.
    platform.simulator.configure({ outcomes: { '+15551240016': { silent: true } } });
    const second = await send(a, { to: '+15551240016', body: 'not yours to report' });
    await runThroughPool('sending', createSendingHandlers(platform.deps), 'route-message', { tenantId: a.id, messageId: second });
    const secondDispatch = await harness().db.owner('dispatches').where({ message_id: second }).first();
    await runThroughPool('dispatch', createDispatchHandlers(platform.deps), 'dispatch-message', { tenantId: a.id, messageId: second, dispatchId: secondDispatch.id });
    platform.simulator.emitEvents(otherLine.id, [{ type: 'failed', dispatch_id: secondDispatch.id, reason: 'not_imessage' }]);
    await platform.simulator.whenIdle();
    expect(await dispatchesOf(second)).to.have.length(1);
    expect(await harness().db.owner('messages').where({ id: second }).first()).to.include({ status: 'sending', channel: 'imessage', was_downgraded: false });

    expect(await harness().db.owner('messages').where({ id }).first()).to.deep.equal(before);
    expect(platform.simulator.sends().filter((s) => s.message_id === id && s.channel === 'sms')).to.have.length(0);
    expect(await harness().db.owner('messages').where({ tenant_id: b.id })).to.have.length(0);
  });
});
