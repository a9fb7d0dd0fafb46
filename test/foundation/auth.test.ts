import crypto from 'node:crypto';
import { expect } from 'chai';
import supertest from 'supertest';
import type { Redis } from 'ioredis';
import { adminHeaders, api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { createApiApp, ApiApp } from '../../api/app';
import { createRedis } from '../../shared/redis';
import { logger } from '../../shared/logger';

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

/** A key minted by the operator for an existing tenant, returned as {id, key}. */
async function operatorKey(tenantId: string, body: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  const res = await api()
    .post('/admin/api-keys')
    .set(adminHeaders())
    .send({ tenant_id: tenantId, name: 'extra', prefix: 'tf_live', ...body });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return { id: res.body.data.id, key: res.body.data.key };
}

/** The rate limit is a fixed one-minute window: do not start a burst in its last seconds. */
async function awayFromWindowEdge(): Promise<void> {
  const intoWindow = (Date.now() / 1000) % 60;
  if (intoWindow > 50) await new Promise((resolve) => setTimeout(resolve, (60 - intoWindow) * 1000 + 200));
}

/** Every table of the schema whose rows, as text, contain `needle`. */
async function tablesContaining(needle: string): Promise<string[]> {
  const { owner } = harness().db;
  const tables: string[] = (await owner.raw("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).rows.map((r: { tablename: string }) => r.tablename);
  const found: string[] = [];
  for (const table of tables) {
    const hits = await owner.raw('SELECT count(*)::int AS n FROM ?? AS r WHERE r::text LIKE ?', [table, `%${needle}%`]);
    if (hits.rows[0].n > 0) found.push(table);
  }
  return found;
}

function expectEnvelope(res: supertest.Response, status: number, code: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.body).to.be.an('object');
  expect(res.body.code).to.equal(code);
  expect(res.body.error).to.be.a('string').and.have.length.above(0);
  expect(res.body).not.to.have.property('data');
}

describe('API key authentication', () => {
  describe('missing and bad credentials', () => {
    it('when no Authorization header is sent, then 401 INVALID_API_KEY with the error envelope', async () => {
      const res = await api().get('/v1/api-keys');
      expectEnvelope(res, 401, 'INVALID_API_KEY');
      expect(Object.keys(res.body).sort()).to.deep.equal(['code', 'error']);
    });

    for (const [label, header] of [
      ['a Basic scheme', `Basic ${Buffer.from('user:pass').toString('base64')}`],
      ['Bearer with no token', 'Bearer'],
      ['Bearer with two tokens', 'Bearer tf_live_abc tf_live_def'],
      ['a bare key without a scheme', 'tf_live_abcdefghijklmnopqrstuvwxyz0123456789ABCD'],
      ['a token of no known kind', 'Bearer sk_live_abcdefghijklmnopqrstuvwxyz'],
    ] as const) {
      it(`when the Authorization header is ${label}, then 401 INVALID_API_KEY`, async () => {
        const res = await api().get('/v1/api-keys').set('Authorization', header);
        expectEnvelope(res, 401, 'INVALID_API_KEY');
      });
    }

    it('when an unknown tf_live_ or tf_test_ key is sent, then 401 INVALID_API_KEY', async () => {
      for (const key of ['tf_live_' + 'x'.repeat(40), 'tf_test_' + 'y'.repeat(40)]) {
        const res = await api().get('/v1/api-keys').set(bearer(key));
        expectEnvelope(res, 401, 'INVALID_API_KEY');
      }
    });

    it('when a valid key is altered by one character, then 401', async () => {
      const a = await createTenant();
      const last = a.key.slice(-1);
      const altered = a.key.slice(0, -1) + (last === 'A' ? 'B' : 'A');
      expectEnvelope(await api().get('/v1/api-keys').set(bearer(altered)), 401, 'INVALID_API_KEY');
      expect((await api().get('/v1/api-keys').set(a.auth)).status).to.equal(200);
    });

    it('when the scheme is written in lower case, then the key is still accepted (schemes are case-insensitive)', async () => {
      const a = await createTenant();
      const res = await api().get('/v1/api-keys').set('Authorization', `bearer ${a.key}`);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    });

    it('when the operator key is used on the tenant API, then 401 (the operator is not a tenant)', async () => {
      const res = await api().get('/v1/api-keys').set(adminHeaders());
      expectEnvelope(res, 401, 'INVALID_API_KEY');
    });

    it('when an unauthenticated request carries a malformed body, then 401 comes first, not 400', async () => {
      const res = await api().post('/v1/api-keys').set('Content-Type', 'application/json').send('{"name": ');
      expectEnvelope(res, 401, 'INVALID_API_KEY');
    });
  });

  describe('key storage and presentation', () => {
    it('when a key is created, then only its SHA-256 is stored and the key text appears in no column of any table', async () => {
      const a = await createTenant();
      const created = await api().post('/v1/api-keys').set(a.auth).send({ name: 'stored' });
      expect(created.status).to.equal(201);
      const key: string = created.body.data.key;
      const row = await harness().db.owner('api_keys').where({ tenant_id: a.id, id: created.body.data.id }).first();
      expect(row.key_hash).to.equal(sha256(key));
      expect(row.key_hint).to.equal(key.slice(-4));
      for (const value of Object.values(row)) {
        if (typeof value === 'string') expect(value).not.to.contain(key.slice(8));
      }
      // Nowhere else either: no table holds the key or its secret part in clear.
      expect(await tablesContaining(key.slice(8))).to.deep.equal([]);
    });

    it('when a key is created with an Idempotency-Key, then the key text is still stored in no table (not even the idempotency record)', async () => {
      const a = await createTenant();
      const created = await api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'mint-once').send({ name: 'idempotent mint' });
      expect(created.status).to.equal(201);
      const key: string = created.body.data.key;
      // The idempotency record is written just after the response: wait until it is settled.
      await eventually(async () => (await harness().db.owner('idempotency_keys').where({ tenant_id: a.id, key: 'mint-once', state: 'completed' })).length === 1, 5000, 'idempotency record');
      expect(await tablesContaining(key.slice(8))).to.deep.equal([]);
    });

    it('when a key is created through the API, then 201 shows the full key once with key_hint = its last 4 characters', async () => {
      const a = await createTenant();
      const res = await api().post('/v1/api-keys').set(a.auth).send({ name: 'ci server' });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const data = res.body.data;
      expect(data.key).to.match(/^tf_live_[0-9A-Za-z]{32,}$/);
      expect(data.key_hint).to.equal(data.key.slice(-4));
      expect(data).to.include({ name: 'ci server', prefix: 'tf_live', permissions: 'full', status: 'active', sandbox: false, last_used_at: null });
      expect(data.id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(data).not.to.have.property('key_hash');
      // The new key works.
      expect((await api().get('/v1/api-keys').set(bearer(data.key))).status).to.equal(200);
    });

    it('when keys are listed or fetched, then neither the key nor its hash is ever included', async () => {
      const a = await createTenant();
      const created = await api().post('/v1/api-keys').set(a.auth).send({ name: 'hidden' });
      const key: string = created.body.data.key;
      const list = await api().get('/v1/api-keys').set(a.auth);
      expect(list.status).to.equal(200);
      expect(list.body.data).to.have.length(3);
      for (const item of list.body.data) {
        expect(item).not.to.have.property('key');
        expect(item).not.to.have.property('key_hash');
        expect(item.key_hint).to.be.a('string').with.length(4);
      }
      const one = await api().get(`/v1/api-keys/${created.body.data.id}`).set(a.auth);
      expect(one.status).to.equal(200);
      expect(one.body.data).not.to.have.property('key');
      expect(one.body.data).not.to.have.property('key_hash');
      expect(one.body.data.key_hint).to.equal(key.slice(-4));
      for (const text of [JSON.stringify(list.body), JSON.stringify(one.body)]) {
        expect(text).not.to.contain(key);
        expect(text).not.to.contain(sha256(key));
        expect(text).not.to.contain(a.key);
      }
    });

    it('when a sandbox (tf_test_) key tries to create a key, then 403 FORBIDDEN (keys are live state) and no key is made; a live key creates live keys', async () => {
      const a = await createTenant();
      const before = (await harness().db.owner('api_keys').where({ tenant_id: a.id }).select('id')).length;
      const res = await api().post('/v1/api-keys').set(a.sandboxAuth).send({ name: 'from sandbox' });
      expect(res.status).to.equal(403);
      expect(res.body.code).to.equal('FORBIDDEN');
      expect((await harness().db.owner('api_keys').where({ tenant_id: a.id }).select('id')).length).to.equal(before);
      const live = await api().post('/v1/api-keys').set(a.auth).send({ name: 'from live' });
      expect(live.body.data.key).to.match(/^tf_live_/);
    });

    it('when tenant A lists its keys, then it sees exactly its own keys and none of tenant B\'s', async () => {
      const a = await createTenant();
      const b = await createTenant();
      const res = await api().get('/v1/api-keys').set(a.auth);
      expect(res.status).to.equal(200);
      const ids = res.body.data.map((item: { id: string }) => item.id);
      const own = (await harness().db.owner('api_keys').where({ tenant_id: a.id }).select('id')).map((row) => row.id);
      const theirs = (await harness().db.owner('api_keys').where({ tenant_id: b.id }).select('id')).map((row) => row.id);
      expect(ids).to.have.members(own);
      for (const id of theirs) expect(ids).not.to.include(id);
      expect((await api().get(`/v1/api-keys/${theirs[0]}`).set(a.auth)).status).to.equal(404);
    });

    it('when a key has been used and usage is flushed, then last_used_at is set and the call is counted', async () => {
      const a = await createTenant();
      const fresh = await operatorKey(a.id);
      const before = await api().get(`/v1/api-keys/${fresh.id}`).set(a.auth);
      expect(before.body.data.last_used_at).to.equal(null);
      const start = Date.now();
      for (let i = 0; i < 3; i += 1) expect((await api().get('/v1/api-keys').set(bearer(fresh.key))).status).to.equal(200);
      await harness().api.auth.flush();
      const seen = await eventually(async () => {
        const res = await api().get(`/v1/api-keys/${fresh.id}`).set(a.auth);
        return res.body.data.last_used_at as string | null;
      }, 5000, 'last_used_at');
      expect(new Date(seen).getTime()).to.be.within(start - 2000, Date.now() + 2000);
      await eventually(async () => {
        const rows = await harness().db.owner('api_call_counts').where({ tenant_id: a.id, api_key_id: fresh.id });
        return rows.reduce((sum, row) => sum + Number(row.calls), 0) === 3;
      }, 5000, 'api call count of 3');
    });
  });

  describe('revocation, deactivation, suspension', () => {
    it('when a key is revoked, then the very next request with it is 401 although it was just cached', async () => {
      const a = await createTenant();
      const created = await api().post('/v1/api-keys').set(a.auth).send({ name: 'to revoke' });
      const key: string = created.body.data.key;
      expect((await api().get('/v1/api-keys').set(bearer(key))).status).to.equal(200); // now cached
      const revoked = await api().delete(`/v1/api-keys/${created.body.data.id}`).set(a.auth);
      expect(revoked.status).to.equal(200);
      expect(revoked.body.data).to.include({ id: created.body.data.id, status: 'revoked' });
      expect(revoked.body.data).not.to.have.property('key');
      expectEnvelope(await api().get('/v1/api-keys').set(bearer(key)), 401, 'INVALID_API_KEY');
      expect((await api().get(`/v1/api-keys/${created.body.data.id}`).set(a.auth)).status).to.equal(404);
      const list = await api().get('/v1/api-keys').set(a.auth);
      expect(list.body.data.map((item: { id: string }) => item.id)).not.to.include(created.body.data.id);
      // The other keys of the tenant keep working, and revoking twice is a 404.
      expect((await api().delete(`/v1/api-keys/${created.body.data.id}`).set(a.auth)).status).to.equal(404);
    });

    it('when a key revokes itself, then its next request is 401', async () => {
      const a = await createTenant();
      const created = await api().post('/v1/api-keys').set(a.auth).send({ name: 'self' });
      const key: string = created.body.data.key;
      expect((await api().delete(`/v1/api-keys/${created.body.data.id}`).set(bearer(key))).status).to.equal(200);
      expectEnvelope(await api().get('/v1/api-keys').set(bearer(key)), 401, 'INVALID_API_KEY');
    });

    it('when a never-used key is set inactive, then 403 KEY_INACTIVE; once active again it works after the cache window', async function () {
      this.timeout(20000);
      const a = await createTenant();
      const fresh = await operatorKey(a.id);
      await harness().db.owner('api_keys').where({ tenant_id: a.id, id: fresh.id }).update({ status: 'inactive' });
      expectEnvelope(await api().get('/v1/api-keys').set(bearer(fresh.key)), 403, 'KEY_INACTIVE');
      // Other keys of the tenant are unaffected.
      expect((await api().get('/v1/api-keys').set(a.auth)).status).to.equal(200);
      await harness().db.owner('api_keys').where({ tenant_id: a.id, id: fresh.id }).update({ status: 'active' });
      const cacheSeconds = harness().config.authCacheSeconds;
      await eventually(async () => (await api().get('/v1/api-keys').set(bearer(fresh.key))).status === 200, (cacheSeconds + 3) * 1000, 'reactivated key to work');
    });

    it('when the tenant of a never-used key is suspended in the database, then 403 TENANT_SUSPENDED', async () => {
      const a = await createTenant();
      const fresh = await operatorKey(a.id);
      await harness().db.owner('tenants').where({ id: a.id }).update({ status: 'suspended' });
      expectEnvelope(await api().get('/v1/api-keys').set(bearer(fresh.key)), 403, 'TENANT_SUSPENDED');
    });

    it('when the operator suspends a tenant, then its cached keys (live and test) get 403 TENANT_SUSPENDED at once, and reactivation restores access at once', async () => {
      const a = await createTenant();
      const b = await createTenant();
      expect((await api().get('/v1/api-keys').set(a.auth)).status).to.equal(200); // cached
      expect((await api().get('/v1/api-keys').set(a.sandboxAuth)).status).to.equal(200); // cached
      const suspended = await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ status: 'suspended' });
      expect(suspended.status).to.equal(200);
      expect(suspended.body.data.status).to.equal('suspended');
      expectEnvelope(await api().get('/v1/api-keys').set(a.auth), 403, 'TENANT_SUSPENDED');
      expectEnvelope(await api().get('/v1/api-keys').set(a.sandboxAuth), 403, 'TENANT_SUSPENDED');
      expectEnvelope(await api().post('/v1/api-keys').set(a.auth).send({ name: 'sneaky' }), 403, 'TENANT_SUSPENDED');
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'sneaky' })).to.have.length(0);
      // Another tenant is not affected.
      expect((await api().get('/v1/api-keys').set(b.auth)).status).to.equal(200);
      const reactivated = await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ status: 'active' });
      expect(reactivated.status).to.equal(200);
      expect((await api().get('/v1/api-keys').set(a.auth)).status).to.equal(200);
      expect((await api().get('/v1/api-keys').set(a.sandboxAuth)).status).to.equal(200);
    });
  });

  describe('permissions', () => {
    it('when a read_only key reads, then 200; when it writes or revokes, then 403 FORBIDDEN and nothing changes', async () => {
      const a = await createTenant();
      const created = await api().post('/v1/api-keys').set(a.auth).send({ name: 'reader', permissions: 'read_only' });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      expect(created.body.data.permissions).to.equal('read_only');
      const reader = bearer(created.body.data.key);
      expect((await api().get('/v1/api-keys').set(reader)).status).to.equal(200);
      expect((await api().get(`/v1/api-keys/${a.keyId}`).set(reader)).status).to.equal(200);
      expectEnvelope(await api().post('/v1/api-keys').set(reader).send({ name: 'escalate' }), 403, 'FORBIDDEN');
      expectEnvelope(await api().delete(`/v1/api-keys/${a.keyId}`).set(reader), 403, 'FORBIDDEN');
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'escalate' })).to.have.length(0);
      expect((await harness().db.owner('api_keys').where({ tenant_id: a.id, id: a.keyId }).first()).status).to.equal('active');
    });

    it('when the operator mints a read_only key, then it cannot write either', async () => {
      const a = await createTenant();
      const reader = await operatorKey(a.id, { permissions: 'read_only' });
      expect((await api().get('/v1/api-keys').set(bearer(reader.key))).status).to.equal(200);
      expectEnvelope(await api().post('/v1/api-keys').set(bearer(reader.key)).send({ name: 'x' }), 403, 'FORBIDDEN');
    });
  });

  describe('rate limits', () => {
    it('when the operator caps a tenant at N requests per minute, then all its keys together get N, not N each', async () => {
      if (new Date().getSeconds() > 55) await new Promise((resolve) => setTimeout(resolve, 6000));
      const a = await createTenant({ limits: { requests_per_minute: 3 } });
      const statuses: number[] = [];
      for (const auth of [a.auth, a.auth, a.sandboxAuth, a.sandboxAuth, a.auth]) statuses.push((await api().get('/v1/api-keys').set(auth)).status);
      expect(statuses).to.deep.equal([200, 200, 200, 429, 429]);
      const other = await createTenant({ limits: { requests_per_minute: 3 } });
      expect((await api().get('/v1/api-keys').set(other.auth)).status, 'another tenant has its own budget').to.equal(200);
    });

    it('when a key limited to 3/min makes requests, then the headers count down and the 4th is 429 RATE_LIMIT_EXCEEDED with Retry-After', async function () {
      this.timeout(30000);
      const a = await createTenant();
      const limited = await operatorKey(a.id, { rate_limit: 3 });
      await awayFromWindowEdge();
      const remaining: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const res = await api().get('/v1/api-keys').set(bearer(limited.key));
        expect(res.status).to.equal(200);
        expect(res.headers['x-ratelimit-limit']).to.equal('3');
        remaining.push(res.headers['x-ratelimit-remaining']);
        const reset = Number(res.headers['x-ratelimit-reset']);
        const now = Date.now() / 1000;
        expect(Number.isInteger(reset), 'X-RateLimit-Reset is whole epoch seconds').to.equal(true);
        expect(reset).to.be.greaterThan(now).and.at.most(now + 60);
      }
      expect(remaining).to.deep.equal(['2', '1', '0']);
      const blocked = await api().get('/v1/api-keys').set(bearer(limited.key));
      expectEnvelope(blocked, 429, 'RATE_LIMIT_EXCEEDED');
      expect(blocked.headers['x-ratelimit-limit']).to.equal('3');
      expect(blocked.headers['x-ratelimit-remaining']).to.equal('0');
      const retryAfter = Number(blocked.headers['retry-after']);
      expect(Number.isInteger(retryAfter)).to.equal(true);
      expect(retryAfter).to.be.within(1, 60);
      // Writes are limited too, and nothing is created.
      expectEnvelope(await api().post('/v1/api-keys').set(bearer(limited.key)).send({ name: 'over' }), 429, 'RATE_LIMIT_EXCEEDED');
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'over' })).to.have.length(0);
      // The limit is per key: another key of the same tenant still works.
      expect((await api().get('/v1/api-keys').set(a.auth)).status).to.equal(200);
    });

    it('when a key has no rate_limit of its own, then the plan\'s default applies (trial 60, growth 300 after an upgrade)', async () => {
      const a = await createTenant();
      const planKey = await operatorKey(a.id);
      const res = await api().get('/v1/api-keys').set(bearer(planKey.key));
      expect(res.headers['x-ratelimit-limit']).to.equal('60');
      await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ plan: 'growth' }).expect(200);
      const upgraded = await api().get('/v1/api-keys').set(bearer(planKey.key));
      expect(upgraded.headers['x-ratelimit-limit']).to.equal('300');
    });

    it('when a tenant key asks for a rate_limit above its plan (trial: 60), then 400; at the plan limit it is accepted', async () => {
      const a = await createTenant();
      const over = await api().post('/v1/api-keys').set(a.auth).send({ name: 'greedy', rate_limit: 61 });
      expectEnvelope(over, 400, 'VALIDATION_ERROR');
      expect(over.body.details.map((d: { path: string }) => d.path)).to.include('rate_limit');
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'greedy' })).to.have.length(0);
      const at = await api().post('/v1/api-keys').set(a.auth).send({ name: 'fair', rate_limit: 60 });
      expect(at.status).to.equal(201);
      expect(at.body.data.rate_limit).to.equal(60);
      const lower = await api().post('/v1/api-keys').set(a.auth).send({ name: 'lower', rate_limit: 7 });
      expect(lower.status).to.equal(201);
      const used = await api().get('/v1/api-keys').set(bearer(lower.body.data.key));
      expect(used.headers['x-ratelimit-limit']).to.equal('7');
    });

    it('when the rate_limit is not a positive integer, then 400 VALIDATION_ERROR', async () => {
      const a = await createTenant();
      for (const rateLimit of [0, -1, 1.5, '10']) {
        const res = await api().post('/v1/api-keys').set(a.auth).send({ name: 'bad', rate_limit: rateLimit });
        expectEnvelope(res, 400, 'VALIDATION_ERROR');
      }
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'bad' })).to.have.length(0);
    });
  });

  describe('across processes', () => {
    let other: ApiApp;
    let subscriber: Redis;
    let tenant: TestTenant;

    before(async () => {
      const h = harness();
      subscriber = createRedis(h.config.redisUrl, 'worker');
      other = createApiApp({ config: h.config, db: h.db, redis: h.redis, subscriber, queues: h.queues, log: logger });
      // Commands on one connection are answered in order: once PING answers, the app's SUBSCRIBE has too.
      await subscriber.ping();
    });

    after(async () => {
      await other.close();
      subscriber.disconnect();
    });

    beforeEach(async () => {
      tenant = await createTenant();
    });

    describe('a process that hears no invalidation broadcasts', () => {
      let deaf: ApiApp;
      let deadSubscriber: Redis;

      before(() => {
        const h = harness();
        // A subscriber that can never connect: this process only has its own, local invalidation.
        deadSubscriber = createRedis('redis://127.0.0.1:1', 'producer', { retryStrategy: () => null, lazyConnect: true });
        deadSubscriber.on('error', () => undefined);
        deaf = createApiApp({ config: h.config, db: h.db, redis: h.redis, subscriber: deadSubscriber, queues: h.queues, log: logger });
      });

      after(async () => {
        await deaf.close();
        deadSubscriber.disconnect();
      });

      it('when it revokes a key it has cached, then its very next request with that key is 401', async () => {
        const created = await supertest(deaf.app).post('/v1/api-keys').set(tenant.auth).send({ name: 'local' });
        const key: string = created.body.data.key;
        expect((await supertest(deaf.app).get('/v1/api-keys').set(bearer(key))).status).to.equal(200);
        await supertest(deaf.app).delete(`/v1/api-keys/${created.body.data.id}`).set(tenant.auth).expect(200);
        expect((await supertest(deaf.app).get('/v1/api-keys').set(bearer(key))).status).to.equal(401);
      });

      it('when it suspends a tenant whose key it has cached, then its very next request is 403 TENANT_SUSPENDED', async () => {
        expect((await supertest(deaf.app).get('/v1/api-keys').set(tenant.auth)).status).to.equal(200);
        await supertest(deaf.app).patch(`/admin/tenants/${tenant.id}`).set(adminHeaders()).send({ status: 'suspended' }).expect(200);
        const res = await supertest(deaf.app).get('/v1/api-keys').set(tenant.auth);
        expect(res.status).to.equal(403);
        expect(res.body.code).to.equal('TENANT_SUSPENDED');
      });
    });

    it('when a key cached by another API process is revoked here, then that process refuses it well before its cache would expire', async () => {
      const created = await api().post('/v1/api-keys').set(tenant.auth).send({ name: 'shared' });
      const key: string = created.body.data.key;
      expect((await supertest(other.app).get('/v1/api-keys').set(bearer(key))).status).to.equal(200); // cached over there
      await api().delete(`/v1/api-keys/${created.body.data.id}`).set(tenant.auth).expect(200);
      const limitMs = Math.max(500, harness().config.authCacheSeconds * 1000 - 2000);
      await eventually(async () => (await supertest(other.app).get('/v1/api-keys').set(bearer(key))).status === 401, limitMs, 'revocation to reach the other process');
    });

    it('when a tenant whose key is cached by another process is suspended here, then that process answers 403 TENANT_SUSPENDED promptly', async () => {
      expect((await supertest(other.app).get('/v1/api-keys').set(tenant.auth)).status).to.equal(200);
      await api().patch(`/admin/tenants/${tenant.id}`).set(adminHeaders()).send({ status: 'suspended' }).expect(200);
      const limitMs = Math.max(500, harness().config.authCacheSeconds * 1000 - 2000);
      const res = await eventually(async () => {
        const attempt = await supertest(other.app).get('/v1/api-keys').set(tenant.auth);
        return attempt.status === 403 ? attempt : null;
      }, limitMs, 'suspension to reach the other process');
      expect(res.body.code).to.equal('TENANT_SUSPENDED');
    });
  });
});
