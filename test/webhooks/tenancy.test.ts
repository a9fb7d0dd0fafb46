import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { runThroughPool } from '../helpers/jobs';
import { workerDeps } from '../helpers/platform';
import { withTenant } from '../../shared/db/tenant';
import { emitEvent } from '../../shared/events';
import { bullJobId } from '../../shared/outbox';
import { createWebhookHandlers } from '../../workers/webhooks';
import { pendingTestDelivery, Receiver, registerWebhook, startReceiver } from './helpers';

const WEBHOOK_TABLES = ['webhooks', 'webhook_events', 'webhook_deliveries', 'webhook_delivery_attempts', 'outbox'];

/** Every webhook-related row of both tenants, to prove a refused job changed nothing. */
async function snapshot(...tenants: TestTenant[]) {
  const owner = harness().db.owner;
  const out: Record<string, unknown[]> = {};
  for (const table of WEBHOOK_TABLES) {
    out[table] = await owner(table).whereIn('tenant_id', tenants.map((tenant) => tenant.id)).orderByRaw('1, 2');
  }
  return out;
}

describe('webhooks: tenant B\'s ids in tenant A\'s jobs', () => {
  let receiver: Receiver;
  let a: TestTenant;
  let b: TestTenant;

  beforeEach(async () => {
    receiver = await startReceiver();
    a = await createTenant();
    b = await createTenant();
    // Both tenants have endpoints, so a leak would have somewhere to go.
    await registerWebhook(a, receiver.url, ['message.queued', 'opt_out.created']);
    await registerWebhook(b, receiver.url, ['message.queued', 'opt_out.created']);
  });
  afterEach(async () => receiver.close());

  it('when message-event names B\'s message under A, then it fails terminally and nothing changes (B\'s own job stays queued)', async () => {
    const send = await api().post('/v1/messages?dispatch_webhook=true').set(b.sandboxAuth).send({ to: '+15555550001', body: 'b only' });
    const messageId = send.body.data.message_id as string;
    const before = await snapshot(a, b);
    const outcome = await runThroughPool('webhooks', createWebhookHandlers(workerDeps()), 'message-event', { tenantId: a.id, messageId, sequence: 1 });
    expect(outcome.terminal, String(outcome.error)).to.equal(true);
    expect(await snapshot(a, b)).to.deep.equal(before);
    expect(before.outbox.some((row) => (row as { ref_id: string }).ref_id === `${messageId}_1`)).to.equal(true);
  });

  it('when fan-out-event names B\'s event under A, then it fails terminally and no delivery is made', async () => {
    const job = await withTenant(harness().db.app, b.id, (t) => emitEvent(t, 'opt_out.created', { phone_number: '+15551230000' }));
    const { eventId } = job.payload as { eventId: string };
    const before = await snapshot(a, b);
    const outcome = await runThroughPool('webhooks', createWebhookHandlers(workerDeps()), 'fan-out-event', { tenantId: a.id, eventId });
    expect(outcome.terminal, String(outcome.error)).to.equal(true);
    expect(await snapshot(a, b)).to.deep.equal(before);
  });

  it('when deliver names B\'s delivery under A, then it fails terminally, nothing is sent and nothing changes', async () => {
    const hookB = (await api().get('/v1/webhooks').set(b.auth)).body.data[0];
    const { deliveryId } = await pendingTestDelivery(b.id, hookB.id);
    const before = await snapshot(a, b);
    const outcome = await runThroughPool('webhooks', createWebhookHandlers(workerDeps()), 'deliver', { tenantId: a.id, deliveryId });
    expect(outcome.terminal, String(outcome.error)).to.equal(true);
    expect(receiver.arrivals).to.equal(0);
    expect(await snapshot(a, b)).to.deep.equal(before);
  });

  it('when a delivery\'s record is gone but its outbox row is left, then the job ends terminally and the row is dropped (the relay never brings it back), B\'s rows untouched', async () => {
    const hookA = (await api().get('/v1/webhooks').set(a.auth)).body.data[0];
    const hookB = (await api().get('/v1/webhooks').set(b.auth)).body.data[0];
    const { deliveryId, jobs } = await pendingTestDelivery(a.id, hookA.id);
    await pendingTestDelivery(b.id, hookB.id);
    await harness().db.owner('webhook_deliveries').where({ tenant_id: a.id, id: deliveryId }).delete();
    const outboxOf = async (tenant: TestTenant) => harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', job_name: 'deliver' });
    expect((await outboxOf(a)).map((row) => row.ref_id)).to.deep.equal([deliveryId]);
    const before = await outboxOf(b);
    // As a pool runs it: the job id is `deliver__<delivery id>`, the key of its outbox row.
    const outcome = await runThroughPool('webhooks', createWebhookHandlers(workerDeps()), 'deliver', { tenantId: a.id, deliveryId }, bullJobId(jobs[0]));
    expect(outcome.terminal, String(outcome.error)).to.equal(true);
    expect(receiver.arrivals).to.equal(0);
    expect(await outboxOf(a)).to.deep.equal([]);
    expect(await outboxOf(b)).to.deep.equal(before);
  });

  it('when a payload is malformed, then it fails terminally before any work', async () => {
    const outcome = await runThroughPool('webhooks', createWebhookHandlers(workerDeps()), 'deliver', { tenantId: a.id, deliveryId: 'x:y', extra: 1 });
    expect(outcome.terminal).to.equal(true);
  });

  it('when B retries A\'s delivery id under B\'s own webhook, then 404 and A\'s delivery is untouched', async () => {
    const hookA = (await api().get('/v1/webhooks').set(a.auth)).body.data[0];
    const hookB = (await api().get('/v1/webhooks').set(b.auth)).body.data[0];
    const { deliveryId } = await pendingTestDelivery(a.id, hookA.id);
    const before = await snapshot(a, b);
    const res = await api().post(`/v1/webhooks/${hookB.id}/deliveries/${deliveryId}/retry`).set(b.auth);
    expect(res.status).to.equal(404);
    expect(res.body.code).to.equal('NOT_FOUND');
    expect(await snapshot(a, b)).to.deep.equal(before);
    // And A's own delivery under A's other webhook is not reachable either.
    const other = await registerWebhook(a, receiver.url, ['message.sent']);
    expect((await api().post(`/v1/webhooks/${other.id}/deliveries/${deliveryId}/retry`).set(a.auth)).status).to.equal(404);
  });
});
