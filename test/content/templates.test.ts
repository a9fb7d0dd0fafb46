import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { createTemplate, createSandboxCampaign, leaveNoWorkBehind, testPhone } from './helpers';

describe('templates API', () => {
  leaveNoWorkBehind();
  let tenant: TestTenant;
  before(async () => {
    tenant = await createTenant();
  });

  it('when a template is created, then the response lists the variables of its body', async () => {
    const res = await api()
      .post('/v1/templates')
      .set(tenant.auth)
      .send({ name: 'welcome', type: 'marketing', channel: 'imessage', body: 'Hi {{name}}, your code is {{ code }}; {{name}} again, {{metadata.plan}}' });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    expect(res.body.data).to.include({ name: 'welcome', type: 'marketing', channel: 'imessage' });
    expect(res.body.data.variables).to.deep.equal(['name', 'code', 'metadata.plan']);

    const patched = await api().patch(`/v1/templates/${res.body.data.id}`).set(tenant.auth).send({ body: 'Bye {{first}}' });
    expect(patched.status).to.equal(200);
    expect(patched.body.data.variables).to.deep.equal(['first']);
    expect(patched.body.data.name).to.equal('welcome');
  });

  it('when no type or channel is given, then the template is an alert for both channels', async () => {
    const res = await api().post('/v1/templates').set(tenant.auth).send({ name: 'plain', body: 'hello' });
    expect(res.body.data).to.include({ type: 'alert', channel: 'both' });
    expect(res.body.data.variables).to.deep.equal([]);
  });

  it('when a name is taken, then creating or renaming to it is 409', async () => {
    await createTemplate(tenant, { name: 'dup' });
    expect((await api().post('/v1/templates').set(tenant.auth).send({ name: 'dup', body: 'x' })).status).to.equal(409);
    const other = await createTemplate(tenant);
    expect((await api().patch(`/v1/templates/${other.id}`).set(tenant.auth).send({ name: 'dup' })).status).to.equal(409);
  });

  it('when the body is invalid, then 400 names the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ body: 'x' }, 'name'],
      [{ name: 'n1' }, 'body'],
      [{ name: 'n2', body: 'x', type: 'promo' }, 'type'],
      [{ name: 'n3', body: 'x', channel: 'rcs' }, 'channel'],
      [{ name: 'n4', body: 'x'.repeat(1601) }, 'body'],
      [{ name: 'n5', body: 'x', variables: ['a'] }, 'variables'],
    ];
    for (const [body, field] of cases) {
      const res = await api().post('/v1/templates').set(tenant.auth).send(body);
      expect(res.status).to.equal(400);
      expect(res.body.details[0].path, JSON.stringify(res.body)).to.equal(field);
    }
  });

  it('when the list is filtered by type, then only that type comes back', async () => {
    const t = await createTenant();
    await createTemplate(t, { type: 'otp', name: 'otp one' });
    await createTemplate(t, { type: 'marketing', name: 'promo one' });
    const res = await api().get('/v1/templates?type=otp').set(t.auth);
    expect(res.status).to.equal(200);
    expect(res.body.data.map((template: { name: string }) => template.name)).to.deep.equal(['otp one']);
    expect((await api().get('/v1/templates?type=nope').set(t.auth)).status).to.equal(400);
  });

  it('when a send names a template, then it renders with data; a missing variable is 400 MISSING_TEMPLATE_VAR naming it; an unknown template is 400 INVALID_TEMPLATE', async () => {
    const template = await createTemplate(tenant, { name: 'otp code', type: 'otp', body: 'Your code is {{code}}, {{name}}' });
    const ok = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', template: 'otp code', data: { code: 123456, name: 'Ada' } });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(202);
    const message = await harness().db.owner('messages').where({ tenant_id: tenant.id, id: ok.body.data.message_id }).first();
    expect(message.body).to.equal('Your code is 123456, Ada');
    expect(message.message_type).to.equal('otp');
    expect(message.template_id).to.equal(template.id);

    const missing = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', template: template.id, data: { code: 1 } });
    expect(missing.status).to.equal(400);
    expect(missing.body.code).to.equal('MISSING_TEMPLATE_VAR');
    expect(missing.body.error).to.contain('name');

    const unknown = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', template: 'no such template' });
    expect(unknown.status).to.equal(400);
    expect(unknown.body.code).to.equal('INVALID_TEMPLATE');
  });

  it('when another tenant\'s template is named in a send, then it is 400 INVALID_TEMPLATE, as if unknown', async () => {
    const other = await createTenant();
    const foreign = await createTemplate(other, { name: 'secret template', body: 'theirs' });
    for (const ref of [foreign.id, foreign.name]) {
      const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', template: ref });
      expect(res.status).to.equal(400);
      expect(res.body.code).to.equal('INVALID_TEMPLATE');
    }
  });

  it('when a template used by a campaign is deleted, then the campaign keeps its text and loses only the link', async () => {
    const template = await createTemplate(tenant, { body: 'Sale for {{name}}!' });
    const campaignId = await createSandboxCampaign(tenant, { template: template.id, data: { name: 'you' }, recipients: [testPhone()] });
    const deleted = await api().delete(`/v1/templates/${template.id}`).set(tenant.auth);
    expect(deleted.status, JSON.stringify(deleted.body)).to.equal(200);
    expect((await api().get(`/v1/templates/${template.id}`).set(tenant.auth)).status).to.equal(404);
    const campaign = await api().get(`/v1/campaigns/${campaignId}`).set(tenant.sandboxAuth);
    expect(campaign.body.data).to.include({ template_id: null, body: 'Sale for {{name}}!' });
  });
});
