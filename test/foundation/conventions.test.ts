import { expect } from 'chai';
import express from 'express';
import supertest from 'supertest';
import knex from 'knex';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { healthRoutes } from '../../api/routes/health';
import { createRedis } from '../../shared/redis';
import { createApiApp } from '../../api/app';
import { createDatabase } from '../../shared/db';
import { loadConfig } from '../../shared/config';
import { logger } from '../../shared/logger';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function expectError(res: supertest.Response, status: number, code: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.headers['content-type']).to.match(/application\/json/);
  expect(res.body.code).to.equal(code);
  expect(res.body.error).to.be.a('string').and.have.length.above(0);
}

async function keyCount(tenantId: string): Promise<number> {
  return (await harness().db.owner('api_keys').where({ tenant_id: tenantId })).length;
}

describe('API conventions', () => {
  describe('request bodies', () => {
    it('when the body is malformed JSON, then 400 INVALID_JSON and nothing is created', async () => {
      const a = await createTenant();
      const res = await api().post('/v1/api-keys').set(a.auth).set('Content-Type', 'application/json').send('{"name": "x",');
      expectError(res, 400, 'INVALID_JSON');
      expect(await keyCount(a.id)).to.equal(2);
    });

    it('when the body is larger than the limit, then 413 PAYLOAD_TOO_LARGE', async () => {
      const a = await createTenant();
      const big = JSON.stringify({ name: 'x'.repeat(harness().config.bodyLimitBytes + 1024) });
      const res = await api().post('/v1/api-keys').set(a.auth).set('Content-Type', 'application/json').send(big);
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      expect(await keyCount(a.id)).to.equal(2);
    });

    it('when the body is not a JSON object, then 400 VALIDATION_ERROR', async () => {
      const a = await createTenant();
      for (const body of ['[]', '"name"', '42', 'null']) {
        const res = await api().post('/v1/api-keys').set(a.auth).set('Content-Type', 'application/json').send(body);
        expectError(res, 400, 'VALIDATION_ERROR');
      }
      expectError(await api().post('/v1/api-keys').set(a.auth), 400, 'VALIDATION_ERROR');
      expect(await keyCount(a.id)).to.equal(2);
    });

    for (const [field, value] of [
      ['tenant_id', 'OTHER'],
      ['status', 'active'],
      ['prefix', 'tf_live'],
      ['key_hash', 'deadbeef'],
      ['id', '01J00000000000000000000000'],
      ['created_by', 'operator'],
    ] as const) {
      it(`when POST /v1/api-keys carries the server-owned field "${field}", then 400 VALIDATION_ERROR naming it in details and no row is created`, async () => {
        const a = await createTenant();
        const b = await createTenant();
        const res = await api()
          .post('/v1/api-keys')
          .set(a.auth)
          .send({ name: 'mass-assign', [field]: value === 'OTHER' ? b.id : value });
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(res.body.details).to.be.an('array');
        const detail = res.body.details.find((d: { path: string }) => d.path === field);
        expect(detail, JSON.stringify(res.body.details)).not.to.equal(undefined);
        expect(detail.message).to.be.a('string').and.have.length.above(0);
        expect(await harness().db.owner('api_keys').where({ name: 'mass-assign' }).whereIn('tenant_id', [a.id, b.id])).to.have.length(0);
      });
    }

    it('when a required field is missing or of the wrong type, then details name it', async () => {
      const a = await createTenant();
      const missing = await api().post('/v1/api-keys').set(a.auth).send({ permissions: 'full' });
      expectError(missing, 400, 'VALIDATION_ERROR');
      expect(missing.body.details.map((d: { path: string }) => d.path)).to.include('name');
      const wrong = await api().post('/v1/api-keys').set(a.auth).send({ name: 'x', permissions: 'admin' });
      expectError(wrong, 400, 'VALIDATION_ERROR');
      expect(wrong.body.details.map((d: { path: string }) => d.path)).to.include('permissions');
    });
  });

  describe('routes and query parameters', () => {
    it('when an unknown route is requested, then 404 NOT_FOUND in the error envelope', async () => {
      const a = await createTenant();
      expectError(await api().get('/v1/no-such-thing').set(a.auth), 404, 'NOT_FOUND');
      expectError(await api().put('/v1/api-keys').set(a.auth).send({ name: 'x' }), 404, 'NOT_FOUND');
      expectError(await api().get('/no-such-thing'), 404, 'NOT_FOUND');
    });

    it('when an unknown /v1 route is requested without credentials, then 401 (no route discovery without a key)', async () => {
      expectError(await api().get('/v1/no-such-thing'), 401, 'INVALID_API_KEY');
    });

    it('when an unknown id is requested, then 404 NOT_FOUND', async () => {
      const a = await createTenant();
      expectError(await api().get('/v1/api-keys/01J00000000000000000000000').set(a.auth), 404, 'NOT_FOUND');
      expectError(await api().get('/v1/api-keys/not-an-id').set(a.auth), 404, 'NOT_FOUND');
    });

    it('when a list gets an unknown query parameter, then 400 VALIDATION_ERROR', async () => {
      const a = await createTenant();
      const res = await api().get('/v1/api-keys?colour=red').set(a.auth);
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(JSON.stringify(res.body.details)).to.contain('colour');
    });

    for (const limit of ['0', '101', '-1', 'abc', '2.5']) {
      it(`when limit=${limit}, then 400 VALIDATION_ERROR`, async () => {
        const a = await createTenant();
        expectError(await api().get(`/v1/api-keys?limit=${limit}`).set(a.auth), 400, 'VALIDATION_ERROR');
      });
    }

    it('when limit is 1 or 100, then it is accepted', async () => {
      const a = await createTenant();
      const one = await api().get('/v1/api-keys?limit=1').set(a.auth);
      expect(one.status).to.equal(200);
      expect(one.body.data).to.have.length(1);
      expect((await api().get('/v1/api-keys?limit=100').set(a.auth)).status).to.equal(200);
    });

    it('when a list is walked with next_cursor, then every record appears exactly once and the last page has next_cursor null', async () => {
      const a = await createTenant();
      for (let i = 0; i < 5; i += 1) await api().post('/v1/api-keys').set(a.auth).send({ name: `page ${i}` }).expect(201);
      const all = (await harness().db.owner('api_keys').where({ tenant_id: a.id }).select('id')).map((row) => row.id);
      expect(all).to.have.length(7);

      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      do {
        const res: supertest.Response = await api()
          .get(`/v1/api-keys?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
          .set(a.auth);
        expect(res.status).to.equal(200);
        expect(res.body).to.have.all.keys('data', 'next_cursor');
        sizes.push(res.body.data.length);
        seen.push(...res.body.data.map((k: { id: string }) => k.id));
        cursor = res.body.next_cursor;
      } while (cursor && sizes.length < 10);
      expect(sizes).to.deep.equal([3, 3, 1]);
      expect(cursor).to.equal(null);
      expect(new Set(seen).size).to.equal(seen.length);
      expect(seen).to.have.members(all);
    });

    it('when the page is exactly full, then next_cursor is null rather than pointing at an empty page', async () => {
      const a = await createTenant();
      const res = await api().get('/v1/api-keys?limit=2').set(a.auth);
      expect(res.body.data).to.have.length(2);
      expect(res.body.next_cursor).to.equal(null);
    });

    it('when the cursor is garbage, then 400 VALIDATION_ERROR naming cursor', async () => {
      const a = await createTenant();
      for (const cursor of [Buffer.from('<script>').toString('base64url'), Buffer.from("' OR 1=1 --").toString('base64url'), 'x'.repeat(300)]) {
        const res = await api().get(`/v1/api-keys?cursor=${encodeURIComponent(cursor)}`).set(a.auth);
        expectError(res, 400, 'VALIDATION_ERROR');
        expect(JSON.stringify(res.body.details)).to.contain('cursor');
      }
    });
  });

  describe('Idempotency-Key', () => {
    it('when the same key and body are sent twice, then the first response is replayed and only one record exists', async () => {
      const a = await createTenant();
      const first = await api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'create-ci-key-1').send({ name: 'idem' });
      expect(first.status).to.equal(201);
      expect(first.headers).not.to.have.property('idempotent-replayed');
      const second = await api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'create-ci-key-1').send({ name: 'idem' });
      expect(second.status, JSON.stringify(second.body)).to.equal(201);
      expect(second.headers['idempotent-replayed']).to.equal('true');
      expect(second.body.data.id).to.equal(first.body.data.id);
      expect(second.body.data.name).to.equal('idem');
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'idem' })).to.have.length(1);
    });

    it('when the same key is reused with a different body, then 409 IDEMPOTENCY_CONFLICT and nothing new is created', async () => {
      const a = await createTenant();
      await api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'k-conflict').send({ name: 'first' }).expect(201);
      const res = await api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'k-conflict').send({ name: 'second' });
      expectError(res, 409, 'IDEMPOTENCY_CONFLICT');
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'second' })).to.have.length(0);
    });

    it('when two identical requests with the same key race, then exactly one record is created and both answers agree', async () => {
      const a = await createTenant();
      const send = () => api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'race-1').send({ name: 'racer' });
      const [one, two] = await Promise.all([send(), send()]);
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'racer' })).to.have.length(1);
      const statuses = [one.status, two.status].sort();
      if (statuses[0] === 201 && statuses[1] === 201) {
        expect(one.body.data.id).to.equal(two.body.data.id);
      } else {
        expect(statuses, JSON.stringify([one.body, two.body])).to.deep.equal([201, 409]);
        const conflict = one.status === 409 ? one : two;
        expect(conflict.body.code).to.equal('IDEMPOTENCY_CONFLICT');
      }
    });

    it('when many identical requests with the same key race, then still exactly one record is created', async () => {
      const a = await createTenant();
      const results = await Promise.all(
        Array.from({ length: 8 }, () => api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'race-8').send({ name: 'swarm' })),
      );
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'swarm' })).to.have.length(1);
      const created = results.filter((r) => r.status === 201);
      expect(created.length).to.be.greaterThan(0);
      expect(new Set(created.map((r) => r.body.data.id)).size).to.equal(1);
      for (const r of results) expect([201, 409]).to.include(r.status);
    });

    it('when two tenants use the same Idempotency-Key, then each gets its own record', async () => {
      const a = await createTenant();
      const b = await createTenant();
      const ra = await api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'shared-key').send({ name: 'mine' });
      const rb = await api().post('/v1/api-keys').set(b.auth).set('Idempotency-Key', 'shared-key').send({ name: 'mine' });
      expect(ra.status).to.equal(201);
      expect(rb.status).to.equal(201);
      expect(rb.headers).not.to.have.property('idempotent-replayed');
      expect(rb.body.data.id).not.to.equal(ra.body.data.id);
      expect(rb.body.data.key).not.to.equal(ra.body.data.key);
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'mine' })).to.have.length(1);
      expect(await harness().db.owner('api_keys').where({ tenant_id: b.id, name: 'mine' })).to.have.length(1);
      // And a different body under the same key in tenant B does not collide with A's.
      const rb2 = await api().post('/v1/api-keys').set(b.auth).set('Idempotency-Key', 'other').send({ name: 'x' });
      expect(rb2.status).to.equal(201);
    });

    it('when no Idempotency-Key is sent, then two identical POSTs create two records', async () => {
      const a = await createTenant();
      await api().post('/v1/api-keys').set(a.auth).send({ name: 'twice' }).expect(201);
      await api().post('/v1/api-keys').set(a.auth).send({ name: 'twice' }).expect(201);
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'twice' })).to.have.length(2);
    });

    it('when the Idempotency-Key is longer than 255 characters, then 400 and nothing is created', async () => {
      const a = await createTenant();
      const res = await api().post('/v1/api-keys').set(a.auth).set('Idempotency-Key', 'k'.repeat(256)).send({ name: 'long' });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(await harness().db.owner('api_keys').where({ tenant_id: a.id, name: 'long' })).to.have.length(0);
    });

    it('when a body nested 100,000 levels deep carries an Idempotency-Key, then it gets the same 400 as without the key, replayed on retry', async () => {
      const a = await createTenant();
      const deep = (inner: string) => '['.repeat(100000) + inner + ']'.repeat(100000);
      const post = (body: string, key?: string) => {
        const request = api().post('/v1/api-keys').set(a.auth).set('Content-Type', 'application/json');
        return (key ? request.set('Idempotency-Key', key) : request).send(body);
      };
      const withoutKey = await post(deep(''));
      expectError(withoutKey, 400, 'VALIDATION_ERROR');
      const first = await post(deep(''), 'deep-body');
      expectError(first, 400, 'VALIDATION_ERROR');
      const retry = await post(deep(''), 'deep-body');
      expectError(retry, 400, 'VALIDATION_ERROR');
      expect(retry.headers['idempotent-replayed']).to.equal('true');
      expectError(await post(deep('1'), 'deep-body'), 409, 'IDEMPOTENCY_CONFLICT');
      expect(await keyCount(a.id)).to.equal(2);
    });

    it('when consent metadata is nested (even thousands of levels deep), then 400 naming metadata, replayed on retry, and nothing is stored', async () => {
      const a = await createTenant();
      const metadata = '{"a":'.repeat(3500) + '1' + '}'.repeat(3500);
      const body = `{"phone_number":"+15550107777","consent_type":"express","consent_source":"web form","metadata":${metadata}}`;
      const post = () => api().post('/v1/compliance/consent').set(a.auth).set('Content-Type', 'application/json').set('Idempotency-Key', 'deep-echo').send(body);
      const first = await post();
      expectError(first, 400, 'VALIDATION_ERROR');
      expect(JSON.stringify(first.body)).to.include('metadata');
      const retry = await post();
      expectError(retry, 400, 'VALIDATION_ERROR');
      expect(retry.headers['idempotent-replayed']).to.equal('true');
      const flat = await api().post('/v1/compliance/consent').set(a.auth).send({ phone_number: '+15550107777', consent_type: 'express', consent_source: 'web form', metadata: { form: 'signup-v2', page: 3, double_opt_in: true } });
      expect(flat.status, JSON.stringify(flat.body)).to.equal(201);
      expect(flat.body.data.metadata).to.deep.equal({ form: 'signup-v2', page: 3, double_opt_in: true });
      expect(await harness().db.owner('consent_logs').where({ tenant_id: a.id })).to.have.length(1);
    });
  });

  describe('storage unavailable', () => {
    it('when PostgreSQL cannot be reached, then tenant requests get 503 SERVICE_UNAVAILABLE with Retry-After, never 500', async () => {
      const a = await createTenant();
      // The same platform, but its database is a port nothing listens on (a restart, a failover).
      const env = { ...harness().env, DATABASE_URL: 'postgres://senderz@127.0.0.1:1/senderz' };
      const config = loadConfig(env);
      const db = createDatabase(config);
      const subscriber = createRedis(config.redisUrl, 'worker');
      const down = createApiApp({ config, db, redis: harness().redis, subscriber, queues: harness().queues, log: logger });
      try {
        for (const request of [
          supertest(down.app).post('/v1/messages').set(a.auth).set('Idempotency-Key', 'outage-1').send({ to: '+15550101234', body: 'hello' }),
          supertest(down.app).get('/v1/messages').set(a.auth),
        ]) {
          const res = await request;
          expectError(res, 503, 'SERVICE_UNAVAILABLE');
          expect(res.headers['retry-after']).to.equal('1');
          expect(res.body.error).to.match(/retry/i);
        }
      } finally {
        await down.close();
        await db.destroy();
        subscriber.disconnect();
      }
      expect(await harness().db.owner('messages').where({ tenant_id: a.id })).to.have.length(0);
    });
  });

  describe('request ids', () => {
    it('when X-Request-Id is given, then it is echoed back', async () => {
      const res = await api().get('/healthz').set('X-Request-Id', 'trace-abc.123_XYZ');
      expect(res.headers['x-request-id']).to.equal('trace-abc.123_XYZ');
    });

    it('when no X-Request-Id is given, then a fresh one is generated for every response, errors included', async () => {
      const one = await api().get('/healthz');
      const two = await api().get('/v1/api-keys');
      expect(one.headers['x-request-id']).to.match(ULID);
      expect(two.status).to.equal(401);
      expect(two.headers['x-request-id']).to.match(ULID);
      expect(two.headers['x-request-id']).not.to.equal(one.headers['x-request-id']);
    });

    it('when X-Request-Id is unsafe (spaces, newline-like or too long), then a generated id replaces it', async () => {
      for (const given of ['has spaces', '<script>', 'x'.repeat(65)]) {
        const res = await api().get('/healthz').set('X-Request-Id', given);
        expect(res.headers['x-request-id']).to.match(ULID);
      }
    });
  });

  describe('health', () => {
    it('when GET /healthz, then 200', async () => {
      const res = await api().get('/healthz');
      expect(res.status).to.equal(200);
    });

    it('when GET /readyz with PostgreSQL and Redis up, then 200 naming both up', async () => {
      const res = await api().get('/readyz');
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ postgresql: 'up', redis: 'up' });
    });

    it('when Redis does not answer, then /readyz is 503 and says redis is down', async function () {
      this.timeout(15000);
      const deadRedis = createRedis('redis://127.0.0.1:1', 'producer', { retryStrategy: () => null, lazyConnect: true });
      deadRedis.on('error', () => undefined);
      const app = express().use(healthRoutes({ db: harness().db, redis: deadRedis }));
      try {
        const res = await supertest(app).get('/readyz');
        expect(res.status).to.equal(503);
        expect(res.body).to.include({ postgresql: 'up', redis: 'down' });
        expect((await supertest(app).get('/healthz')).status).to.equal(200);
      } finally {
        deadRedis.disconnect();
      }
    });

    it('when PostgreSQL does not answer, then /readyz is 503 and says postgresql is down', async function () {
      this.timeout(15000);
      const quiet = { warn() {}, error() {}, debug() {}, deprecate() {} };
      const dead = knex({ client: 'pg', connection: 'postgres://nobody@127.0.0.1:1/none', pool: { min: 0, max: 1 }, log: quiet });
      const deadDb = { app: dead, owner: dead, destroy: () => dead.destroy() };
      const app = express().use(healthRoutes({ db: deadDb, redis: harness().redis }));
      try {
        const res = await supertest(app).get('/readyz');
        expect(res.status).to.equal(503);
        expect(res.body).to.include({ postgresql: 'down', redis: 'up' });
      } finally {
        await deadDb.destroy();
      }
    });
  });

  describe('tenant isolation of ids', () => {
    let a: TestTenant;
    let b: TestTenant;
    beforeEach(async () => {
      a = await createTenant();
      b = await createTenant();
    });

    it('when tenant B revokes tenant A\'s key id, then 404 (indistinguishable from unknown) and A\'s key keeps working', async () => {
      const res = await api().delete(`/v1/api-keys/${a.keyId}`).set(b.auth);
      expectError(res, 404, 'NOT_FOUND');
      const unknown = await api().delete('/v1/api-keys/01J00000000000000000000000').set(b.auth);
      expect(res.body).to.deep.equal(unknown.body);
      expect((await api().get('/v1/api-keys').set(a.auth)).status).to.equal(200);
    });
  });
});
