import { expect } from 'chai';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { messageStatus, startPlatform, RunningPlatform, workerDeps } from '../helpers/platform';
import { runThroughPool } from '../helpers/jobs';
import { relayOutbox } from '../../workers/maintenance/relay';
import { createSendingHandlers } from '../../workers/sending';
import { jobId } from '../../shared/queues';

let poolCounter = 0;

const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

async function releaseRow(tenantId: string, messageId: string) {
  return harness().db.owner('outbox').where({ tenant_id: tenantId, queue: 'sending', job_name: 'release-scheduled', ref_id: messageId }).first();
}

async function history(tenant: TestTenant, messageId: string, auth = tenant.auth): Promise<string[]> {
  const res = await api().get(`/v1/messages/${messageId}/events`).set(auth);
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.data.map((event: { status: string }) => event.status);
}

describe('scheduled sends (send_at, DELETE to cancel)', function () {
  this.timeout(60000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: ['sending', 'dispatch'] });
  });
  after(async () => {
    await platform.stop();
  });

  async function tenantWithLine(): Promise<TestTenant> {
    poolCounter += 1;
    const pool = `scheduled-${process.pid}-${poolCounter}`;
    const tenant = await createTenant({ pool });
    await platform.addLine({ pool, maxPerMinute: null });
    return tenant;
  }

  function sentToDevice(messageId: string): boolean {
    return platform.simulator.sends().some((send) => send.message_id === messageId);
  }

  describe('input', () => {
    const invalid: [string, () => string, string][] = [
      ['in the past', () => inMs(-60000), 'must be in the future'],
      ['more than 35 days ahead', () => inMs(36 * 86400000), 'within 35 days'],
      ['not a date-time', () => 'next tuesday', 'date-time'],
      ['a date without a time', () => '2030-01-01', 'date-time'],
    ];
    for (const [what, value, message] of invalid) {
      it(`when send_at is ${what}, then 400 VALIDATION_ERROR naming send_at and nothing is stored`, async () => {
        const tenant = await tenantWithLine();
        const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230001', body: 'later', send_at: value() });
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.code).to.equal('VALIDATION_ERROR');
        const detail = (res.body.details as { path: string; message: string }[]).find((d) => d.path === 'send_at');
        expect(detail, JSON.stringify(res.body)).to.not.equal(undefined);
        expect(detail!.message).to.contain(message);
        expect(await harness().db.owner('messages').where({ tenant_id: tenant.id }).select('id')).to.deep.equal([]);
      });
    }
  });

  it('when send_at is given, then 202 scheduled, the message waits as scheduled, and at send_at it is released and reaches the bridge', async () => {
    const tenant = await tenantWithLine();
    const sendAt = inMs(1500);
    const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230002', body: 'scheduled hello', send_at: sendAt });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data).to.include({ status: 'scheduled', send_at: sendAt });
    const id = res.body.data.message_id as string;

    const before = await api().get(`/v1/messages/${id}`).set(tenant.auth);
    expect(before.body.data).to.include({ status: 'scheduled', send_at: sendAt });
    expect(new Date((await releaseRow(tenant.id, id)).available_at).toISOString()).to.equal(sendAt);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(sentToDevice(id), 'nothing is sent before send_at').to.equal(false);

    await eventually(async () => (await messageStatus(tenant.id, id)) === 'delivered', 15000, 'delivered after send_at');
    const sends = platform.simulator.sends().filter((send) => send.message_id === id);
    expect(sends).to.have.length(1);
    expect(Date.parse(sends[0].received_at)).to.be.at.least(Date.parse(sendAt));
    expect(await history(tenant, id)).to.deep.equal(['scheduled', 'queued', 'sending', 'sent', 'delivered']);
    expect(await releaseRow(tenant.id, id), 'the release left the outbox').to.equal(undefined);
  });

  it('when a scheduled message is cancelled, then it answers cancelled, is never sent, and a second cancel is a 409', async () => {
    const tenant = await tenantWithLine();
    const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230003', body: 'never', send_at: inMs(1500) });
    const id = res.body.data.message_id as string;

    const cancelled = await api().delete(`/v1/messages/${id}`).set(tenant.auth);
    expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
    expect(cancelled.body.data).to.include({ id, status: 'cancelled', reason: 'cancelled' });
    expect(await releaseRow(tenant.id, id), 'the release is dropped from the outbox').to.equal(undefined);

    // Past send_at, and even if the (still delayed) release job runs: nothing moves.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const rerun = await runThroughPool('sending', createSendingHandlers(workerDeps()), 'release-scheduled', { tenantId: tenant.id, messageId: id });
    expect(rerun.result).to.equal('skipped: already cancelled');
    expect(await messageStatus(tenant.id, id)).to.equal('cancelled');
    expect(sentToDevice(id)).to.equal(false);
    expect(await history(tenant, id)).to.deep.equal(['scheduled', 'cancelled']);

    const again = await api().delete(`/v1/messages/${id}`).set(tenant.auth);
    expect(again.status).to.equal(409);
    expect(again.body.code).to.equal('CONFLICT');
  });

  it('when a message was already released (or never scheduled), then DELETE is a 409 and changes nothing', async () => {
    const tenant = await tenantWithLine();
    const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230004', body: 'now' });
    const id = res.body.data.message_id as string;
    await eventually(async () => (await messageStatus(tenant.id, id)) === 'delivered', 15000, 'delivered');
    const refused = await api().delete(`/v1/messages/${id}`).set(tenant.auth);
    expect(refused.status).to.equal(409);
    expect(refused.body.error).to.contain('scheduled');
    expect(await messageStatus(tenant.id, id)).to.equal('delivered');
  });

  it("when tenant A cancels tenant B's scheduled message, then 404 and B's message is still released on time", async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    const res = await api().post('/v1/messages').set(b.auth).send({ to: '+15551230005', body: 'b only', send_at: inMs(1500) });
    const id = res.body.data.message_id as string;
    const foreign = await api().delete(`/v1/messages/${id}`).set(a.auth);
    expect(foreign.status).to.equal(404);
    expect(foreign.body.code).to.equal('NOT_FOUND');
    expect(await messageStatus(b.id, id)).to.equal('scheduled');
    expect(await releaseRow(b.id, id)).to.not.equal(undefined);
    await eventually(async () => (await messageStatus(b.id, id)) === 'delivered', 15000, "B's message delivered");
  });

  it("when a release job names another tenant's message, then it fails terminally and the message and its release stay as they were", async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    const res = await api().post('/v1/messages').set(b.auth).send({ to: '+15551230006', body: 'b only', send_at: inMs(20000) });
    const id = res.body.data.message_id as string;
    const run = await runThroughPool('sending', createSendingHandlers(workerDeps()), 'release-scheduled', { tenantId: a.id, messageId: id }, jobId('release-scheduled', id));
    expect(run.terminal, String(run.error)).to.equal(true);
    expect(await messageStatus(b.id, id)).to.equal('scheduled');
    expect(await releaseRow(b.id, id), "B's release is untouched").to.not.equal(undefined);
    // B's own job, run before its time, waits for send_at and keeps its outbox row.
    const early = await runThroughPool('sending', createSendingHandlers(workerDeps()), 'release-scheduled', { tenantId: b.id, messageId: id });
    expect(String(early.result)).to.equal('deferred: not due yet');
    expect(await messageStatus(b.id, id)).to.equal('scheduled');
    expect(await releaseRow(b.id, id)).to.not.equal(undefined);
    await api().delete(`/v1/messages/${id}`).set(b.auth).expect(200);
  });

  it('when the delayed release job is lost (Redis restart) before send_at, then the relay recreates it from the outbox and the message is sent once', async () => {
    const tenant = await tenantWithLine();
    const sendAt = inMs(1000);
    const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230007', body: 'survives', send_at: sendAt });
    const id = res.body.data.message_id as string;
    const sending = harness().queues.get('sending');
    const releaseJobId = jobId('release-scheduled', id);
    expect(await sending.getJobState(releaseJobId)).to.equal('delayed');
    await sending.remove(releaseJobId);
    expect(await sending.getJobState(releaseJobId)).to.equal('unknown');

    await new Promise((resolve) => setTimeout(resolve, Date.parse(sendAt) - Date.now() + 1000));
    expect(await messageStatus(tenant.id, id), 'without its job the message waits').to.equal('scheduled');
    expect(await relayOutbox(workerDeps(), { graceSeconds: 0 })).to.be.at.least(1);
    await eventually(async () => (await messageStatus(tenant.id, id)) === 'delivered', 15000, 'delivered after the relay');
    expect(platform.simulator.sends().filter((send) => send.message_id === id)).to.have.length(1);
  });

  describe('test keys', () => {
    it('when a test key schedules a send, then it is a sandbox message, released at send_at to synthetic delivery, and a test key can cancel only sandbox messages', async () => {
      const tenant = await tenantWithLine();
      const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'sandbox later', send_at: inMs(1000) });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      expect(res.body.data.status).to.equal('scheduled');
      const id = res.body.data.message_id as string;
      expect(id).to.match(/^sb_/);
      await eventually(async () => (await messageStatus(tenant.id, id)) === 'delivered', 15000, 'sandbox delivered');
      expect(await history(tenant, id, tenant.sandboxAuth)).to.deep.equal(['scheduled', 'queued', 'sent', 'delivered']);
      expect(sentToDevice(id)).to.equal(false);

      const live = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230008', body: 'live later', send_at: inMs(20000) });
      const liveId = live.body.data.message_id as string;
      const byTestKey = await api().delete(`/v1/messages/${liveId}`).set(tenant.sandboxAuth);
      expect(byTestKey.status, 'a test key never sees a live message').to.equal(404);
      expect(await messageStatus(tenant.id, liveId)).to.equal('scheduled');

      const sandbox = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'sandbox never', send_at: inMs(20000) });
      const sandboxId = sandbox.body.data.message_id as string;
      expect((await api().delete(`/v1/messages/${sandboxId}`).set(tenant.auth)).status, 'a live key never sees a sandbox message').to.equal(404);
      const cancelled = await api().delete(`/v1/messages/${sandboxId}`).set(tenant.sandboxAuth);
      expect(cancelled.status).to.equal(200);
      expect(cancelled.body.data.status).to.equal('cancelled');
      await api().delete(`/v1/messages/${liveId}`).set(tenant.auth).expect(200);
    });
  });
});
