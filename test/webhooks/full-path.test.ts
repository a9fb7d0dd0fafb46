import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { api, createTenant, eventually } from '../helpers/harness';
import { startPlatform, RunningPlatform } from '../helpers/platform';
import { dropLeftoverWebhookJobs, Receiver, registerWebhook, startReceiver } from './helpers';

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
});
