import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { fakeJob, outcomeText } from '../helpers/jobs';
import { workerDeps } from '../helpers/platform';
import { withTenant } from '../../shared/db/tenant';
import { emitEvent } from '../../shared/events';
import { newId } from '../../shared/ids';
import { createWebhookHandlers } from '../../workers/webhooks';
import { registerWebhook } from './helpers';

const handlers = () => createWebhookHandlers(workerDeps());

async function runMessageEvent(tenantId: string, messageId: string, sequence: number): Promise<string> {
  const payload = { tenantId, messageId, sequence };
  return outcomeText(await handlers()['message-event'](payload, fakeJob('message-event', payload)));
}

/** A sandbox send that asked for webhooks: no device needed, and its message.queued job is in the outbox. */
async function sandboxSend(tenant: TestTenant, dispatchWebhook = true): Promise<string> {
  const res = await api().post(`/v1/messages${dispatchWebhook ? '?dispatch_webhook=true' : ''}`).set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'secret body' });
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.data.message_id as string;
}

const owner = () => harness().db.owner;

describe('webhooks: fan-out jobs', () => {
  it('when a message event has subscribers, then one event row with the documented payload and one delivery per endpoint are made, once even if the job runs twice', async () => {
    const a = await createTenant();
    const one = await registerWebhook(a, 'http://127.0.0.1:9/one', ['message.queued']);
    const two = await registerWebhook(a, 'http://127.0.0.1:9/two', ['message.queued', 'message.sent']);
    await registerWebhook(a, 'http://127.0.0.1:9/other', ['message.delivered']);
    const messageId = await sandboxSend(a);
    expect(await owner()('outbox').where({ tenant_id: a.id, queue: 'webhooks', job_name: 'message-event', ref_id: `${messageId}_1` })).to.have.length(1);

    expect(await runMessageEvent(a.id, messageId, 1)).to.equal('done: 2 deliveries');
    expect(await runMessageEvent(a.id, messageId, 1), 'a second run adds nothing').to.equal('done: 0 deliveries');

    const events = await owner()('webhook_events').where({ tenant_id: a.id, message_id: messageId });
    expect(events).to.have.length(1);
    const [event] = events;
    expect(event).to.include({ type: 'message.queued', sequence: 1, sandbox: true });
    expect(event.payload).to.include({ event: 'message.queued', event_id: event.id, sequence: 1, message_id: messageId, tenant_id: a.id, to: '+15555550001', status: 'queued' });
    expect(event.payload).to.have.property('from');
    expect(event.payload).to.have.property('channel');
    expect(event.payload.queued_at).to.match(/^\d{4}-\d\d-\d\dT/);
    expect(event.payload, 'outbound bodies are not sent').not.to.have.property('body');

    const deliveries = await owner()('webhook_deliveries').where({ tenant_id: a.id, event_id: event.id });
    expect(deliveries.map((row) => row.webhook_id).sort()).to.deep.equal([one.id, two.id].sort());
    for (const delivery of deliveries) {
      expect(await owner()('outbox').where({ tenant_id: a.id, queue: 'webhooks', job_name: 'deliver', ref_id: delivery.id })).to.have.length(1);
    }
    expect(await owner()('outbox').where({ tenant_id: a.id, queue: 'webhooks', job_name: 'message-event' }), 'the fan-out job is consumed').to.have.length(0);
  });

  it('when nobody subscribes to the status, then nothing is recorded and the job is consumed', async () => {
    const a = await createTenant();
    await registerWebhook(a, 'http://127.0.0.1:9/x', ['message.delivered']);
    const messageId = await sandboxSend(a);
    expect(await runMessageEvent(a.id, messageId, 1)).to.equal('done: 0 deliveries');
    expect(await owner()('webhook_events').where({ tenant_id: a.id })).to.have.length(0);
    expect(await owner()('outbox').where({ tenant_id: a.id, queue: 'webhooks' })).to.have.length(0);
  });

  it('when a sandbox message did not ask for webhooks, then no job is made and a stray one fans out nothing', async () => {
    const a = await createTenant();
    await registerWebhook(a, 'http://127.0.0.1:9/x', ['message.queued']);
    const messageId = await sandboxSend(a, false);
    expect(await owner()('outbox').where({ tenant_id: a.id, queue: 'webhooks' })).to.have.length(0);
    expect(await runMessageEvent(a.id, messageId, 1)).to.equal('done: 0 deliveries');
    expect(await owner()('webhook_events').where({ tenant_id: a.id })).to.have.length(0);
  });

  it('when the endpoint is disabled, then it gets no delivery', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, 'http://127.0.0.1:9/x', ['message.queued']);
    await api().patch(`/v1/webhooks/${hook.id}`).set(a.auth).send({ enabled: false });
    const messageId = await sandboxSend(a);
    expect(await runMessageEvent(a.id, messageId, 1)).to.equal('done: 0 deliveries');
  });

  it('when an inbound message arrives and the endpoint subscribed with the message.inbound alias, then message.received carries the body, from, to and reason-free payload', async () => {
    const a = await createTenant();
    await registerWebhook(a, 'http://127.0.0.1:9/in', ['message.inbound']);
    const messageId = newId();
    const at = new Date('2026-11-28T10:00:00.000Z');
    await owner()('messages').insert({ tenant_id: a.id, id: messageId, direction: 'inbound', from_number: '+15551112222', to_number: '+15553334444', body: 'Hello there', requested_channel: 'imessage', channel: 'imessage', status: 'received', last_sequence: 1 });
    await owner()('message_events').insert({ tenant_id: a.id, message_id: messageId, sequence: 1, status: 'received', occurred_at: at });
    expect(await runMessageEvent(a.id, messageId, 1)).to.equal('done: 1 deliveries');
    const [event] = await owner()('webhook_events').where({ tenant_id: a.id, message_id: messageId });
    expect(event.payload).to.deep.equal({
      event: 'message.received',
      event_id: event.id,
      sequence: 1,
      message_id: messageId,
      tenant_id: a.id,
      from: '+15551112222',
      to: '+15553334444',
      channel: 'imessage',
      status: 'received',
      body: 'Hello there',
      received_at: at.toISOString(),
    });
  });

  it('when a history row has a reason (message.failed), then the payload carries it', async () => {
    const a = await createTenant();
    await registerWebhook(a, 'http://127.0.0.1:9/f', ['message.failed']);
    const messageId = await sandboxSend(a);
    await owner()('messages').where({ tenant_id: a.id, id: messageId }).update({ status: 'failed', reason: 'carrier_error', last_sequence: 2 });
    await owner()('message_events').insert({ tenant_id: a.id, message_id: messageId, sequence: 2, status: 'failed', reason: 'carrier_error' });
    expect(await runMessageEvent(a.id, messageId, 2)).to.equal('done: 1 deliveries');
    const [event] = await owner()('webhook_events').where({ tenant_id: a.id, message_id: messageId, sequence: 2 });
    expect(event.payload).to.include({ event: 'message.failed', status: 'failed', reason: 'carrier_error', sequence: 2 });
    expect(event.payload.failed_at).to.be.a('string');
  });

  it('when a stored event (opt_out.created) is fanned out, then only its subscribers get a delivery, once', async () => {
    const a = await createTenant();
    const optOuts = await registerWebhook(a, 'http://127.0.0.1:9/o', ['opt_out.created']);
    await registerWebhook(a, 'http://127.0.0.1:9/m', ['message.sent']);
    const job = await withTenant(harness().db.app, a.id, (t) => emitEvent(t, 'opt_out.created', { phone_number: '+15551230000' }));
    const payload = job.payload as { tenantId: string; eventId: string };
    const run = async () => outcomeText(await handlers()['fan-out-event'](payload, fakeJob('fan-out-event', payload)));
    expect(await run()).to.equal('done: 1 deliveries');
    expect(await run()).to.equal('done: 0 deliveries');
    const deliveries = await owner()('webhook_deliveries').where({ tenant_id: a.id, event_id: payload.eventId });
    expect(deliveries.map((row) => row.webhook_id)).to.deep.equal([optOuts.id]);
  });
});
