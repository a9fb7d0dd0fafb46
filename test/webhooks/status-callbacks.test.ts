import crypto from 'node:crypto';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startPlatform, RunningPlatform, workerDeps } from '../helpers/platform';
import { runThroughPool } from '../helpers/jobs';
import { createWebhookHandlers } from '../../workers/webhooks';
import { decryptSecret } from '../../shared/crypto';
import { jobId } from '../../shared/queues';
import { depsWith, dropLeftoverWebhookJobs, ReceivedHook, Receiver, registerWebhook, startReceiver } from './helpers';

let poolCounter = 0;

async function secretOf(tenant: TestTenant): Promise<string> {
  const res = await api().get('/v1/status-callback-secret').set(tenant.auth);
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.data.secret as string;
}

/** Verifies a POST the way a customer would, with a stock Standard Webhooks library and the X-Senderz-Signature scheme. */
function verified(hook: ReceivedHook, secret: string): Record<string, unknown> {
  expect(String(hook.headers['x-senderz-signature']).split(',')).to.include('sha256=' + crypto.createHmac('sha256', secret).update(hook.raw).digest('hex'));
  return new Webhook(secret).verify(hook.raw.toString('utf8'), {
    'webhook-id': String(hook.headers['webhook-id']),
    'webhook-timestamp': String(hook.headers['webhook-timestamp']),
    'webhook-signature': String(hook.headers['webhook-signature']),
  }) as Record<string, unknown>;
}

async function callbackRows(tenantId: string, messageId: string) {
  return harness().db.owner('status_callback_deliveries').where({ tenant_id: tenantId, message_id: messageId }).orderBy('sequence');
}

async function callbackOutbox(tenantId: string, messageId: string, sequence: number) {
  return harness().db.owner('outbox').where({ tenant_id: tenantId, queue: 'webhooks', job_name: 'status-callback', ref_id: `${messageId}_${sequence}` }).first();
}

describe('status callbacks and client references', function () {
  this.timeout(60000);
  let platform: RunningPlatform;
  let receiver: Receiver;

  before(async () => {
    await dropLeftoverWebhookJobs();
    platform = await startPlatform({ pools: [] });
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
    await platform.stop();
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.arrivals = 0;
    receiver.respond = () => 200;
  });

  async function tenantWithLine(): Promise<TestTenant> {
    poolCounter += 1;
    const pool = `callbacks-${process.pid}-${poolCounter}`;
    const tenant = await createTenant({ pool });
    await platform.addLine({ pool, maxPerMinute: null });
    return tenant;
  }

  async function send(tenant: TestTenant, extra: Record<string, unknown>): Promise<string> {
    const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551240001', body: 'order shipped', ...extra });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.data.message_id as string;
  }

  describe('on POST /v1/messages', () => {
    const invalid: [string, Record<string, unknown>, string][] = [
      ['an ftp status_callback', { status_callback: 'ftp://example.com/cb' }, 'status_callback'],
      ['a metadata-address status_callback', { status_callback: 'http://169.254.169.254/latest/meta-data' }, 'status_callback'],
      ['an IPv4-mapped metadata status_callback', { status_callback: 'http://[::ffff:169.254.169.254]/' }, 'status_callback'],
      ['a status_callback with credentials', { status_callback: 'https://u:p@example.com/cb' }, 'status_callback'],
      ['a status_callback that is not a URL', { status_callback: 'not a url' }, 'status_callback'],
      ['an empty client_reference', { client_reference: '' }, 'client_reference'],
      ['a client_reference over 256 characters', { client_reference: 'x'.repeat(257) }, 'client_reference'],
    ];
    for (const [what, extra, path] of invalid) {
      it(`when the body has ${what}, then 400 VALIDATION_ERROR naming ${path} and nothing is stored`, async () => {
        const tenant = await tenantWithLine();
        const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551240001', body: 'x', ...extra });
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.code).to.equal('VALIDATION_ERROR');
        expect(res.body.details.map((detail: { path: string }) => detail.path)).to.include(path);
        expect(await harness().db.owner('messages').where({ tenant_id: tenant.id }).select('id')).to.deep.equal([]);
      });
    }

    it('when a client_reference is given, then the message, its events and the list filter echo it, and another tenant filtering by it sees nothing', async () => {
      const a = await tenantWithLine();
      const b = await tenantWithLine();
      const id = await send(a, { client_reference: 'order-4711', status_callback: `${receiver.url}/a` });
      await send(a, { client_reference: 'order-4712' });

      const one = await api().get(`/v1/messages/${id}`).set(a.auth);
      expect(one.body.data).to.include({ client_reference: 'order-4711', status_callback: `${receiver.url}/a`, send_at: null });
      const events = await api().get(`/v1/messages/${id}/events`).set(a.auth);
      expect(events.body.data).to.have.length(1);
      expect(events.body.data[0]).to.include({ sequence: 1, status: 'queued', client_reference: 'order-4711' });

      const filtered = await api().get('/v1/messages').query({ client_reference: 'order-4711' }).set(a.auth);
      expect(filtered.body.data.map((message: { id: string }) => message.id)).to.deep.equal([id]);
      const foreign = await api().get('/v1/messages').query({ client_reference: 'order-4711' }).set(b.auth);
      expect(foreign.body.data).to.deep.equal([]);
    });
  });

  describe('the status-callback job', () => {
    it('when it runs for a message with a status_callback, then the receiver gets one POST signed with the tenant secret, with the status and client_reference, and a rerun sends nothing', async () => {
      const tenant = await tenantWithLine();
      const id = await send(tenant, { client_reference: 'user-42', status_callback: receiver.url });
      const handlers = createWebhookHandlers(workerDeps());

      // The message-event job hands a message with a callback to the status-callback job.
      expect(await runThroughPool('webhooks', handlers, 'message-event', { tenantId: tenant.id, messageId: id, sequence: 1 })).to.deep.include({ result: 'done: 1 deliveries' });
      expect(await callbackOutbox(tenant.id, id, 1)).to.not.equal(undefined);

      const run = await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 });
      expect(run.result, String(run.error)).to.equal('done: attempt 1: succeeded');
      const [hook] = await receiver.waitFor(1);
      const payload = verified(hook, await secretOf(tenant));
      expect(payload).to.include({ event: 'message.queued', status: 'queued', sequence: 1, message_id: id, tenant_id: tenant.id, client_reference: 'user-42', to: '+15551240001' });
      expect(payload).to.not.have.property('body');
      expect(hook.headers['x-senderz-event']).to.equal('message.queued');
      expect(await callbackOutbox(tenant.id, id, 1), 'the job left the outbox').to.equal(undefined);
      expect(await callbackRows(tenant.id, id)).to.have.length(1).and.to.satisfy((rows: { status: string }[]) => rows[0].status === 'succeeded');

      const rerun = await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 });
      expect(rerun.result).to.equal('skipped: already succeeded');
      expect(receiver.arrivals).to.equal(1);
    });

    it('when the receiver fails, then the attempt is retried on the webhook schedule (outbox row moved), with the same webhook-id, until it succeeds', async () => {
      const tenant = await tenantWithLine();
      const id = await send(tenant, { status_callback: receiver.url });
      const handlers = createWebhookHandlers(depsWith({ WEBHOOK_RETRY_SCHEDULE: '60,120' }));
      await runThroughPool('webhooks', handlers, 'message-event', { tenantId: tenant.id, messageId: id, sequence: 1 });
      receiver.respond = (_hook, index) => (index === 0 ? 500 : 200);

      const first = await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 });
      expect(String(first.result)).to.match(/^deferred: attempt 1 failed; retry at /);
      const [row] = await callbackRows(tenant.id, id);
      expect(row).to.include({ status: 'pending', attempts: 1, last_status_code: 500, last_error: 'HTTP 500' });
      expect(row.next_attempt_at.getTime() - Date.now()).to.be.within(50000, 67000);
      const outbox = await callbackOutbox(tenant.id, id, 1);
      expect(Math.abs(outbox.available_at.getTime() - row.next_attempt_at.getTime())).to.be.lessThan(1000);

      // A duplicate run before the time comes sends nothing.
      expect((await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 })).result).to.match(/^deferred: /);
      expect(receiver.arrivals).to.equal(1);

      await harness().db.owner('status_callback_deliveries').where({ tenant_id: tenant.id, message_id: id }).update({ next_attempt_at: new Date() });
      const second = await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 });
      expect(second.result).to.equal('done: attempt 2: succeeded');
      const hooks = await receiver.waitFor(2);
      expect(hooks[1].headers['webhook-id']).to.equal(hooks[0].headers['webhook-id']);
      expect(await callbackOutbox(tenant.id, id, 1)).to.equal(undefined);
    });

    it('when the message has no status_callback, then the job is skipped and nothing is sent', async () => {
      const tenant = await tenantWithLine();
      const id = await send(tenant, {});
      const run = await runThroughPool('webhooks', createWebhookHandlers(workerDeps()), 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 });
      expect(run.result).to.equal('skipped: no status_callback');
      expect(receiver.arrivals).to.equal(0);
    });

    it("when the job names another tenant's message, then it fails terminally, nothing is sent and the other tenant's rows do not change", async () => {
      const a = await tenantWithLine();
      const b = await tenantWithLine();
      const id = await send(b, { status_callback: receiver.url });
      const handlers = createWebhookHandlers(workerDeps());
      await runThroughPool('webhooks', handlers, 'message-event', { tenantId: b.id, messageId: id, sequence: 1 });
      const before = await callbackOutbox(b.id, id, 1);
      const run = await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: a.id, messageId: id, sequence: 1 }, jobId('status-callback', `${id}_1`));
      expect(run.terminal, String(run.error)).to.equal(true);
      expect(receiver.arrivals).to.equal(0);
      expect(await callbackRows(b.id, id)).to.deep.equal([]);
      expect(await callbackOutbox(b.id, id, 1)).to.deep.equal(before);
      expect(await harness().db.owner('status_callback_secrets').where({ tenant_id: a.id }).first(), 'no secret was made for A').to.equal(undefined);
    });
  });

  describe('GET /v1/messages/:id/callbacks', () => {
    const callbacks = (tenant: TestTenant, id: string, auth = tenant.auth) => api().get(`/v1/messages/${id}/callbacks`).set(auth);

    it('when a callback is due, fails once and then succeeds, then the list shows it pending, retrying with the receiver\'s answer, then succeeded', async () => {
      const tenant = await tenantWithLine();
      const id = await send(tenant, { status_callback: receiver.url });
      const handlers = createWebhookHandlers(depsWith({ WEBHOOK_RETRY_SCHEDULE: '60,120' }));
      await runThroughPool('webhooks', handlers, 'message-event', { tenantId: tenant.id, messageId: id, sequence: 1 });
      const due = await callbacks(tenant, id);
      expect(due.status, JSON.stringify(due.body)).to.equal(200);
      expect(due.body.data).to.deep.equal([{ sequence: 1, message_status: 'queued', status: 'pending', attempts: 0, last_status_code: null, last_error: null, next_attempt_at: null, updated_at: null }]);

      receiver.respond = (_hook, index) => (index === 0 ? 503 : 200);
      await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 });
      const [retrying] = (await callbacks(tenant, id)).body.data;
      expect(retrying).to.include({ sequence: 1, status: 'pending', attempts: 1, last_status_code: 503, last_error: 'HTTP 503' });
      expect(Date.parse(retrying.next_attempt_at) - Date.now()).to.be.within(50000, 67000);

      await harness().db.owner('status_callback_deliveries').where({ tenant_id: tenant.id, message_id: id }).update({ next_attempt_at: new Date() });
      await runThroughPool('webhooks', handlers, 'status-callback', { tenantId: tenant.id, messageId: id, sequence: 1 });
      const [succeeded] = (await callbacks(tenant, id)).body.data;
      expect(succeeded).to.include({ sequence: 1, message_status: 'queued', status: 'succeeded', attempts: 2, last_status_code: 200, last_error: null, next_attempt_at: null });
      expect(Date.parse(succeeded.updated_at)).to.be.within(Date.now() - 10000, Date.now() + 1000);
    });

    it('when an SMS fallback adds a history row repeating the current status, then the list leaves it out (no callback is made for it)', async () => {
      const tenant = await tenantWithLine();
      const id = await send(tenant, { status_callback: receiver.url });
      // The history of an iMessage reported sent, then undeliverable: the fallback row repeats `sent` unannounced.
      await harness().db.owner('message_events').insert([
        { tenant_id: tenant.id, message_id: id, sequence: 2, status: 'sending' },
        { tenant_id: tenant.id, message_id: id, sequence: 3, status: 'sent' },
        { tenant_id: tenant.id, message_id: id, sequence: 4, status: 'sent', reason: 'sms_fallback' },
      ]);
      const res = await callbacks(tenant, id);
      expect(res.status).to.equal(200);
      expect(res.body.data.map((row: { sequence: number; message_status: string }) => [row.sequence, row.message_status])).to.deep.equal([
        [1, 'queued'],
        [3, 'sent'],
      ]);
    });

    it('when the message has no status_callback, then the list is empty', async () => {
      const tenant = await tenantWithLine();
      const id = await send(tenant, {});
      const res = await callbacks(tenant, id);
      expect(res.status).to.equal(200);
      expect(res.body.data).to.deep.equal([]);
    });

    it("when tenant A's key (or B's test key) names tenant B's live message, then 404 as for an unknown id", async () => {
      const a = await tenantWithLine();
      const b = await tenantWithLine();
      const id = await send(b, { status_callback: receiver.url });
      for (const res of [await callbacks(a, id), await callbacks(b, id, b.sandboxAuth), await callbacks(b, '01ARZ3NDEKTSV4RRFFQ69G5FAV')]) {
        expect(res.status).to.equal(404);
        expect(res.body.code).to.equal('NOT_FOUND');
      }
    });
  });

  describe('GET/POST /v1/status-callback-secret', () => {
    it('when there is none yet, then GET is 404; POST makes one (stored encrypted), GET returns it, and a rotation keeps the old one signing during the overlap', async () => {
      const tenant = await createTenant();
      expect((await api().get('/v1/status-callback-secret').set(tenant.auth)).status).to.equal(404);
      const made = await api().post('/v1/status-callback-secret').set(tenant.auth).send();
      expect(made.status, JSON.stringify(made.body)).to.equal(200);
      const secret = made.body.data.secret as string;
      expect(secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(made.body.data.previous_secret_expires_at).to.equal(null);
      const stored = await harness().db.owner('status_callback_secrets').where({ tenant_id: tenant.id }).first();
      expect(stored.secret_encrypted).to.not.contain(secret.slice(6));
      expect(decryptSecret(harness().config.encryptionKey, stored.secret_encrypted)).to.equal(secret);
      expect(await secretOf(tenant)).to.equal(secret);

      const rotated = await api().post('/v1/status-callback-secret').set(tenant.auth).send({});
      expect(rotated.body.data.secret).to.not.equal(secret);
      expect(rotated.body.data.previous_secret_expires_at).to.be.a('string');
      const after = await harness().db.owner('status_callback_secrets').where({ tenant_id: tenant.id }).first();
      expect(decryptSecret(harness().config.encryptionKey, after.previous_secret_encrypted)).to.equal(secret);

      const bad = await api().post('/v1/status-callback-secret').set(tenant.auth).send({ secret: 'short' });
      expect(bad.status).to.equal(400);
      expect(bad.body.details[0].path).to.equal('secret');
    });

    it('when a test key rotates or a read-only key reads, then 403 and the secret is unchanged', async () => {
      const tenant = await createTenant();
      await api().post('/v1/status-callback-secret').set(tenant.auth).send().expect(200);
      const secret = await secretOf(tenant);
      const byTestKey = await api().post('/v1/status-callback-secret').set(tenant.sandboxAuth).send();
      expect(byTestKey.status).to.equal(403);
      expect(byTestKey.body.code).to.equal('FORBIDDEN');
      const reader = await api().post('/v1/api-keys').set(tenant.auth).send({ name: 'reader', permissions: 'read_only' });
      const readOnly = await api().get('/v1/status-callback-secret').set({ Authorization: `Bearer ${reader.body.data.key}` });
      expect(readOnly.status).to.equal(403);
      expect(JSON.stringify(readOnly.body)).to.not.contain(secret.slice(6));
      expect(await secretOf(tenant)).to.equal(secret);
    });

    it("when tenant A reads and rotates its secret, then it never sees or changes tenant B's", async () => {
      const a = await createTenant();
      const b = await createTenant();
      await api().post('/v1/status-callback-secret').set(b.auth).send().expect(200);
      const bSecret = await secretOf(b);
      const bRow = await harness().db.owner('status_callback_secrets').where({ tenant_id: b.id }).first();
      expect((await api().get('/v1/status-callback-secret').set(a.auth)).status, "A has none, whatever B has").to.equal(404);
      const aSecret = (await api().post('/v1/status-callback-secret').set(a.auth).send()).body.data.secret as string;
      await api().post('/v1/status-callback-secret').set(a.auth).send().expect(200);
      expect(aSecret).to.not.equal(bSecret);
      expect(await secretOf(a)).to.not.equal(bSecret);
      expect(await harness().db.owner('status_callback_secrets').where({ tenant_id: b.id }).first()).to.deep.equal(bRow);
    });
  });

  describe('full path', () => {
    let running: RunningPlatform;
    before(async () => {
      await dropLeftoverWebhookJobs();
      running = await startPlatform({ pools: ['sending', 'dispatch', 'webhooks'], simulator: { latencyMs: { sent: 150, delivered: 450, read: null } } });
    });
    after(async () => {
      await running.stop();
    });

    it('when a message with a status_callback is sent, then queued, sent and delivered reach its URL signed, and subscribed webhooks carry the client_reference too', async () => {
      const pool = `callbacks-full-${process.pid}`;
      const tenant = await createTenant({ pool });
      await running.addLine({ pool, maxPerMinute: null });
      await registerWebhook(tenant, `${receiver.url}/webhook`, ['message.delivered']);
      const res = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551240009', body: 'full path', status_callback: `${receiver.url}/callback`, client_reference: 'order-9' });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      const id = res.body.data.message_id as string;

      await eventually(async () => receiver.received.filter((hook) => hook.path === '/hooks/callback').length >= 3 && receiver.received.some((hook) => hook.path === '/hooks/webhook'), 20000, 'three callbacks and one webhook');
      const secret = await secretOf(tenant);
      const callbacks = receiver.received.filter((hook) => hook.path === '/hooks/callback').map((hook) => verified(hook, secret));
      expect(callbacks.map((payload) => payload.status).sort()).to.deep.equal(['delivered', 'queued', 'sent']);
      for (const payload of callbacks) expect(payload).to.include({ message_id: id, client_reference: 'order-9' });
      const webhook = receiver.received.find((hook) => hook.path === '/hooks/webhook')!;
      expect(webhook.json).to.include({ event: 'message.delivered', message_id: id, client_reference: 'order-9' });
    });

    it('when a test key sends with a status_callback, then the synthetic delivery reaches the URL marked X-Senderz-Sandbox: 1, without ?dispatch_webhook', async () => {
      const tenant = await createTenant();
      const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'sandbox', status_callback: `${receiver.url}/sandbox`, client_reference: 'sb-1' });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      await eventually(async () => receiver.received.filter((hook) => hook.path === '/hooks/sandbox').length >= 3, 15000, 'three sandbox callbacks');
      const secret = await secretOf(tenant);
      const hooks = receiver.received.filter((hook) => hook.path === '/hooks/sandbox');
      expect(hooks.map((hook) => verified(hook, secret).status).sort()).to.deep.equal(['delivered', 'queued', 'sent']);
      for (const hook of hooks) expect(hook.headers['x-senderz-sandbox']).to.equal('1');
    });

    it('when a scheduled message with a status_callback is cancelled, then its URL hears scheduled and then cancelled', async () => {
      const tenant = await createTenant({ pool: `callbacks-full-${process.pid}` });
      const res = await api()
        .post('/v1/messages')
        .set(tenant.auth)
        .send({ to: '+15551240010', body: 'later', status_callback: `${receiver.url}/scheduled`, send_at: new Date(Date.now() + 60000).toISOString() });
      const id = res.body.data.message_id as string;
      await api().delete(`/v1/messages/${id}`).set(tenant.auth).expect(200);
      await eventually(async () => receiver.received.filter((hook) => hook.path === '/hooks/scheduled').length >= 2, 15000, 'two callbacks');
      const statuses = receiver.received.filter((hook) => hook.path === '/hooks/scheduled').map((hook) => hook.json.status);
      expect(statuses.sort()).to.deep.equal(['cancelled', 'scheduled']);
    });
  });
});
