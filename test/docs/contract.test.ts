import { expect } from 'chai';
import type { Response } from 'supertest';
import { buildOpenApiDocument } from '../../api/openapi';
import { adminHeaders, api, createTenant, TestTenant } from '../helpers/harness';
import { documentSchemas } from './routes';

/**
 * Real answers held to the reference: each response body must match the
 * documented schema of its operation and status, with no field the reference
 * does not name (the check closes every object; the published document stays
 * open so clients tolerate additions).
 */
describe('OpenAPI reference: real responses match it', () => {
  const schemas = documentSchemas(buildOpenApiDocument(), { closed: true });
  let tenant: TestTenant;

  function documented(method: string, path: string, res: Response): Response {
    const validate = schemas.response(method, path, res.status);
    const ok = validate(res.body);
    expect(ok, `${method} ${path} → ${res.status} ${JSON.stringify(validate.errors?.slice(0, 3))}\n${JSON.stringify(res.body).slice(0, 600)}`).to.equal(true);
    return res;
  }

  before(async () => {
    tenant = await createTenant();
  });

  it('when the operator manages tenants, keys and lines, then every answer matches the reference', async () => {
    const created = documented('POST', '/admin/tenants', await api().post('/admin/tenants').set(adminHeaders()).send({ name: 'Contract Co', limits: { messages_per_day: null } }));
    const id = created.body.data.id as string;
    documented('GET', '/admin/tenants', await api().get('/admin/tenants?limit=2').set(adminHeaders()));
    documented('GET', '/admin/tenants/{id}', await api().get(`/admin/tenants/${id}`).set(adminHeaders()));
    documented('PATCH', '/admin/tenants/{id}', await api().patch(`/admin/tenants/${id}`).set(adminHeaders()).send({ plan: 'growth' }));
    documented('POST', '/admin/api-keys', await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: id, name: 'k', prefix: 'tf_test' }));
    const line = documented(
      'POST',
      '/admin/phone-lines',
      await api()
        .post('/admin/phone-lines')
        .set(adminHeaders())
        .send({ phone_number: '+15557770001', bridge_url: 'http://127.0.0.1:9/lines/x', secret: 'x'.repeat(32), capabilities: { imessage: true, sms: true, rcs: false }, mode: 'dedicated', tenant_id: id }),
    );
    documented('GET', '/admin/phone-lines', await api().get('/admin/phone-lines').set(adminHeaders()));
    documented('PATCH', '/admin/phone-lines/{id}', await api().patch(`/admin/phone-lines/${line.body.data.id}`).set(adminHeaders()).send({ enabled: false }));
    documented('DELETE', '/admin/phone-lines/{id}', await api().delete(`/admin/phone-lines/${line.body.data.id}`).set(adminHeaders()));
    documented('GET', '/admin/tenants/{id}', await api().get('/admin/tenants/01ARZ3NDEKTSV4RRFFQ69G5FAV').set(adminHeaders()));
    documented('POST', '/admin/tenants', await api().post('/admin/tenants').send({ name: 'no credential' }));
  });

  it('when a tenant sends and reads messages, then every answer (and error envelope) matches the reference', async () => {
    const sent = documented('POST', '/v1/messages', await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'contract' }));
    const id = sent.body.data.message_id as string;
    documented('GET', '/v1/messages/{id}', await api().get(`/v1/messages/${id}`).set(tenant.sandboxAuth));
    documented('GET', '/v1/messages/{id}/events', await api().get(`/v1/messages/${id}/events`).set(tenant.sandboxAuth));
    documented('GET', '/v1/messages/{id}/callbacks', await api().get(`/v1/messages/${id}/callbacks`).set(tenant.sandboxAuth));
    documented('GET', '/v1/messages', await api().get('/v1/messages?limit=1').set(tenant.sandboxAuth));
    const invalid = documented('POST', '/v1/messages', await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '555', body: 'x', tenant_id: 'x' }));
    expect(invalid.body.code).to.equal('VALIDATION_ERROR');
    documented('GET', '/v1/messages/{id}', await api().get('/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV').set(tenant.auth));
    documented('GET', '/v1/messages', await api().get('/v1/messages').set({ Authorization: 'Bearer tf_live_nope' }));
    documented('GET', '/v1/capabilities/{number}', await api().get('/v1/capabilities/%2B15551234567').set(tenant.sandboxAuth));
    documented('POST', '/v1/capabilities', await api().post('/v1/capabilities').set(tenant.sandboxAuth).send({ numbers: ['+15551234567'] }));
  });

  it('when a tenant manages keys, contacts, groups, templates and campaigns, then every answer matches the reference', async () => {
    const key = documented('POST', '/v1/api-keys', await api().post('/v1/api-keys').set(tenant.auth).send({ name: 'ci' }));
    documented('GET', '/v1/api-keys', await api().get('/v1/api-keys').set(tenant.auth));
    documented('DELETE', '/v1/api-keys/{id}', await api().delete(`/v1/api-keys/${key.body.data.id}`).set(tenant.auth));

    const contact = documented('POST', '/v1/contacts', await api().post('/v1/contacts').set(tenant.auth).send({ phone_number: '+15551230001', name: 'Ada', metadata: { plan: 'pro', seats: 3 } }));
    const contactId = contact.body.data.id as string;
    documented('POST', '/v1/contacts', await api().post('/v1/contacts').set(tenant.auth).send({ phone_number: '+15551230001' }));
    documented('GET', '/v1/contacts', await api().get('/v1/contacts').set(tenant.auth));
    documented('PATCH', '/v1/contacts/{id}', await api().patch(`/v1/contacts/${contactId}`).set(tenant.auth).send({ email: 'ada@example.com' }));
    const imported = documented('POST', '/v1/contacts/import', await api().post('/v1/contacts/import').set(tenant.auth).send([{ phone_number: '+15551230002' }, { phone_number: 'nope' }]));
    documented('GET', '/v1/contacts/imports/{id}', await api().get(`/v1/contacts/imports/${imported.body.data.id}`).set(tenant.auth));
    documented('GET', '/v1/contacts/imports', await api().get('/v1/contacts/imports').set(tenant.auth));

    const group = documented('POST', '/v1/groups', await api().post('/v1/groups').set(tenant.auth).send({ name: 'VIP' }));
    const groupId = group.body.data.id as string;
    documented('POST', '/v1/groups/{id}/members', await api().post(`/v1/groups/${groupId}/members`).set(tenant.auth).send({ contact_ids: [contactId] }));
    documented('GET', '/v1/groups/{id}/members', await api().get(`/v1/groups/${groupId}/members`).set(tenant.auth));
    documented('DELETE', '/v1/groups/{id}/members', await api().delete(`/v1/groups/${groupId}/members`).set(tenant.auth).send({ contact_ids: [contactId] }));
    documented('GET', '/v1/groups', await api().get('/v1/groups').set(tenant.auth));

    documented('POST', '/v1/templates', await api().post('/v1/templates').set(tenant.auth).send({ name: 'otp', type: 'otp', body: 'Your code is {{code}}' }));
    documented('GET', '/v1/templates', await api().get('/v1/templates').set(tenant.auth));

    const campaign = documented('POST', '/v1/campaigns', await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'launch', body: 'Hi {{name}}', recipients: [contactId] }));
    documented('GET', '/v1/campaigns/{id}', await api().get(`/v1/campaigns/${campaign.body.data.id}`).set(tenant.sandboxAuth));
    documented('GET', '/v1/campaigns', await api().get('/v1/campaigns').set(tenant.sandboxAuth));
    documented('DELETE', '/v1/contacts/{id}', await api().delete(`/v1/contacts/${contactId}`).set(tenant.auth));
  });

  it('when a tenant manages webhooks, opt-outs, consent, billing and the AI persona, then every answer matches the reference', async () => {
    const hook = documented('POST', '/v1/webhooks', await api().post('/v1/webhooks').set(tenant.auth).send({ url: 'http://127.0.0.1:9/hooks', events: ['message.delivered', 'message.inbound'] }));
    const hookId = hook.body.data.id as string;
    documented('GET', '/v1/webhooks', await api().get('/v1/webhooks').set(tenant.auth));
    documented('POST', '/v1/webhooks/{id}/rotate-secret', await api().post(`/v1/webhooks/${hookId}/rotate-secret`).set(tenant.auth));
    documented('POST', '/v1/webhooks/{id}/test', await api().post(`/v1/webhooks/${hookId}/test`).set(tenant.auth));
    documented('GET', '/v1/webhooks/{id}/deliveries', await api().get(`/v1/webhooks/${hookId}/deliveries`).set(tenant.auth));
    documented('PATCH', '/v1/webhooks/{id}', await api().patch(`/v1/webhooks/${hookId}`).set(tenant.auth).send({ enabled: false }));

    documented('POST', '/v1/opt-outs', await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: '+15551239999', reason: 'asked' }));
    documented('GET', '/v1/opt-outs/{phone}', await api().get('/v1/opt-outs/%2B15551239999').set(tenant.auth));
    documented('DELETE', '/v1/opt-outs/{phone}', await api().delete('/v1/opt-outs/%2B15551239999').set(tenant.auth));
    documented('GET', '/v1/opt-outs', await api().get('/v1/opt-outs?include_removed=true').set(tenant.auth));

    documented('POST', '/v1/compliance/consent', await api().post('/v1/compliance/consent').set(tenant.auth).send({ phone_number: '+15551238888', consent_type: 'express', consent_source: 'web form' }));
    documented('GET', '/v1/compliance/consent', await api().get('/v1/compliance/consent').set(tenant.auth));
    const csv = await api().get('/v1/compliance/consent/export').set(tenant.auth);
    expect(csv.status).to.equal(200);
    expect(csv.headers['content-type']).to.match(/text\/csv/);

    documented('GET', '/v1/billing/usage', await api().get('/v1/billing/usage').set(tenant.auth));
    documented('GET', '/v1/billing/events', await api().get('/v1/billing/events').set(tenant.auth));
    documented('GET', '/v1/billing/usage-records', await api().get('/v1/billing/usage-records').set(tenant.auth));

    documented('GET', '/v1/ai/persona', await api().get('/v1/ai/persona').set(tenant.auth));
    documented('PUT', '/v1/ai/persona', await api().put('/v1/ai/persona').set(tenant.auth).send({ business_name: 'Acme', auto_reply_enabled: true }));
    const source = documented('POST', '/v1/ai/sources', await api().post('/v1/ai/sources').set(tenant.auth).send({ type: 'faq', question: 'When are you open?', answer: 'Nine to five.' }));
    documented('GET', '/v1/ai/sources', await api().get('/v1/ai/sources').set(tenant.auth));
    documented('POST', '/v1/ai/persona/preview', await api().post('/v1/ai/persona/preview').set(tenant.auth).send({ message: 'when are you open' }));
    documented('DELETE', '/v1/ai/sources/{id}', await api().delete(`/v1/ai/sources/${source.body.data.id}`).set(tenant.auth));
    documented('GET', '/healthz', await api().get('/healthz'));
    documented('GET', '/readyz', await api().get('/readyz'));
  });
});
