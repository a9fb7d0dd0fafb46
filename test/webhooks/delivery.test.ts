import crypto from 'node:crypto';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { outcomeText } from '../helpers/jobs';
import { workerDeps } from '../helpers/platform';
import { createDeliverer } from '../../workers/webhooks/deliver';
import type { WorkerDeps } from '../../workers/deps';
import { attemptRows, deliveryRow, depsWith, pendingTestDelivery, Receiver, ReceivedHook, registerWebhook, startReceiver, webhookRow } from './helpers';

/** Runs one `deliver` job the way the pool would, minus BullMQ (no token: a retry is only recorded, not re-queued). */
async function runDeliver(deps: WorkerDeps, tenantId: string, deliveryId: string): Promise<string> {
  return outcomeText(await createDeliverer(deps)({ tenantId, deliveryId }));
}

function standardHeaders(hook: ReceivedHook) {
  return {
    'webhook-id': String(hook.headers['webhook-id']),
    'webhook-timestamp': String(hook.headers['webhook-timestamp']),
    'webhook-signature': String(hook.headers['webhook-signature']),
  };
}

describe('webhooks: the deliver job', () => {
  let receiver: Receiver;
  let tenant: TestTenant;
  let hook: { id: string; secret: string };

  beforeEach(async () => {
    receiver = await startReceiver();
    tenant = await createTenant();
    hook = await registerWebhook(tenant, receiver.url, ['message.sent']);
  });
  afterEach(async () => receiver.close());

  it('when the receiver answers 200, then it got the exact signed bytes with every documented header, and the delivery and its attempt are recorded', async () => {
    const { deliveryId, eventId } = await pendingTestDelivery(tenant.id, hook.id);
    const before = Math.floor(Date.now() / 1000);
    expect(await runDeliver(workerDeps(), tenant.id, deliveryId)).to.equal('done: attempt 1: succeeded');

    const [got] = await receiver.waitFor(1);
    expect(got.headers['content-type']).to.equal('application/json');
    expect(got.headers['x-senderz-event']).to.equal('webhook.test');
    expect(got.headers['x-senderz-delivery']).to.equal(deliveryId);
    expect(got.headers).not.to.have.property('x-senderz-sandbox');
    expect(got.headers['webhook-id']).to.equal(eventId);
    expect(Number(got.headers['webhook-timestamp'])).to.be.within(before - 1, before + 5);
    // As a receiver would check it: the stock library, and the documented HMAC over the raw body.
    const verified = new Webhook(hook.secret).verify(got.raw.toString('utf8'), standardHeaders(got)) as Record<string, unknown>;
    expect(verified).to.include({ event: 'webhook.test', event_id: eventId, tenant_id: tenant.id, webhook_id: hook.id });
    expect(got.headers['x-senderz-signature']).to.equal('sha256=' + crypto.createHmac('sha256', hook.secret).update(got.raw).digest('hex'));
    expect(got.raw.toString('utf8').startsWith('{"event":"webhook.test","event_id":')).to.equal(true);

    const delivery = await deliveryRow(tenant.id, deliveryId);
    expect(delivery).to.include({ status: 'succeeded', attempts: 1, last_status_code: 200, last_error: null });
    const attempts = await attemptRows(tenant.id, deliveryId);
    expect(attempts).to.have.length(1);
    expect(attempts[0]).to.include({ attempt: 1, status_code: 200, error: null, next_attempt_at: null });
    expect(attempts[0].latency_ms).to.be.a('number');
    expect((await webhookRow(tenant.id, hook.id)).last_success_at).to.be.an.instanceOf(Date);
    expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, ref_id: deliveryId })).to.have.length(0);

    // The same job again (at-least-once): nothing is sent twice.
    expect(await runDeliver(workerDeps(), tenant.id, deliveryId)).to.equal('skipped: already succeeded');
    expect(receiver.arrivals).to.equal(1);
  });

  it('when the event is sandbox traffic, then the delivery carries X-Senderz-Sandbox: 1', async () => {
    const { deliveryId } = await pendingTestDelivery(tenant.id, hook.id, true);
    await runDeliver(workerDeps(), tenant.id, deliveryId);
    const [got] = await receiver.waitFor(1);
    expect(got.headers['x-senderz-sandbox']).to.equal('1');
  });

  it('when the receiver answers 500, then the attempt is logged with its next time, the delivery waits for it, and the outbox row moves to that time', async () => {
    receiver.respond = () => 500;
    const deps = depsWith({ WEBHOOK_RETRY_SCHEDULE: '60,120' });
    const { deliveryId } = await pendingTestDelivery(tenant.id, hook.id);
    const result = await runDeliver(deps, tenant.id, deliveryId);
    expect(result).to.match(/^deferred: attempt 1 failed; retry at /);
    const delivery = await deliveryRow(tenant.id, deliveryId);
    expect(delivery).to.include({ status: 'pending', attempts: 1, last_status_code: 500, last_error: 'HTTP 500' });
    // 60 s ± 10 % jitter.
    expect(delivery.next_attempt_at.getTime() - Date.now()).to.be.within(50000, 67000);
    const [attempt] = await attemptRows(tenant.id, deliveryId);
    expect(attempt).to.include({ attempt: 1, status_code: 500, error: 'HTTP 500' });
    expect(attempt.next_attempt_at.getTime()).to.equal(delivery.next_attempt_at.getTime());
    const [outbox] = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', job_name: 'deliver', ref_id: deliveryId });
    expect(Math.abs(outbox.available_at.getTime() - delivery.next_attempt_at.getTime())).to.be.lessThan(1000);
    expect((await webhookRow(tenant.id, hook.id)).failing_since).to.be.an.instanceOf(Date);

    // A duplicate run before the time comes sends nothing.
    expect(await runDeliver(deps, tenant.id, deliveryId)).to.equal('deferred: not due yet');
    expect(receiver.arrivals).to.equal(1);
  });

  it('when the schedule is spent, then the delivery is marked failed and leaves the outbox', async () => {
    receiver.respond = () => 503;
    const deps = depsWith({ WEBHOOK_RETRY_SCHEDULE: '60' });
    const { deliveryId } = await pendingTestDelivery(tenant.id, hook.id);
    await runDeliver(deps, tenant.id, deliveryId);
    await harness().db.owner('webhook_deliveries').where({ tenant_id: tenant.id, id: deliveryId }).update({ next_attempt_at: new Date() });
    expect(await runDeliver(deps, tenant.id, deliveryId)).to.equal('done: attempt 2: failed');
    expect(await deliveryRow(tenant.id, deliveryId)).to.include({ status: 'failed', attempts: 2, next_attempt_at: null });
    expect((await attemptRows(tenant.id, deliveryId)).map((row) => row.status_code)).to.deep.equal([503, 503]);
    expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, ref_id: deliveryId })).to.have.length(0);
  });

  it('when the receiver answers a redirect, then it is a failure, not followed', async () => {
    receiver.respond = () => ({ status: 301, headers: { Location: 'http://127.0.0.1:9/elsewhere' } });
    const { deliveryId } = await pendingTestDelivery(tenant.id, hook.id);
    await runDeliver(depsWith({ WEBHOOK_RETRY_SCHEDULE: '60' }), tenant.id, deliveryId);
    expect(await deliveryRow(tenant.id, deliveryId)).to.include({ status: 'pending', last_status_code: 301, last_error: 'redirect (301) not followed' });
  });

  it('when the receiver answers 410 Gone, then the endpoint is disabled at once and its other pending deliveries stop', async () => {
    receiver.respond = () => 410;
    const first = await pendingTestDelivery(tenant.id, hook.id);
    const second = await pendingTestDelivery(tenant.id, hook.id);
    expect(await runDeliver(workerDeps(), tenant.id, first.deliveryId)).to.equal('done: attempt 1: failed');
    const endpoint = await webhookRow(tenant.id, hook.id);
    expect(endpoint.enabled).to.equal(false);
    expect(endpoint.disabled_reason).to.match(/410/);
    expect(await deliveryRow(tenant.id, first.deliveryId)).to.include({ status: 'failed', last_status_code: 410 });
    expect(await deliveryRow(tenant.id, second.deliveryId)).to.include({ status: 'failed', last_error: 'endpoint disabled' });
    expect(await runDeliver(workerDeps(), tenant.id, second.deliveryId)).to.equal('skipped: already failed');
    expect(receiver.arrivals).to.equal(1);
    const read = await api().get(`/v1/webhooks/${hook.id}`).set(tenant.auth);
    expect(read.body.data).to.include({ enabled: false });
  });

  it('when an endpoint has had no success for more than the configured days and fails again, then it is disabled; PATCH enabled:true brings it back', async () => {
    receiver.respond = () => 500;
    const deps = depsWith({ WEBHOOK_RETRY_SCHEDULE: '60', WEBHOOK_DISABLE_AFTER_DAYS: '5' });
    const failingFor = (days: number) =>
      harness().db.owner('webhooks').where({ tenant_id: tenant.id, id: hook.id }).update({ failing_since: new Date(Date.now() - days * 86400000) });

    await failingFor(4);
    const early = await pendingTestDelivery(tenant.id, hook.id);
    await runDeliver(deps, tenant.id, early.deliveryId);
    expect((await webhookRow(tenant.id, hook.id)).enabled, 'four days is not yet five').to.equal(true);

    await failingFor(6);
    const late = await pendingTestDelivery(tenant.id, hook.id);
    expect(await runDeliver(deps, tenant.id, late.deliveryId)).to.equal('done: attempt 1: failed');
    const endpoint = await webhookRow(tenant.id, hook.id);
    expect(endpoint.enabled).to.equal(false);
    expect(endpoint.disabled_reason).to.equal('no successful delivery for 5 days');
    expect(await deliveryRow(tenant.id, early.deliveryId), 'its pending retry stops too').to.include({ status: 'failed' });

    const on = await api().patch(`/v1/webhooks/${hook.id}`).set(tenant.auth).send({ enabled: true });
    expect(on.body.data).to.include({ enabled: true, failing_since: null, disabled_reason: null });
  });

  it('when a delivery succeeds, then the endpoint\'s failure clock is cleared', async () => {
    await harness().db.owner('webhooks').where({ tenant_id: tenant.id, id: hook.id }).update({ failing_since: new Date(Date.now() - 3 * 86400000) });
    const { deliveryId } = await pendingTestDelivery(tenant.id, hook.id);
    await runDeliver(workerDeps(), tenant.id, deliveryId);
    expect((await webhookRow(tenant.id, hook.id)).failing_since).to.equal(null);
  });

  it('when the secret was rotated, then both signatures are sent and verify during the overlap, and only the new one after it', async () => {
    const rotated = await api().post(`/v1/webhooks/${hook.id}/rotate-secret`).set(tenant.auth);
    const newSecret = rotated.body.data.secret as string;
    const during = await pendingTestDelivery(tenant.id, hook.id);
    await runDeliver(workerDeps(), tenant.id, during.deliveryId);
    const [got] = await receiver.waitFor(1);
    expect(String(got.headers['webhook-signature']).split(' ')).to.have.length(2);
    expect(String(got.headers['x-senderz-signature']).split(',')).to.have.length(2);
    for (const secret of [newSecret, hook.secret]) {
      expect(() => new Webhook(secret).verify(got.raw.toString('utf8'), standardHeaders(got)), 'standard signature').not.to.throw();
      const hex = 'sha256=' + crypto.createHmac('sha256', secret).update(got.raw).digest('hex');
      expect(String(got.headers['x-senderz-signature']).split(','), 'senderz signature').to.include(hex);
    }

    await harness().db.owner('webhooks').where({ tenant_id: tenant.id, id: hook.id }).update({ previous_secret_expires_at: new Date(Date.now() - 1000) });
    const after = await pendingTestDelivery(tenant.id, hook.id);
    await runDeliver(workerDeps(), tenant.id, after.deliveryId);
    const [, later] = await receiver.waitFor(2);
    expect(String(later.headers['webhook-signature']).split(' ')).to.have.length(1);
    expect(() => new Webhook(newSecret).verify(later.raw.toString('utf8'), standardHeaders(later))).not.to.throw();
    expect(() => new Webhook(hook.secret).verify(later.raw.toString('utf8'), standardHeaders(later))).to.throw();
  });

  it('when the URL\'s host resolves to loopback and private networks are not allowed, then the attempt is refused at connect time and logged', async () => {
    const local = await registerWebhook(tenant, `http://localhost:${receiver.port}/hooks`);
    const { deliveryId } = await pendingTestDelivery(tenant.id, local.id);
    await runDeliver(depsWith({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: '0', WEBHOOK_RETRY_SCHEDULE: '60' }), tenant.id, deliveryId);
    expect(receiver.arrivals).to.equal(0);
    const [attempt] = await attemptRows(tenant.id, deliveryId);
    expect(attempt.status_code).to.equal(null);
    expect(attempt.error).to.match(/^blocked: .*loopback/);
  });

  it('when the receiver hangs, then the attempt ends at the configured timeout and is retried later', async () => {
    receiver.respond = () => 'hang';
    const { deliveryId } = await pendingTestDelivery(tenant.id, hook.id);
    const started = Date.now();
    await runDeliver(depsWith({ WEBHOOK_TIMEOUT_MS: '300', WEBHOOK_RETRY_SCHEDULE: '60' }), tenant.id, deliveryId);
    expect(Date.now() - started).to.be.lessThan(3000);
    expect(await deliveryRow(tenant.id, deliveryId)).to.include({ status: 'pending', last_status_code: null, last_error: 'timeout after 300 ms' });
  });

  it('when the endpoint was disabled before its delivery ran, then nothing is sent and the delivery is marked failed', async () => {
    const { deliveryId } = await pendingTestDelivery(tenant.id, hook.id);
    await api().patch(`/v1/webhooks/${hook.id}`).set(tenant.auth).send({ enabled: false });
    expect(await runDeliver(workerDeps(), tenant.id, deliveryId)).to.equal('skipped: endpoint disabled');
    expect(receiver.arrivals).to.equal(0);
    expect(await deliveryRow(tenant.id, deliveryId)).to.include({ status: 'failed', last_error: 'endpoint disabled' });
  });
});
