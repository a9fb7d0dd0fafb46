import { expect } from 'chai';
import { adminHeaders, api, createTenant, harness, TestTenant } from '../helpers/harness';
import { tenancyRows } from './matrix';
import './rows-foundation';
import './rows-messaging';
import './rows-content';
import './rows-agency';
import './rows-webhooks';
import './rows-compliance';

describe('tenancy matrix: tenant B never reaches tenant A\'s records', () => {
  it('when the matrix is loaded, then it has rows', () => {
    expect(tenancyRows.length).to.be.greaterThan(0);
  });

  for (const row of tenancyRows) {
    describe(row.resource, () => {
      for (const route of row.routes) {
        it(`when tenant B calls ${route.method.toUpperCase()} ${route.path(':id')} on A's id, then ${route.expect ?? 404} and nothing changes`, async () => {
          const a = await createTenant();
          const b = await createTenant();
          const id = await row.create(a);
          const owner = harness().db.owner;
          const before = await owner(row.table).where({ tenant_id: a.id, [row.idColumn ?? 'id']: id });
          expect(before, 'resource exists for A').to.have.length(1);

          const keyOf = (tenant: TestTenant) => (row.keys === 'sandbox' ? tenant.sandboxAuth : tenant.auth);
          let request = api()[route.method](route.path(id)).set(keyOf(b));
          if (route.body) request = request.send(route.body(id));
          const res = await request;
          expect(res.status, JSON.stringify(res.body)).to.equal(route.expect ?? 404);
          expect(res.body.code).to.be.a('string');
          expect(JSON.stringify(res.body)).not.to.contain(a.id);

          const after = await owner(row.table).where({ tenant_id: a.id, [row.idColumn ?? 'id']: id });
          expect(after).to.deep.equal(before);

          const own = await api().get(route.path(id)).set(keyOf(a));
          if (route.method === 'get') expect(own.status, 'owner still reads it').to.equal(200);
        });
      }
      if (row.list) {
        it(`when tenant B lists ${row.list}, then A's record is absent`, async () => {
          const a = await createTenant();
          const b = await createTenant();
          const id = await row.create(a);
          const keyOf = (tenant: TestTenant) => (row.keys === 'sandbox' ? tenant.sandboxAuth : tenant.auth);
          const res = await api().get(row.list!).set(keyOf(b));
          expect(res.status).to.equal(200);
          expect(JSON.stringify(res.body.data)).not.to.contain(id);
          const own = await api().get(row.list!).set(keyOf(a));
          expect(JSON.stringify(own.body.data)).to.contain(id);
        });
      }
    });
  }
});

/**
 * The test-key axis: a tenant's own `tf_test_` key on its own live records.
 * Reads answer 200; every write that would change live state answers 403
 * FORBIDDEN and changes nothing. The few writes that only make sandbox traffic
 * (api/middleware/test-keys.ts) are listed in SANDBOX_WRITES below and skipped.
 */
const SANDBOX_WRITES = [/^\/v1\/messages$/, /^\/v1\/capabilities$/, /^\/v1\/webhooks\/[^/]+\/test$/, /^\/v1\/ai\/persona\/preview$/, /^\/v1\/campaigns$/];

describe('tenancy matrix: a test key never changes live state', () => {
  for (const row of tenancyRows.filter((candidate) => candidate.keys !== 'sandbox')) {
    describe(row.resource, () => {
      for (const route of row.routes.filter((candidate) => candidate.method !== 'get')) {
        const sample = route.path(':id');
        if (SANDBOX_WRITES.some((pattern) => pattern.test(sample))) continue;
        it(`when the owner's test key calls ${route.method.toUpperCase()} ${sample} on its own live record, then 403 FORBIDDEN and nothing changes`, async () => {
          const a = await createTenant();
          const id = await row.create(a);
          const owner = harness().db.owner;
          const before = await owner(row.table).where({ tenant_id: a.id, [row.idColumn ?? 'id']: id });
          let request = api()[route.method](route.path(id)).set(a.sandboxAuth);
          if (route.body) request = request.send(route.body(id));
          const res = await request;
          expect(res.status, JSON.stringify(res.body)).to.equal(403);
          expect(res.body.code).to.equal('FORBIDDEN');
          expect(await owner(row.table).where({ tenant_id: a.id, [row.idColumn ?? 'id']: id })).to.deep.equal(before);
        });
      }
      const read = row.routes.find((candidate) => candidate.method === 'get');
      if (read) {
        it(`when the owner's test key reads ${read.path(':id')}, then it may`, async () => {
          const a = await createTenant();
          const id = await row.create(a);
          expect((await api().get(read.path(id)).set(a.sandboxAuth)).status).to.equal(200);
        });
      }
    });
  }

  const creations: [string, string, object, string][] = [
    ['post', '/v1/api-keys', { name: 'from a test key' }, 'api_keys'],
    ['post', '/v1/opt-outs', { phone_number: '+15553330001' }, 'opt_outs'],
    ['post', '/v1/webhooks', { url: 'https://example.com/hook', events: ['message.sent'] }, 'webhooks'],
    ['put', '/v1/ai/persona', { business_name: 'Test key' }, 'ai_personas'],
    ['post', '/v1/ai/sources', { type: 'faq', question: 'q?', answer: 'a' }, 'ai_sources'],
    ['post', '/v1/compliance/consent', { phone_number: '+15553330002', consent_type: 'express', consent_source: 'web form' }, 'consent_logs'],
    ['post', '/v1/contacts', { phone_number: '+15553330003' }, 'contacts'],
    ['post', '/v1/contacts/import', { contacts: [{ phone_number: '+15553330004' }] }, 'contact_imports'],
    ['post', '/v1/groups', { name: 'test key group' }, 'contact_groups'],
    ['post', '/v1/templates', { name: 'test key template', type: 'alert', channel: 'both', body: 'hi' }, 'templates'],
  ];
  for (const [method, path, body, table] of creations) {
    it(`when a test key calls ${method.toUpperCase()} ${path}, then 403 FORBIDDEN and no ${table} row is written`, async () => {
      const a = await createTenant();
      const count = async () => (await harness().db.owner(table).where({ tenant_id: a.id }).select('tenant_id')).length;
      const before = await count();
      const res = await api()[method as 'post' | 'put'](path).set(a.sandboxAuth).send(body);
      expect(res.status, JSON.stringify(res.body)).to.equal(403);
      expect(res.body).to.include({ code: 'FORBIDDEN' });
      expect(res.body.error).to.match(/test key/i);
      expect(await count()).to.equal(before);
    });
  }

  it('when an agency\'s test key creates a client tenant, then 403 and no tenant is created', async () => {
    const agency = await createTenant({ is_agency: true });
    const before = (await harness().db.owner('agency_links').where({ agency_tenant_id: agency.id }).select('client_tenant_id')).length;
    const res = await api().post('/v1/subaccounts').set(agency.sandboxAuth).send({ name: 'Client from a test key' });
    expect(res.status, JSON.stringify(res.body)).to.equal(403);
    expect((await harness().db.owner('agency_links').where({ agency_tenant_id: agency.id }).select('client_tenant_id')).length).to.equal(before);
  });

  it('when a test key sends a message, then it is sandbox traffic and accepted', async () => {
    const a = await createTenant();
    const res = await api().post('/v1/messages').set(a.sandboxAuth).send({ to: '+15555550001', body: 'sandbox' });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data.message_id).to.match(/^sb_/);
  });

  it('when a live key and then a test key use the same Idempotency-Key, then the test key gets its own answer, never the live one', async () => {
    const a = await createTenant();
    const line = await api()
      .post('/admin/phone-lines')
      .set(adminHeaders())
      .send({ phone_number: `+1555444${String(Date.now() % 10000).padStart(4, '0')}`, bridge_url: 'http://127.0.0.1:9/unused', secret: 's'.repeat(40), capabilities: { imessage: true, sms: true, rcs: false }, mode: 'dedicated', tenant_id: a.id });
    expect(line.status, JSON.stringify(line.body)).to.equal(201);
    const live = await api().post('/v1/messages').set(a.auth).set('Idempotency-Key', 'shared-key-1').send({ to: '+15555550001', body: 'same body' });
    const test = await api().post('/v1/messages').set(a.sandboxAuth).set('Idempotency-Key', 'shared-key-1').send({ to: '+15555550001', body: 'same body' });
    expect(test.status, JSON.stringify(test.body)).to.equal(202);
    expect(test.headers['idempotent-replayed']).to.equal(undefined);
    expect(test.body.data.message_id).to.match(/^sb_/);
    expect(live.status, JSON.stringify(live.body)).to.equal(202);
    expect(test.body.data.message_id).to.not.equal(live.body.data.message_id);
  });

  it('when a response with dates is replayed for the same Idempotency-Key, then the replay is the first answer, dates and all', async () => {
    const a = await createTenant();
    const first = await api().post('/v1/contacts').set(a.auth).set('Idempotency-Key', 'dates-1').send({ phone_number: '+15553339999', name: 'Ada' });
    const replay = await api().post('/v1/contacts').set(a.auth).set('Idempotency-Key', 'dates-1').send({ phone_number: '+15553339999', name: 'Ada' });
    expect(first.status).to.equal(201);
    expect(replay.headers['idempotent-replayed']).to.equal('true');
    expect(replay.status).to.equal(first.status);
    expect(replay.body).to.deep.equal(first.body);
    expect(replay.body.data.created_at).to.be.a('string');
  });
});
