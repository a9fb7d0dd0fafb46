import crypto from 'node:crypto';
import { expect } from 'chai';
import { api, createTenant, harness } from '../helpers/harness';
import { decryptSecret } from '../../shared/crypto';
import { registerWebhook, webhookRow } from './helpers';

// Port 9 (discard) on loopback: a stray job for these deliveries fails fast, without real DNS or network.
const URL_A = 'http://127.0.0.1:9/senderz';

describe('webhooks: management API', () => {
  it('when a webhook is created without a secret, then 201 returns a whsec_ secret once, stored encrypted, and reads never show it', async () => {
    const a = await createTenant();
    const res = await api().post('/v1/webhooks').set(a.auth).send({ url: URL_A, events: ['message.sent', 'message.delivered'] });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const { data } = res.body;
    expect(data.secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(data).to.include({ url: URL_A, enabled: true, disabled_reason: null });
    expect(data.events).to.deep.equal(['message.sent', 'message.delivered']);
    expect(data.id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/);

    const stored = await webhookRow(a.id, data.id);
    expect(stored.secret_encrypted).not.to.contain(data.secret.slice(6));
    expect(decryptSecret(harness().config.encryptionKey, stored.secret_encrypted)).to.equal(data.secret);

    const one = await api().get(`/v1/webhooks/${data.id}`).set(a.auth);
    expect(one.status).to.equal(200);
    expect(one.body.data).not.to.have.property('secret');
    expect(JSON.stringify(one.body)).not.to.contain(data.secret.slice(6));
    const list = await api().get('/v1/webhooks').set(a.auth);
    expect(list.body.data.map((hook: { id: string }) => hook.id)).to.deep.equal([data.id]);
    expect(JSON.stringify(list.body)).not.to.contain(data.secret.slice(6));
    expect(list.body.next_cursor).to.equal(null);
  });

  it('when a secret is given, then a valid one is kept and an invalid one is a 400 naming secret', async () => {
    const a = await createTenant();
    const mine = 'whsec_' + crypto.randomBytes(32).toString('base64');
    const ok = await api().post('/v1/webhooks').set(a.auth).send({ url: URL_A, events: ['message.sent'], secret: mine });
    expect(ok.status).to.equal(201);
    expect(ok.body.data.secret).to.equal(mine);
    const bad = await api().post('/v1/webhooks').set(a.auth).send({ url: URL_A, events: ['message.sent'], secret: 'short' });
    expect(bad.status).to.equal(400);
    expect(bad.body.code).to.equal('VALIDATION_ERROR');
    expect(bad.body.details[0].path).to.equal('secret');
  });

  it('when events include message.inbound, then it is stored as message.received and duplicates collapse', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, URL_A, ['message.inbound', 'message.received', 'opt_out.created']);
    expect(hook.events).to.deep.equal(['message.received', 'opt_out.created']);
  });

  const invalid: [string, object, string][] = [
    ['an unknown event', { url: URL_A, events: ['message.exploded'] }, 'events.0'],
    ['no events', { url: URL_A, events: [] }, 'events'],
    ['a wildcard event', { url: URL_A, events: ['*'] }, 'events.0'],
    ['an ftp URL', { url: 'ftp://example.com/x', events: ['message.sent'] }, 'url'],
    ['a metadata-address URL', { url: 'http://169.254.169.254/latest/meta-data', events: ['message.sent'] }, 'url'],
    ['an IPv4-mapped metadata URL', { url: 'http://[::ffff:169.254.169.254]/', events: ['message.sent'] }, 'url'],
    ['a URL with credentials', { url: 'https://u:p@example.com/', events: ['message.sent'] }, 'url'],
    ['a server-owned field', { url: URL_A, events: ['message.sent'], enabled: false }, 'enabled'],
    ['a tenant_id', { url: URL_A, events: ['message.sent'], tenant_id: 'x' }, 'tenant_id'],
  ];
  for (const [what, body, path] of invalid) {
    it(`when the body has ${what}, then 400 VALIDATION_ERROR naming ${path}`, async () => {
      const a = await createTenant();
      const res = await api().post('/v1/webhooks').set(a.auth).send(body);
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(res.body.details.map((detail: { path: string }) => detail.path)).to.include(path);
    });
  }

  it('when PATCHed, then url and events change, enabled:false disables and enabled:true re-enables and clears the failure state', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, URL_A);
    const patched = await api().patch(`/v1/webhooks/${hook.id}`).set(a.auth).send({ url: 'https://other.example.com/h', events: ['message.inbound'] });
    expect(patched.status).to.equal(200);
    expect(patched.body.data).to.include({ url: 'https://other.example.com/h' });
    expect(patched.body.data.events).to.deep.equal(['message.received']);

    const off = await api().patch(`/v1/webhooks/${hook.id}`).set(a.auth).send({ enabled: false });
    expect(off.body.data).to.include({ enabled: false });
    expect(off.body.data.disabled_reason).to.be.a('string');

    // As if the platform had disabled it after days of failures.
    await harness().db.owner('webhooks').where({ tenant_id: a.id, id: hook.id }).update({ failing_since: new Date(Date.now() - 6 * 86400000), disabled_reason: 'no successful delivery for 5 days' });
    const on = await api().patch(`/v1/webhooks/${hook.id}`).set(a.auth).send({ enabled: true });
    expect(on.body.data).to.include({ enabled: true, disabled_reason: null, failing_since: null });

    const empty = await api().patch(`/v1/webhooks/${hook.id}`).set(a.auth).send({});
    expect(empty.status).to.equal(400);
    const secret = await api().patch(`/v1/webhooks/${hook.id}`).set(a.auth).send({ secret: 'whsec_x' });
    expect(secret.status, 'the secret changes only by rotation').to.equal(400);
  });

  it('when DELETEd, then 200 and the webhook is gone (404 after)', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, URL_A);
    const res = await api().delete(`/v1/webhooks/${hook.id}`).set(a.auth);
    expect(res.status).to.equal(200);
    expect(res.body.data.id).to.equal(hook.id);
    expect((await api().get(`/v1/webhooks/${hook.id}`).set(a.auth)).status).to.equal(404);
    expect(await webhookRow(a.id, hook.id)).to.equal(undefined);
  });

  it('when the secret is rotated, then the new secret is returned once and the old one stays valid for the overlap window', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, URL_A);
    const res = await api().post(`/v1/webhooks/${hook.id}/rotate-secret`).set(a.auth);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.data.secret).to.match(/^whsec_/);
    expect(res.body.data.secret).not.to.equal(hook.secret);
    const expires = new Date(res.body.data.previous_secret_expires_at).getTime();
    const overlap = harness().config.webhooks.rotationOverlapHours * 3600000;
    expect(expires).to.be.within(Date.now() + overlap - 60000, Date.now() + overlap + 60000);
    const stored = await webhookRow(a.id, hook.id);
    expect(decryptSecret(harness().config.encryptionKey, stored.previous_secret_encrypted)).to.equal(hook.secret);
    expect(decryptSecret(harness().config.encryptionKey, stored.secret_encrypted)).to.equal(res.body.data.secret);
    const read = await api().get(`/v1/webhooks/${hook.id}`).set(a.auth);
    expect(JSON.stringify(read.body)).not.to.contain(res.body.data.secret.slice(6));
  });

  it('when there are more webhooks than the limit, then the list pages with next_cursor', async () => {
    const a = await createTenant();
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await registerWebhook(a, `${URL_A}/${i}`)).id);
    const first = await api().get('/v1/webhooks?limit=2').set(a.auth);
    expect(first.body.data).to.have.length(2);
    expect(first.body.next_cursor).to.be.a('string');
    const second = await api().get(`/v1/webhooks?limit=2&cursor=${first.body.next_cursor}`).set(a.auth);
    expect(second.body.data).to.have.length(1);
    expect(second.body.next_cursor).to.equal(null);
    expect([...first.body.data, ...second.body.data].map((hook: { id: string }) => hook.id)).to.deep.equal([...ids].reverse());
  });

  it('when POST /test is called, then 202 with a pending delivery that the delivery log lists', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, URL_A);
    const res = await api().post(`/v1/webhooks/${hook.id}/test`).set(a.auth);
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data).to.include({ status: 'pending' });
    const log = await api().get(`/v1/webhooks/${hook.id}/deliveries`).set(a.auth);
    expect(log.status).to.equal(200);
    expect(log.body.data).to.have.length(1);
    expect(log.body.data[0]).to.include({ id: res.body.data.delivery_id, event_id: res.body.data.event_id, event: 'webhook.test', status: 'pending', attempt_count: 0 });
    expect(log.body.data[0].attempts).to.deep.equal([]);
    const outbox = await harness().db.owner('outbox').where({ tenant_id: a.id, queue: 'webhooks', job_name: 'deliver', ref_id: res.body.data.delivery_id });
    expect(outbox, 'the delivery is durable in the outbox').to.have.length(1);
  });

  it('when the delivery log is longer than the limit, then it pages newest first with next_cursor', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, URL_A);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await api().post(`/v1/webhooks/${hook.id}/test`).set(a.auth)).body.data.delivery_id);
    const first = await api().get(`/v1/webhooks/${hook.id}/deliveries?limit=2`).set(a.auth);
    expect(first.body.data.map((d: { id: string }) => d.id)).to.deep.equal([ids[2], ids[1]]);
    const second = await api().get(`/v1/webhooks/${hook.id}/deliveries?limit=2&cursor=${first.body.next_cursor}`).set(a.auth);
    expect(second.body.data.map((d: { id: string }) => d.id)).to.deep.equal([ids[0]]);
    expect(second.body.next_cursor).to.equal(null);
  });

  it('when the webhook is disabled, then /test and retry answer 409 and the delivery log filters by status', async () => {
    const a = await createTenant();
    const hook = await registerWebhook(a, URL_A);
    const test = await api().post(`/v1/webhooks/${hook.id}/test`).set(a.auth);
    await api().patch(`/v1/webhooks/${hook.id}`).set(a.auth).send({ enabled: false });
    expect((await api().post(`/v1/webhooks/${hook.id}/test`).set(a.auth)).status).to.equal(409);
    const retry = await api().post(`/v1/webhooks/${hook.id}/deliveries/${test.body.data.delivery_id}/retry`).set(a.auth);
    expect(retry.status).to.equal(409);
    expect(retry.body.code).to.equal('WEBHOOK_DISABLED');
    expect((await api().get(`/v1/webhooks/${hook.id}/deliveries?status=pending`).set(a.auth)).body.data).to.have.length(1);
    expect((await api().get(`/v1/webhooks/${hook.id}/deliveries?status=failed`).set(a.auth)).body.data).to.have.length(0);
    expect((await api().get(`/v1/webhooks/${hook.id}/deliveries?status=bogus`).set(a.auth)).status).to.equal(400);
  });

  it('when a read-only key tries to create a webhook, then 403', async () => {
    const a = await createTenant();
    const key = await api().post('/v1/api-keys').set(a.auth).send({ name: 'ro', permissions: 'read_only' });
    const res = await api().post('/v1/webhooks').set({ Authorization: `Bearer ${key.body.data.key}` }).send({ url: URL_A, events: ['message.sent'] });
    expect(res.status).to.equal(403);
  });
});
