import crypto from 'node:crypto';
import { expect } from 'chai';
import type supertest from 'supertest';
import { adminHeaders, api, createTenant, harness } from '../helpers/harness';
import { decryptSecret } from '../../shared/crypto';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

function expectError(res: supertest.Response, status: number, code: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.body.code).to.equal(code);
  expect(res.body.error).to.be.a('string').and.have.length.above(0);
}

function detailPaths(res: supertest.Response): string[] {
  expect(res.body.details, 'validation details').to.be.an('array').with.length.above(0);
  return res.body.details.map((detail: { path: string; message: string }) => {
    expect(detail.message).to.be.a('string').and.have.length.above(0);
    return detail.path;
  });
}

/** A NANP number in the fictional 555 range, unique enough for one test run. */
function phoneNumber(): string {
  return `+1555${String(crypto.randomInt(0, 10_000_000)).padStart(7, '0')}`;
}

function lineBody(overrides: Record<string, unknown> = {}) {
  return {
    phone_number: phoneNumber(),
    bridge_url: 'http://127.0.0.1:4010/lines/x',
    secret: crypto.randomBytes(24).toString('hex'),
    capabilities: { imessage: true, sms: true, rcs: false },
    mode: 'pooled',
    ...overrides,
  };
}

describe('operator API', () => {
  describe('credential', () => {
    it('when /admin is called without a credential, then 401 INVALID_API_KEY', async () => {
      expectError(await api().get('/admin/tenants'), 401, 'INVALID_API_KEY');
      expectError(await api().post('/admin/tenants').send({ name: 'x' }), 401, 'INVALID_API_KEY');
    });

    it('when /admin is called with a wrong or near-miss credential, then 401 and nothing is created', async () => {
      const real = harness().config.adminApiKey;
      const before = Number((await harness().db.owner('tenants').count({ n: '*' }))[0].n);
      for (const wrong of ['nope', real.slice(0, -1), real + 'x', real.toUpperCase() === real ? real.toLowerCase() : real.toUpperCase()]) {
        expectError(await api().post('/admin/tenants').set(bearer(wrong)).send({ name: 'intruder' }), 401, 'INVALID_API_KEY');
      }
      expect(Number((await harness().db.owner('tenants').count({ n: '*' }))[0].n)).to.equal(before);
    });

    it('when a tenant API key is used on /admin, then 401', async () => {
      const a = await createTenant();
      expectError(await api().get('/admin/tenants').set(a.auth), 401, 'INVALID_API_KEY');
      expectError(await api().patch(`/admin/tenants/${a.id}`).set(a.auth).send({ plan: 'scale' }), 401, 'INVALID_API_KEY');
      expect((await harness().db.owner('tenants').where({ id: a.id }).first()).plan).to.equal('trial');
    });
  });

  describe('tenants', () => {
    it('when a tenant is created with only a name, then 201 with the documented shape and defaults', async () => {
      const started = Date.now();
      const res = await api().post('/admin/tenants').set(adminHeaders()).send({ name: 'Acme Dental' });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const data = res.body.data;
      expect(data).to.include.all.keys('id', 'name', 'plan', 'status', 'is_agency', 'pool', 'created_at');
      expect(data).to.include({ name: 'Acme Dental', plan: 'trial', status: 'active', is_agency: false, pool: 'default' });
      expect(data.id).to.match(ULID);
      expect(new Date(data.created_at).getTime()).to.be.within(started - 5000, Date.now() + 5000);
      const row = await harness().db.owner('tenants').where({ id: data.id }).first();
      expect(row).to.include({ name: 'Acme Dental', plan: 'trial', status: 'active', is_agency: false, pool: 'default' });
    });

    it('when a tenant is created with plan, agency flag and pool, then they are kept', async () => {
      const res = await api().post('/admin/tenants').set(adminHeaders()).send({ name: 'Agency', plan: 'growth', is_agency: true, pool: 'eu-1' });
      expect(res.status).to.equal(201);
      expect(res.body.data).to.include({ plan: 'growth', is_agency: true, pool: 'eu-1', status: 'active' });
    });

    for (const [label, body, field] of [
      ['an unknown field', { name: 'x', colour: 'red' }, 'colour'],
      ['a server-owned status', { name: 'x', status: 'suspended' }, 'status'],
      ['a client-chosen id', { name: 'x', id: '01J0000000000000000000000A' }, 'id'],
      ['an unknown plan', { name: 'x', plan: 'platinum' }, 'plan'],
      ['no name', { plan: 'trial' }, 'name'],
      ['an empty name', { name: '' }, 'name'],
      ['an unknown limits key', { name: 'x', limits: { sms_per_hour: 3 } }, 'limits.sms_per_hour'],
    ] as const) {
      it(`when a tenant is created with ${label}, then 400 VALIDATION_ERROR naming ${field} and nothing is stored`, async () => {
        const before = Number((await harness().db.owner('tenants').count({ n: '*' }))[0].n);
        const res = await api().post('/admin/tenants').set(adminHeaders()).send(body);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(detailPaths(res)).to.include(field);
        expect(Number((await harness().db.owner('tenants').count({ n: '*' }))[0].n)).to.equal(before);
      });
    }

    it('when the body is not valid JSON, then 400 INVALID_JSON', async () => {
      const res = await api().post('/admin/tenants').set(adminHeaders()).set('Content-Type', 'application/json').send('{"name": "x",');
      expectError(res, 400, 'INVALID_JSON');
    });

    it('when tenants are listed with limit=2, then next_cursor walks every tenant once, newest first, and ends with null', async () => {
      const created: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const res = await api().post('/admin/tenants').set(adminHeaders()).send({ name: `Paged ${i}` });
        created.push(res.body.data.id);
      }
      const first = await api().get('/admin/tenants?limit=2').set(adminHeaders());
      expect(first.status).to.equal(200);
      expect(first.body.data.map((t: { id: string }) => t.id)).to.deep.equal([created[2], created[1]]);
      expect(first.body.next_cursor).to.be.a('string');
      const second = await api().get(`/admin/tenants?limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`).set(adminHeaders());
      expect(second.status).to.equal(200);
      expect(second.body.data[0].id).to.equal(created[0]);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: supertest.Response = await api()
          .get(`/admin/tenants?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
          .set(adminHeaders());
        expect(res.status).to.equal(200);
        seen.push(...res.body.data.map((t: { id: string }) => t.id));
        cursor = res.body.next_cursor;
        pages += 1;
      } while (cursor && pages < 100);
      expect(cursor).to.equal(null);
      expect(new Set(seen).size, 'no duplicates').to.equal(seen.length);
      const total = Number((await harness().db.owner('tenants').count({ n: '*' }))[0].n);
      expect(seen.length).to.equal(total);
      expect(seen).to.include.members(created);
      expect([...seen].sort().reverse()).to.deep.equal(seen);
    });

    it('when a tenant is fetched by id, then 200 with its record; an unknown id is 404 NOT_FOUND', async () => {
      const a = await createTenant({ plan: 'starter' });
      const res = await api().get(`/admin/tenants/${a.id}`).set(adminHeaders());
      expect(res.status).to.equal(200);
      expect(res.body.data).to.include({ id: a.id, name: a.name, plan: 'starter', status: 'active' });
      expectError(await api().get('/admin/tenants/01J00000000000000000000000').set(adminHeaders()), 404, 'NOT_FOUND');
    });

    it('when a tenant\'s plan, status and limits are patched, then the response and later reads show the change', async () => {
      const a = await createTenant();
      const res = await api()
        .patch(`/admin/tenants/${a.id}`)
        .set(adminHeaders())
        .send({ plan: 'scale', status: 'suspended', limits: { new_contacts_per_day: 1000, messages_per_day: null }, name: 'Renamed' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.data).to.include({ id: a.id, plan: 'scale', status: 'suspended', name: 'Renamed' });
      expect(res.body.data.limits).to.deep.include({ new_contacts_per_day: 1000, messages_per_day: null });
      const read = await api().get(`/admin/tenants/${a.id}`).set(adminHeaders());
      expect(read.body.data).to.include({ plan: 'scale', status: 'suspended', name: 'Renamed' });
      expect(read.body.data.limits).to.deep.include({ new_contacts_per_day: 1000, messages_per_day: null });
    });

    it('when requests_per_minute is overridden for a tenant, then its keys without their own limit follow it, and null lifts the limit', async () => {
      const a = await createTenant();
      const key = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: a.id, name: 'plan-bound', prefix: 'tf_live' });
      const auth = bearer(key.body.data.key);
      expect((await api().get('/v1/api-keys').set(auth)).headers['x-ratelimit-limit']).to.equal('60');
      await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ limits: { requests_per_minute: 5 } }).expect(200);
      expect((await api().get('/v1/api-keys').set(auth)).headers['x-ratelimit-limit']).to.equal('5');
      await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ limits: { requests_per_minute: null } }).expect(200);
      for (let i = 0; i < 8; i += 1) {
        const res = await api().get('/v1/api-keys').set(auth);
        expect(res.status).to.equal(200);
        expect(res.headers).not.to.have.property('x-ratelimit-limit');
      }
    });

    it('when a patch is empty, has an unknown field or an invalid value, then 400 and nothing changes', async () => {
      const a = await createTenant();
      for (const body of [{}, { colour: 'red' }, { status: 'deleted' }, { plan: 'gold' }, { limits: { requests_per_minute: 0 } }, { id: 'x' }]) {
        expectError(await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send(body), 400, 'VALIDATION_ERROR');
      }
      const row = await harness().db.owner('tenants').where({ id: a.id }).first();
      expect(row).to.include({ status: 'active', plan: 'trial' });
      expect(row.limits).to.deep.equal({});
    });

    it('when an unknown tenant is patched, then 404 NOT_FOUND', async () => {
      expectError(await api().patch('/admin/tenants/01J00000000000000000000000').set(adminHeaders()).send({ plan: 'growth' }), 404, 'NOT_FOUND');
    });
  });

  describe('API keys minted by the operator', () => {
    it('when the operator creates a tf_live key, then 201 with the full key shown once, and it works on /v1', async () => {
      const a = await createTenant();
      const res = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: a.id, name: 'ops', prefix: 'tf_live' });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.data.key).to.match(/^tf_live_[0-9A-Za-z]{32,}$/);
      expect(res.body.data).to.include({ tenant_id: a.id, name: 'ops', prefix: 'tf_live', status: 'active', sandbox: false });
      expect(res.body.data.key_hint).to.equal(res.body.data.key.slice(-4));
      const list = await api().get('/v1/api-keys').set(bearer(res.body.data.key));
      expect(list.status).to.equal(200);
      const listed = list.body.data.find((item: { id: string }) => item.id === res.body.data.id);
      expect(listed).to.include({ name: 'ops' });
      expect(listed).not.to.have.property('key');
    });

    it('when the operator creates a tf_test key, then it is a sandbox key', async () => {
      const a = await createTenant();
      const res = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: a.id, name: 'sandbox', prefix: 'tf_test' });
      expect(res.status).to.equal(201);
      expect(res.body.data.key).to.match(/^tf_test_/);
      expect(res.body.data.sandbox).to.equal(true);
      expect((await api().get('/v1/api-keys').set(bearer(res.body.data.key))).status).to.equal(200);
    });

    it('when the operator sets a rate_limit above the plan, then it is accepted and enforced as given', async () => {
      const a = await createTenant();
      const res = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: a.id, name: 'bulk', prefix: 'tf_live', rate_limit: 5000 });
      expect(res.status).to.equal(201);
      expect(res.body.data.rate_limit).to.equal(5000);
      const used = await api().get('/v1/api-keys').set(bearer(res.body.data.key));
      expect(used.headers['x-ratelimit-limit']).to.equal('5000');
    });

    it('when the operator sets rate_limit null, then the key is not rate limited at all (past the trial plan\'s 60/min)', async function () {
      this.timeout(30000);
      const a = await createTenant();
      const res = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: a.id, name: 'load test', prefix: 'tf_live', rate_limit: null });
      expect(res.status).to.equal(201);
      expect(res.body.data.rate_limit).to.equal(null);
      const auth = bearer(res.body.data.key);
      const statuses: number[] = [];
      for (let batch = 0; batch < 7; batch += 1) {
        const results = await Promise.all(Array.from({ length: 10 }, () => api().get('/v1/api-keys?limit=1').set(auth)));
        for (const r of results) {
          statuses.push(r.status);
          expect(r.headers).not.to.have.property('x-ratelimit-limit');
        }
      }
      expect(statuses.filter((s) => s !== 200)).to.deep.equal([]);
      expect(statuses).to.have.length(70);
    });

    for (const [label, body, field] of [
      ['an unknown tenant_id', { tenant_id: '01J00000000000000000000000', name: 'x', prefix: 'tf_live' }, 'tenant_id'],
      ['a malformed tenant_id', { tenant_id: 'tenant-1', name: 'x', prefix: 'tf_live' }, 'tenant_id'],
      ['an unknown prefix', { name: 'x', prefix: 'sk_live' }, 'prefix'],
      ['no prefix', { name: 'x' }, 'prefix'],
      ['an unknown field', { name: 'x', prefix: 'tf_live', key_hash: 'abc' }, 'key_hash'],
      ['a zero rate_limit', { name: 'x', prefix: 'tf_live', rate_limit: 0 }, 'rate_limit'],
    ] as const) {
      it(`when the operator creates a key with ${label}, then 400 VALIDATION_ERROR naming ${field}`, async () => {
        const a = await createTenant();
        const res = await api().post('/admin/api-keys').set(adminHeaders()).send({ tenant_id: a.id, ...(body as Record<string, unknown>) });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(detailPaths(res)).to.include(field);
        expect(await harness().db.owner('api_keys').where({ tenant_id: a.id })).to.have.length(2);
      });
    }
  });

  describe('phone lines', () => {
    it('when a pooled line is registered, then 201 offline and enabled in the default pool, and the secret is never returned', async () => {
      const body = lineBody();
      const res = await api().post('/admin/phone-lines').set(adminHeaders()).send(body);
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const data = res.body.data;
      expect(data.id).to.match(ULID);
      expect(data).to.include({ phone_number: body.phone_number, mode: 'pooled', tenant_id: null, pool: 'default', status: 'offline', enabled: true });
      expect(data.capabilities).to.deep.equal(body.capabilities);
      expect(data.max_per_minute).to.equal(60);
      expect(data.warmup).to.equal(true);
      const one = await api().get(`/admin/phone-lines/${data.id}`).set(adminHeaders());
      const all = await api().get('/admin/phone-lines?limit=100').set(adminHeaders());
      expect(one.status).to.equal(200);
      expect(all.status).to.equal(200);
      for (const response of [res, one, all]) {
        const text = JSON.stringify(response.body);
        expect(text).not.to.contain(body.secret);
        expect(text).not.to.contain('secret');
      }
      const listed = (await api().get('/admin/phone-lines?limit=100').set(adminHeaders())).body.data.map((l: { id: string }) => l.id);
      expect(listed).to.include(data.id);
    });

    it('when a line is registered, then its secret is stored encrypted and decrypts with the encryption key', async () => {
      const body = lineBody();
      const res = await api().post('/admin/phone-lines').set(adminHeaders()).send(body);
      const row = await harness().db.owner('phone_lines').where({ id: res.body.data.id }).first();
      expect(row.secret_encrypted).to.be.a('string');
      expect(row.secret_encrypted).not.to.contain(body.secret);
      expect(row.secret_encrypted).not.to.contain(Buffer.from(body.secret).toString('base64'));
      expect(decryptSecret(harness().config.encryptionKey, row.secret_encrypted)).to.equal(body.secret);
      for (const value of Object.values(row)) {
        if (typeof value === 'string') expect(value).not.to.contain(body.secret);
      }
    });

    it('when a line\'s secret is rotated by PATCH, then the new secret is stored encrypted and still never returned', async () => {
      const created = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody());
      const secret = crypto.randomBytes(24).toString('hex');
      const res = await api().patch(`/admin/phone-lines/${created.body.data.id}`).set(adminHeaders()).send({ secret });
      expect(res.status).to.equal(200);
      expect(JSON.stringify(res.body)).not.to.contain(secret);
      const row = await harness().db.owner('phone_lines').where({ id: created.body.data.id }).first();
      expect(decryptSecret(harness().config.encryptionKey, row.secret_encrypted)).to.equal(secret);
    });

    it('when a dedicated line names no tenant, then 400 naming tenant_id; with a tenant it is 201 and assigned', async () => {
      const missing = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody({ mode: 'dedicated' }));
      expectError(missing, 400, 'VALIDATION_ERROR');
      expect(detailPaths(missing)).to.include('tenant_id');
      const a = await createTenant();
      const ok = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody({ mode: 'dedicated', tenant_id: a.id }));
      expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
      expect(ok.body.data).to.include({ mode: 'dedicated', tenant_id: a.id });
    });

    it('when a dedicated line names an unknown tenant, then 400 and nothing is stored', async () => {
      const body = lineBody({ mode: 'dedicated', tenant_id: '01J00000000000000000000000' });
      const res = await api().post('/admin/phone-lines').set(adminHeaders()).send(body);
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(await harness().db.owner('phone_lines').where({ phone_number: body.phone_number })).to.have.length(0);
    });

    it('when a pooled line names a pool, then it is kept', async () => {
      const res = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody({ pool: 'vip' }));
      expect(res.status).to.equal(201);
      expect(res.body.data.pool).to.equal('vip');
    });

    for (const [label, overrides, field] of [
      ['a phone number that is not E.164', { phone_number: '555-1234' }, 'phone_number'],
      ['a short secret', { secret: 'short' }, 'secret'],
      ['an unknown mode', { mode: 'shared' }, 'mode'],
      ['a server-owned status', { status: 'online' }, 'status'],
      ['a non-http bridge_url', { bridge_url: 'ftp://example.test/x' }, 'bridge_url'],
    ] as const) {
      it(`when a line is registered with ${label}, then 400 VALIDATION_ERROR naming ${field}`, async () => {
        const res = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody(overrides));
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(detailPaths(res)).to.include(field);
      });
    }

    it('when a line is disabled by PATCH, then the response and later reads show enabled false', async () => {
      const created = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody());
      const res = await api().patch(`/admin/phone-lines/${created.body.data.id}`).set(adminHeaders()).send({ enabled: false });
      expect(res.status).to.equal(200);
      expect(res.body.data.enabled).to.equal(false);
      expect((await api().get(`/admin/phone-lines/${created.body.data.id}`).set(adminHeaders())).body.data.enabled).to.equal(false);
      expect((await harness().db.owner('phone_lines').where({ id: created.body.data.id }).first()).enabled).to.equal(false);
    });

    it('when a pooled line is switched to dedicated without a tenant, then 400 and it stays pooled', async () => {
      const created = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody());
      const res = await api().patch(`/admin/phone-lines/${created.body.data.id}`).set(adminHeaders()).send({ mode: 'dedicated' });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect((await harness().db.owner('phone_lines').where({ id: created.body.data.id }).first()).mode).to.equal('pooled');
    });

    it('when a phone number is registered twice, then 409 CONFLICT and there is still one line', async () => {
      const body = lineBody();
      expect((await api().post('/admin/phone-lines').set(adminHeaders()).send(body)).status).to.equal(201);
      expectError(await api().post('/admin/phone-lines').set(adminHeaders()).send({ ...body, secret: crypto.randomBytes(24).toString('hex') }), 409, 'CONFLICT');
      expect(await harness().db.owner('phone_lines').where({ phone_number: body.phone_number })).to.have.length(1);
    });

    it('when a line is deleted, then 200, and afterwards GET, PATCH and DELETE are 404', async () => {
      const created = await api().post('/admin/phone-lines').set(adminHeaders()).send(lineBody());
      const id = created.body.data.id;
      const res = await api().delete(`/admin/phone-lines/${id}`).set(adminHeaders());
      expect(res.status).to.equal(200);
      expectError(await api().get(`/admin/phone-lines/${id}`).set(adminHeaders()), 404, 'NOT_FOUND');
      expectError(await api().patch(`/admin/phone-lines/${id}`).set(adminHeaders()).send({ enabled: true }), 404, 'NOT_FOUND');
      expectError(await api().delete(`/admin/phone-lines/${id}`).set(adminHeaders()), 404, 'NOT_FOUND');
      expect(await harness().db.owner('phone_lines').where({ id })).to.have.length(0);
    });

    it('when phone lines are requested without the operator credential, then 401', async () => {
      const a = await createTenant();
      expectError(await api().get('/admin/phone-lines').set(a.auth), 401, 'INVALID_API_KEY');
      expectError(await api().post('/admin/phone-lines').send(lineBody()), 401, 'INVALID_API_KEY');
    });
  });

  describe('Bull Board', () => {
    it('when /admin/queues is opened without a credential, then 401 with a Basic challenge', async () => {
      const res = await api().get('/admin/queues');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.match(/^Basic /);
      expect(JSON.stringify(res.body)).not.to.contain('sending');
    });

    it('when the Basic password is wrong, then 401', async () => {
      const res = await api().get('/admin/queues').set(basic('operator', 'wrong-password'));
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.match(/^Basic /);
    });

    it('when a tenant key is presented to Bull Board, then 401', async () => {
      const a = await createTenant();
      expect((await api().get('/admin/queues').set(basic('x', a.key))).status).to.equal(401);
      expect((await api().get('/admin/queues/api/queues').set(a.auth)).status).to.equal(401);
    });

    it('when opened with HTTP Basic (any user, the admin key as password), then the board\'s HTML page is served', async () => {
      for (const user of ['admin', 'anyone', '']) {
        const res = await api().get('/admin/queues').set(basic(user, harness().config.adminApiKey));
        expect(res.status, `user "${user}"`).to.equal(200);
        expect(res.headers['content-type']).to.match(/text\/html/);
        expect(res.text).to.match(/<html/i);
      }
    });

    it('when the board\'s queue API is called with Basic, then it lists the sending, dispatch, webhooks, billing, campaigns and maintenance queues', async () => {
      const res = await api().get('/admin/queues/api/queues').set(basic('ops', harness().config.adminApiKey));
      expect(res.status, res.text.slice(0, 300)).to.equal(200);
      expect(res.headers['content-type']).to.match(/json/);
      const names = res.body.queues.map((queue: { name: string }) => queue.name);
      expect(names).to.have.members(['sending', 'dispatch', 'webhooks', 'billing', 'campaigns', 'maintenance']);
    });

    it('when the board\'s queue API is called with the Bearer admin key, then it answers too', async () => {
      const res = await api().get('/admin/queues/api/queues').set(adminHeaders());
      expect(res.status).to.equal(200);
      expect(res.body.queues).to.have.length(6);
    });
  });
});
