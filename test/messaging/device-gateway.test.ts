import { expect } from 'chai';
import { api, adminHeaders, appStatementsDuring, createTenant, harness, TestTenant } from '../helpers/harness';
import { fakeJob } from '../helpers/jobs';
import { subscribe } from '../helpers/subscriptions';
import { workerDeps } from '../helpers/platform';
import { createSendingHandlers } from '../../workers/sending';
import { sweepLines } from '../../workers/maintenance';
import { newId } from '../../shared/ids';
import { addDedicatedLine, postDeviceEvents, DeviceLine } from '../helpers/device';

type Line = DeviceLine;
const addLine = (tenant: TestTenant) => addDedicatedLine(tenant, '+1555900');
/** Signed as the line's bridge would; the refusal cases below sign with other ids and secrets. */
const signed = (lineId: string, secret: string, body: unknown, options?: { timestamp?: number; tamper?: boolean }) => postDeviceEvents({ id: lineId, secret }, body, options);
import { recordHealthProbe } from '../../shared/data/phone-lines';

/** A bridge written from docs/device-protocol.md alone (its own signing code), talking to the gateway. */
/** A message already handed to a line: the state the device reports on. */
async function dispatchedMessage(tenant: TestTenant, line: Line): Promise<{ messageId: string; dispatchId: string }> {
  const owner = harness().db.owner;
  const messageId = newId();
  const dispatchId = newId();
  await owner('messages').insert({ tenant_id: tenant.id, id: messageId, direction: 'outbound', to_number: '+15551234568', from_number: line.phoneNumber, body: 'x', status: 'sending', channel: 'imessage', line_id: line.id, last_sequence: 2 });
  await owner('message_events').insert([
    { tenant_id: tenant.id, message_id: messageId, sequence: 1, status: 'queued' },
    { tenant_id: tenant.id, message_id: messageId, sequence: 2, status: 'sending' },
  ]);
  await owner('dispatches').insert({ tenant_id: tenant.id, id: dispatchId, message_id: messageId, line_id: line.id, channel: 'imessage', status: 'accepted' });
  return { messageId, dispatchId };
}

const now = () => new Date().toISOString();

async function statusOf(messageId: string): Promise<string> {
  return (await harness().db.owner('messages').where({ id: messageId }).first()).status;
}

describe('device gateway POST /device/v1/events', () => {
  it('when a signed report arrives, then it is applied and answered 202 with the count', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const { messageId, dispatchId } = await dispatchedMessage(a, line);
    const res = await signed(line.id, line.secret, { events: [{ id: 'e1', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }, { id: 'e2', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }] });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body).to.deep.equal({ accepted: 2 });
    expect(await statusOf(messageId)).to.equal('delivered');
    const history = await harness().db.owner('message_events').where({ message_id: messageId }).orderBy('sequence');
    expect(history.map((row) => [row.sequence, row.status])).to.deep.equal([[1, 'queued'], [2, 'sending'], [3, 'sent'], [4, 'delivered']]);
  });

  const refusals: [string, (line: Line, body: object) => ReturnType<typeof signed>][] = [
    ['a bad signature', (line, body) => signed(line.id, line.secret, body, { tamper: true })],
    ['another line\'s secret', (line, body) => signed(line.id, 'f'.repeat(64), body)],
    ['a stale timestamp (301 s old)', (line, body) => signed(line.id, line.secret, body, { timestamp: Math.floor(Date.now() / 1000) - 301 })],
    // 302, not 301: the platform compares whole seconds, and a request that crosses a second boundary on its way would see 300.
    ['a future timestamp (302 s ahead)', (line, body) => signed(line.id, line.secret, body, { timestamp: Math.floor(Date.now() / 1000) + 302 })],
    ['an unknown line', (line, body) => signed(newId(), line.secret, body)],
    ['no signature headers', (line, body) => api().post('/device/v1/events').set('X-Senderz-Line', line.id).send(body)],
  ];
  for (const [what, call] of refusals) {
    it(`when a post has ${what}, then 401 and nothing is applied`, async () => {
      const a = await createTenant();
      const line = await addLine(a);
      const { messageId, dispatchId } = await dispatchedMessage(a, line);
      const res = await call(line, { events: [{ id: 'x1', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }] });
      expect(res.status).to.equal(401);
      expect(await statusOf(messageId)).to.equal('sending');
    });
  }

  it('when one event of a batch is malformed, then 400 names it and none of the batch is applied', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const { messageId, dispatchId } = await dispatchedMessage(a, line);
    const res = await signed(line.id, line.secret, { events: [{ id: 'ok', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }, { id: 'bad', type: 'delivered', occurred_at: now() }] });
    expect(res.status).to.equal(400);
    expect(JSON.stringify(res.body.details)).to.contain('events.1');
    expect(await statusOf(messageId)).to.equal('sending');
    expect((await signed(line.id, line.secret, '{not json')).status).to.equal(400);
    expect((await signed(line.id, line.secret, { events: [{ id: 'z', type: 'teleport', occurred_at: now() }] })).status).to.equal(400);
  });

  it('when the same event id is sent again, then it is applied once (the bridge may resend freely)', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const { messageId, dispatchId } = await dispatchedMessage(a, line);
    const batch = { events: [{ id: 'dup', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }] };
    expect((await signed(line.id, line.secret, batch)).status).to.equal(202);
    expect((await signed(line.id, line.secret, batch)).status).to.equal(202);
    const history = await harness().db.owner('message_events').where({ message_id: messageId });
    expect(history.filter((row) => row.status === 'sent')).to.have.length(1);
  });

  it('when reports arrive late or repeated, then status never moves backwards', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const { messageId, dispatchId } = await dispatchedMessage(a, line);
    await signed(line.id, line.secret, { events: [{ id: 'r', type: 'read', occurred_at: now(), dispatch_id: dispatchId }] });
    await signed(line.id, line.secret, { events: [{ id: 'd', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }, { id: 's', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }, { id: 'f', type: 'failed', reason: 'carrier_error', occurred_at: now(), dispatch_id: dispatchId }] });
    const message = await harness().db.owner('messages').where({ id: messageId }).first();
    expect(message.status).to.equal('read');
    expect(message.read_at).to.be.instanceOf(Date);
    expect(message.delivered_at, 'read implies delivered').to.be.instanceOf(Date);
    const statuses = (await harness().db.owner('message_events').where({ message_id: messageId }).orderBy('sequence')).map((row) => row.status);
    expect(statuses).to.deep.equal(['queued', 'sending', 'read']);
  });

  it('when a bridge reports on another line\'s dispatch, then it is ignored (even across tenants)', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const lineA = await addLine(a);
    const lineB = await addLine(b);
    const { messageId, dispatchId } = await dispatchedMessage(a, lineA);
    const res = await postDeviceEvents(lineB, { events: [{ id: 'spoof', type: 'failed', reason: 'carrier_error', occurred_at: now(), dispatch_id: dispatchId }] });
    expect(res.status).to.equal(202);
    expect(await statusOf(messageId)).to.equal('sending');
  });

  it('when a heartbeat arrives, then the line is online; silent past the window, the sweep marks it offline', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    expect((await harness().db.owner('phone_lines').where({ id: line.id }).first()).status).to.equal('offline');
    await signed(line.id, line.secret, { events: [{ id: 'hb1', type: 'heartbeat', occurred_at: now(), battery: 80, signal: 3 }] });
    let row = await harness().db.owner('phone_lines').where({ id: line.id }).first();
    expect(row.status).to.equal('online');
    expect(row.health).to.deep.equal({ battery: 80, signal: 3 });
    await sweepLines(workerDeps());
    expect((await harness().db.owner('phone_lines').where({ id: line.id }).first()).status).to.equal('online');
    await harness().db.owner('phone_lines').where({ id: line.id }).update({ last_heartbeat_at: new Date(Date.now() - 91000) });
    expect(await sweepLines(workerDeps())).to.include(line.id);
    row = await harness().db.owner('phone_lines').where({ id: line.id }).first();
    expect(row.status).to.equal('offline');
  });

  it('when sends on the line are in flight, then a heartbeat and a health probe are applied without waiting for them, and sends do not queue behind them', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    // What every send holds until it commits: the key-share lock of a foreign key to the line.
    const inFlight = await harness().db.owner.transaction();
    try {
      await inFlight.raw('SELECT 1 FROM phone_lines WHERE id = ? FOR KEY SHARE', [line.id]);
      const within = <T>(work: Promise<T>, label: string) =>
        Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${label} waited for the send in flight`)), 3000))]);
      const heartbeat = await within(signed(line.id, line.secret, { events: [{ id: 'hb-busy', type: 'heartbeat', occurred_at: now() }] }), 'the heartbeat');
      expect(heartbeat.status).to.equal(202);
      expect((await harness().db.owner('phone_lines').where({ id: line.id }).first()).status).to.equal('online');
      await within(recordHealthProbe(harness().db.owner, line.id, false, 90), 'the health probe');
      expect((await harness().db.owner('phone_lines').where({ id: line.id }).first()).status).to.equal('offline');
      // Another send's lock is taken at once while a probe of the line is in progress.
      const probe = await harness().db.owner.transaction();
      try {
        await probe.raw('SELECT 1 FROM phone_lines WHERE id = ? FOR NO KEY UPDATE', [line.id]);
        await within(harness().db.owner.transaction((other) => other.raw('SELECT 1 FROM phone_lines WHERE id = ? FOR KEY SHARE', [line.id])), 'another send');
      } finally {
        await probe.rollback();
      }
    } finally {
      await inFlight.rollback();
    }
  });

  it('when a heartbeat is dated in the future, then the line\'s last heartbeat is clamped to now (a fast device clock cannot keep a silent line online)', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const inAnHour = new Date(Date.now() + 3600000).toISOString();
    expect((await signed(line.id, line.secret, { events: [{ id: 'hb-future', type: 'heartbeat', occurred_at: inAnHour }] })).status).to.equal(202);
    const row = await harness().db.owner('phone_lines').where({ id: line.id }).first();
    expect(row.status).to.equal('online');
    expect(row.last_heartbeat_at.getTime()).to.be.at.most(Date.now() + 1000);
    await harness().db.owner('phone_lines').where({ id: line.id }).update({ last_heartbeat_at: new Date(Date.now() - 91000) });
    expect(await sweepLines(workerDeps())).to.include(line.id);
  });

  it('when the operator disabled a line, then its signed events get 403 FORBIDDEN and nothing is applied', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const { messageId, dispatchId } = await dispatchedMessage(a, line);
    expect((await api().patch(`/admin/phone-lines/${line.id}`).set(adminHeaders()).send({ enabled: false })).status).to.equal(200);
    const res = await signed(line.id, line.secret, {
      events: [
        { id: 'off-1', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId },
        { id: 'off-2', type: 'received', occurred_at: now(), from: '+15551119999', to: line.phoneNumber, body: 'hi', channel: 'sms' },
        { id: 'off-3', type: 'heartbeat', occurred_at: now() },
      ],
    });
    expect(res.status).to.equal(403);
    expect(res.body.code).to.equal('FORBIDDEN');
    expect(await statusOf(messageId)).to.equal('sending');
    expect(await harness().db.owner('messages').where({ tenant_id: a.id, direction: 'inbound' }).select('id')).to.have.length(0);
    expect((await harness().db.owner('phone_lines').where({ id: line.id }).first()).status).to.equal('offline');
  });

  it('when a bridge reports on a dispatch that was re-routed to another line, then nothing moves', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const { messageId, dispatchId } = await dispatchedMessage(a, line);
    await harness().db.owner('dispatches').where({ id: dispatchId }).update({ status: 'rerouted' });
    const res = await signed(line.id, line.secret, { events: [{ id: 'late-1', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }, { id: 'late-2', type: 'failed', reason: 'carrier_error', occurred_at: now(), dispatch_id: dispatchId }] });
    expect(res.status).to.equal(202);
    expect(await statusOf(messageId)).to.equal('sending');
    expect((await harness().db.owner('dispatches').where({ id: dispatchId }).first()).status).to.equal('rerouted');
    const statuses = (await harness().db.owner('message_events').where({ message_id: messageId }).orderBy('sequence')).map((row) => row.status);
    expect(statuses).to.deep.equal(['queued', 'sending']);
  });

  it('when an inbound message carries a device time far from ours, then it is dated by its arrival and the device time is kept beside it', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    const deviceTime = new Date(Date.now() - 2 * 86400000);
    const before = Date.now();
    expect((await signed(line.id, line.secret, { events: [{ id: 'in-old', type: 'received', occurred_at: deviceTime.toISOString(), from: '+15551117777', to: line.phoneNumber, body: 'hello', channel: 'sms' }] })).status).to.equal(202);
    const message = await harness().db.owner('messages').where({ tenant_id: a.id, direction: 'inbound', from_number: '+15551117777' }).first();
    expect(message.created_at.getTime()).to.be.within(before - 1000, Date.now() + 1000);
    expect(message.device_occurred_at.toISOString()).to.equal(deviceTime.toISOString());
    const history = await harness().db.owner('message_events').where({ message_id: message.id }).first();
    expect(history.occurred_at.getTime()).to.be.within(before - 1000, Date.now() + 1000);
  });

  it('when an inbound message arrives, then it is stored durably with its processing job before the 202', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    await subscribe(a.id, ['message.received']);
    const res = await signed(line.id, line.secret, { events: [{ id: 'in1', type: 'received', occurred_at: now(), from: '+15551112222', to: line.phoneNumber, body: 'hello', channel: 'imessage' }] });
    expect(res.status).to.equal(202);
    const message = await harness().db.owner('messages').where({ tenant_id: a.id, direction: 'inbound' }).first();
    expect(message).to.include({ from_number: '+15551112222', to_number: line.phoneNumber, status: 'received', body: 'hello' });
    const jobs = await harness().db.owner('outbox').where({ tenant_id: a.id, ref_id: message.id });
    expect(jobs.map((job) => job.job_name)).to.include('process-inbound');
    expect(await harness().db.owner('outbox').where({ tenant_id: a.id, queue: 'webhooks', ref_id: `${message.id}_1` })).to.have.length(1);
  });

  it('when STOP arrives and the inbound job runs twice, then one opt-out and one confirmation exist', async () => {
    const a = await createTenant();
    const line = await addLine(a);
    await signed(line.id, line.secret, { events: [{ id: 'stop1', type: 'received', occurred_at: now(), from: '+15551113333', to: line.phoneNumber, body: ' Stop. ', channel: 'sms' }] });
    const inbound = await harness().db.owner('messages').where({ tenant_id: a.id, direction: 'inbound' }).first();
    const handlers = createSendingHandlers(workerDeps());
    await handlers['process-inbound']({ tenantId: a.id, messageId: inbound.id }, fakeJob('process-inbound', {}));
    await handlers['process-inbound']({ tenantId: a.id, messageId: inbound.id }, fakeJob('process-inbound', {}));
    expect(await harness().db.owner('opt_outs').where({ tenant_id: a.id, phone_number: '+15551113333', active: true })).to.have.length(1);
    const replies = await harness().db.owner('messages').where({ tenant_id: a.id, direction: 'outbound', to_number: '+15551113333' });
    expect(replies).to.have.length(1);
    expect(replies[0]).to.include({ system_reply: true, pinned_from: line.phoneNumber });
    expect(replies[0].body).to.contain('Reply START');
  });

  describe('a line the gateway has already read', () => {
    it('when its bridge posts reports again, then the post is applied in one statement with no line read', async () => {
      const a = await createTenant();
      const line = await addLine(a);
      const { messageId, dispatchId } = await dispatchedMessage(a, line);
      expect((await signed(line.id, line.secret, { events: [{ id: 'k-sent', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }] })).status).to.equal(202);
      const { result: res, statements } = await appStatementsDuring(() => signed(line.id, line.secret, { events: [{ id: 'k-delivered', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }] }));
      expect(res.status).to.equal(202);
      expect(statements).to.have.length(1);
      expect(statements[0]).to.contain('senderz_apply_line_reports');
      expect(await statusOf(messageId)).to.equal('delivered');
    });

    it('when the operator disables it, then the next report gets 403 and nothing moves; enabled again, the report is applied', async () => {
      const a = await createTenant();
      const line = await addLine(a);
      const { messageId, dispatchId } = await dispatchedMessage(a, line);
      expect((await signed(line.id, line.secret, { events: [{ id: 'd-sent', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }] })).status).to.equal(202);
      expect((await api().patch(`/admin/phone-lines/${line.id}`).set(adminHeaders()).send({ enabled: false })).status).to.equal(200);
      const refused = await signed(line.id, line.secret, { events: [{ id: 'd-delivered', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }] });
      expect(refused.status).to.equal(403);
      expect(await statusOf(messageId)).to.equal('sent');
      expect((await api().patch(`/admin/phone-lines/${line.id}`).set(adminHeaders()).send({ enabled: true })).status).to.equal(200);
      expect((await signed(line.id, line.secret, { events: [{ id: 'd-delivered', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }] })).status).to.equal(202);
      expect(await statusOf(messageId)).to.equal('delivered');
    });

    it('when the operator gives it a new secret, then a post signed with the old one gets 401 and nothing moves, and the new one is accepted', async () => {
      const a = await createTenant();
      const line = await addLine(a);
      const { messageId, dispatchId } = await dispatchedMessage(a, line);
      expect((await signed(line.id, line.secret, { events: [{ id: 's-sent', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }] })).status).to.equal(202);
      const secret = 'b'.repeat(64);
      expect((await api().patch(`/admin/phone-lines/${line.id}`).set(adminHeaders()).send({ secret })).status).to.equal(200);
      const report = { events: [{ id: 's-delivered', type: 'delivered', occurred_at: now(), dispatch_id: dispatchId }] };
      expect((await signed(line.id, line.secret, report)).status).to.equal(401);
      expect(await statusOf(messageId)).to.equal('sent');
      expect((await signed(line.id, secret, report)).status).to.equal(202);
      expect(await statusOf(messageId)).to.equal('delivered');
    });

    it('when a malformed post is signed with the secret the line had before a rotation, then 401 (not 400), as for a line never read', async () => {
      const a = await createTenant();
      const line = await addLine(a);
      const { dispatchId } = await dispatchedMessage(a, line);
      expect((await signed(line.id, line.secret, { events: [{ id: 'r-sent', type: 'sent', occurred_at: now(), dispatch_id: dispatchId }] })).status).to.equal(202);
      expect((await api().patch(`/admin/phone-lines/${line.id}`).set(adminHeaders()).send({ secret: 'c'.repeat(64) })).status).to.equal(200);
      expect((await signed(line.id, line.secret, '{not json')).status).to.equal(401);
      expect((await signed(line.id, 'c'.repeat(64), '{not json')).status).to.equal(400);
    });

    it('when the operator moves a dedicated line to another tenant, then the next inbound message is recorded for the new tenant only', async () => {
      const a = await createTenant();
      const b = await createTenant();
      const line = await addLine(a);
      expect((await signed(line.id, line.secret, { events: [{ id: 'm-hb', type: 'heartbeat', occurred_at: now() }] })).status).to.equal(202);
      expect((await api().patch(`/admin/phone-lines/${line.id}`).set(adminHeaders()).send({ tenant_id: b.id })).status).to.equal(200);
      const inbound = { id: 'm-in', type: 'received', occurred_at: now(), from: '+15551114444', to: line.phoneNumber, body: 'hello', channel: 'sms' };
      expect((await signed(line.id, line.secret, { events: [inbound] })).status).to.equal(202);
      expect(await harness().db.owner('messages').where({ tenant_id: a.id, direction: 'inbound' })).to.have.length(0);
      expect(await harness().db.owner('messages').where({ tenant_id: b.id, direction: 'inbound', from_number: '+15551114444' })).to.have.length(1);
    });
  });
});
