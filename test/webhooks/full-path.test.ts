import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { api, createTenant, eventually, harness } from '../helpers/harness';
import { startPlatform, RunningPlatform } from '../helpers/platform';
import { dropLeftoverWebhookJobs, Receiver, registerWebhook, startReceiver } from './helpers';
import { sweepLines } from '../../workers/maintenance';

/**
 * HTTP → sending pool → dispatch pool → device simulator → device reports →
 * webhooks pool → a customer's receiver.
 */
describe('webhooks: full path', () => {
  let platform: RunningPlatform;
  let receiver: Receiver;

  before(async () => {
    await dropLeftoverWebhookJobs();
    // Device reports far enough apart that each status is announced well before the next.
    platform = await startPlatform({ pools: ['sending', 'dispatch', 'webhooks'], simulator: { latencyMs: { sent: 150, delivered: 450, read: null } } });
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
    await platform.stop();
  });

  it('when a message is sent, then message.queued, message.sent and message.delivered arrive signed, in order, with increasing sequence', async function () {
    this.timeout(30000);
    const pool = `p-webhooks-${process.pid}`;
    const tenant = await createTenant({ pool });
    await platform.addLine({ pool });
    const hook = await registerWebhook(tenant, receiver.url, ['message.queued', 'message.sent', 'message.delivered']);

    const sent = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551239876', body: 'full path' });
    expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
    const messageId = sent.body.data.message_id as string;

    const hooks = await receiver.waitFor(3, 20000);
    const verifier = new Webhook(hook.secret);
    const events = hooks.map((got) =>
      verifier.verify(got.raw.toString('utf8'), {
        'webhook-id': String(got.headers['webhook-id']),
        'webhook-timestamp': String(got.headers['webhook-timestamp']),
        'webhook-signature': String(got.headers['webhook-signature']),
      }) as { event: string; sequence: number; message_id: string; tenant_id: string; status: string; to: string },
    );
    expect(events.map((event) => event.event)).to.deep.equal(['message.queued', 'message.sent', 'message.delivered']);
    for (const event of events) expect(event).to.include({ message_id: messageId, tenant_id: tenant.id, to: '+15551239876' });
    const sequences = events.map((event) => event.sequence);
    expect(sequences[0]).to.equal(1);
    expect(sequences[1]).to.be.greaterThan(sequences[0]);
    expect(sequences[2]).to.be.greaterThan(sequences[1]);
    expect(hooks.map((got) => got.headers['x-senderz-event'])).to.deep.equal(['message.queued', 'message.sent', 'message.delivered']);

    // The receiver answers before the worker records the outcome: wait for the log to catch up.
    await eventually(async () => {
      const log = await api().get(`/v1/webhooks/${hook.id}/deliveries`).set(tenant.auth);
      return log.body.data.length === 3 && log.body.data.every((delivery: { status: string }) => delivery.status === 'succeeded');
    }, 5000, 'three succeeded deliveries in the log');
  });
  it("when a tenant's line stops and resumes heartbeating, then line.offline and line.online reach that tenant's receiver, signed, and never another tenant's", async function () {
    this.timeout(30000);
    const a = await createTenant({ pool: `p-alerts-a-${process.pid}` });
    const b = await createTenant({ pool: `p-alerts-b-${process.pid}` });
    const lineA = await platform.addLine({ tenantId: a.id, mode: 'dedicated' });
    const lineB = await platform.addLine({ pool: `p-alerts-b-${process.pid}` });
    const receiverA = await startReceiver();
    const receiverB = await startReceiver();
    try {
      const hookA = await registerWebhook(a, receiverA.url, ['line.offline', 'line.online']);
      await registerWebhook(b, receiverB.url, ['line.offline', 'line.online']);
      const silence = (lineId: string) =>
        harness().db.owner('phone_lines').where({ id: lineId }).update({ last_heartbeat_at: new Date(Date.now() - (harness().config.device.offlineAfterSeconds + 10) * 1000) });

      await silence(lineA.id);
      await sweepLines(platform.deps);
      await receiverA.waitFor(1, 15000);
      platform.simulator.heartbeat(lineA.id);
      const hooks = await receiverA.waitFor(2, 15000);
      const verifier = new Webhook(hookA.secret);
      const events = hooks.map((got) =>
        verifier.verify(got.raw.toString('utf8'), {
          'webhook-id': String(got.headers['webhook-id']),
          'webhook-timestamp': String(got.headers['webhook-timestamp']),
          'webhook-signature': String(got.headers['webhook-signature']),
        }) as Record<string, unknown>,
      );
      expect(events.map((event) => `${event.event}:${event.line_id}:${event.reason}`)).to.deep.equal([`line.offline:${lineA.id}:heartbeat_missed`, `line.online:${lineA.id}:heartbeat`]);
      expect(events.every((event) => event.tenant_id === a.id && event.phone_number === lineA.phoneNumber)).to.equal(true);

      await silence(lineB.id);
      await sweepLines(platform.deps);
      const [forB] = await receiverB.waitFor(1, 15000);
      expect(forB.json).to.include({ event: 'line.offline', line_id: lineB.id, tenant_id: b.id });
      expect(receiverB.received.map((got) => got.json.line_id)).to.not.include(lineA.id);
      expect(receiverA.received.map((got) => got.json.line_id)).to.not.include(lineB.id);
    } finally {
      await receiverA.close();
      await receiverB.close();
    }
  });
});
