import { expect } from 'chai';
import supertest from 'supertest';
import type { Redis } from 'ioredis';
import { generateKeyPair, UnsecuredJWT } from 'jose';
import { adminHeaders, api, createTenant, eventually, harness } from '../helpers/harness';
import { startJwksServer, JwksServer } from '../helpers/jwks-server';
import { createApiApp, ApiApp } from '../../api/app';
import { loadConfig } from '../../shared/config';
import { createRedis } from '../../shared/redis';
import { newId } from '../../shared/ids';
import { logger } from '../../shared/logger';

describe('portal users: JWT verified against a JWKS', () => {
  let jwks: JwksServer;
  let portal: ApiApp;
  let subscriber: Redis;

  const portalApi = () => supertest(portal.app);
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

  before(async () => {
    jwks = await startJwksServer();
    const h = harness();
    const config = loadConfig({
      ...h.env,
      JWT_JWKS_URL: jwks.url,
      JWT_ISSUER: jwks.issuer,
      JWT_AUDIENCE: jwks.audience,
      JWT_TENANT_CLAIM: 'tenant_id',
    });
    expect(config.jwt).to.not.equal(null);
    subscriber = createRedis(config.redisUrl, 'worker');
    portal = createApiApp({ config, db: h.db, redis: h.redis, subscriber, queues: h.queues, log: logger });
    // Commands on one connection are answered in order: once PING answers, the app's SUBSCRIBE has too.
    await subscriber.ping();
  });

  after(async () => {
    await portal.close();
    subscriber.disconnect();
    await jwks.close();
  });

  it('when a valid token carries tenant A\'s id, then GET /v1/api-keys is 200 and lists exactly A\'s keys', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const token = await jwks.sign({ sub: 'user_1', tenant_id: a.id });
    const res = await portalApi().get('/v1/api-keys').set(bearer(token));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const ids = res.body.data.map((item: { id: string }) => item.id);
    const own = (await harness().db.owner('api_keys').where({ tenant_id: a.id }).select('id')).map((row) => row.id);
    const theirs = (await harness().db.owner('api_keys').where({ tenant_id: b.id }).select('id')).map((row) => row.id);
    expect(ids).to.have.members(own);
    for (const id of theirs) expect(ids).not.to.include(id);
    expect(jwks.hits()).to.be.greaterThan(0);
  });

  it('when a portal user creates a key, then it belongs to the token\'s tenant and works', async () => {
    const a = await createTenant();
    const token = await jwks.sign({ sub: 'user_2', tenant_id: a.id });
    const res = await portalApi().post('/v1/api-keys').set(bearer(token)).send({ name: 'from the dashboard' });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    expect(res.body.data.key).to.match(/^tf_live_/);
    const row = await harness().db.owner('api_keys').where({ id: res.body.data.id }).first();
    expect(row.tenant_id).to.equal(a.id);
    expect((await api().get('/v1/api-keys').set(bearer(res.body.data.key))).status).to.equal(200);
  });

  it('when a portal user asks for another tenant\'s key by id, then 404', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const token = await jwks.sign({ sub: 'user_3', tenant_id: a.id });
    const res = await portalApi().get(`/v1/api-keys/${b.keyId}`).set(bearer(token));
    expect(res.status).to.equal(404);
    expect(res.body.code).to.equal('NOT_FOUND');
    expect((await portalApi().delete(`/v1/api-keys/${b.keyId}`).set(bearer(token))).status).to.equal(404);
    expect((await harness().db.owner('api_keys').where({ tenant_id: b.id, id: b.keyId }).first()).status).to.equal('active');
  });

  it('when API keys are used on the JWT-enabled app, then they still work', async () => {
    const a = await createTenant();
    expect((await portalApi().get('/v1/api-keys').set(a.auth)).status).to.equal(200);
  });

  describe('rejected tokens', () => {
    const cases: Array<[string, (tenantId: string) => Promise<string>]> = [
      ['the issuer is wrong', (t) => jwks.sign({ sub: 'u', tenant_id: t }, { issuer: 'https://evil.example.test' })],
      ['the issuer is missing', (t) => jwks.sign({ sub: 'u', tenant_id: t }, { issuer: null })],
      ['the audience is wrong', (t) => jwks.sign({ sub: 'u', tenant_id: t }, { audience: 'another-app' })],
      ['the audience is missing', (t) => jwks.sign({ sub: 'u', tenant_id: t }, { audience: null })],
      ['it expired', (t) => jwks.sign({ sub: 'u', tenant_id: t }, { expiresIn: Math.floor(Date.now() / 1000) - 600 })],
      ['it has no expiry', (t) => jwks.sign({ sub: 'u', tenant_id: t }, { expiresIn: null })],
      ['it is not valid yet', (t) => jwks.sign({ sub: 'u', tenant_id: t, nbf: Math.floor(Date.now() / 1000) + 3600 })],
      [
        'it is signed by another key under the published kid',
        async (t) => jwks.sign({ sub: 'u', tenant_id: t }, { key: (await generateKeyPair('RS256')).privateKey }),
      ],
      [
        'it is signed by another key without a kid',
        async (t) => jwks.sign({ sub: 'u', tenant_id: t }, { key: (await generateKeyPair('RS256')).privateKey, kid: null }),
      ],
      [
        'it is unsigned (alg none)',
        async (t) =>
          new UnsecuredJWT({ sub: 'u', tenant_id: t }).setIssuer(jwks.issuer).setAudience(jwks.audience).setIssuedAt().setExpirationTime('5m').encode(),
      ],
      [
        'its payload was altered after signing',
        async (t) => {
          const genuine = await jwks.sign({ sub: 'u', tenant_id: newId() });
          const [header, , signature] = genuine.split('.');
          const forged = Buffer.from(
            JSON.stringify({ sub: 'u', tenant_id: t, iss: jwks.issuer, aud: jwks.audience, exp: Math.floor(Date.now() / 1000) + 300 }),
          ).toString('base64url');
          return `${header}.${forged}.${signature}`;
        },
      ],
      ['the tenant claim is missing', () => jwks.sign({ sub: 'u' })],
      ['the tenant is under another claim name', (t) => jwks.sign({ sub: 'u', org_id: t })],
      ['the tenant claim is not a string', () => jwks.sign({ sub: 'u', tenant_id: 42 })],
      ['the tenant claim names no tenant', () => jwks.sign({ sub: 'u', tenant_id: newId() })],
    ];
    for (const [label, make] of cases) {
      it(`when ${label}, then 401 INVALID_API_KEY`, async () => {
        const a = await createTenant();
        const token = await make(a.id);
        const res = await portalApi().get('/v1/api-keys').set(bearer(token));
        expect(res.status, JSON.stringify(res.body)).to.equal(401);
        expect(res.body.code).to.equal('INVALID_API_KEY');
        expect(res.body.error).to.be.a('string');
        expect(JSON.stringify(res.body)).not.to.contain(a.keyId);
      });
    }

    it('when a valid token is sent to an app without JWT configuration, then 401', async () => {
      const a = await createTenant();
      const token = await jwks.sign({ sub: 'u', tenant_id: a.id });
      const res = await api().get('/v1/api-keys').set(bearer(token));
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('INVALID_API_KEY');
    });
  });

  describe('suspended tenants', () => {
    it('when the token\'s tenant is suspended, then 403 TENANT_SUSPENDED', async () => {
      const a = await createTenant();
      await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ status: 'suspended' }).expect(200);
      const token = await jwks.sign({ sub: 'user_s', tenant_id: a.id });
      const res = await portalApi().get('/v1/api-keys').set(bearer(token));
      expect(res.status).to.equal(403);
      expect(res.body.code).to.equal('TENANT_SUSPENDED');
    });

    it('when a tenant whose portal user was just served is suspended by the operator, then the portal app refuses promptly, and serves again once reactivated', async () => {
      const a = await createTenant();
      const token = await jwks.sign({ sub: 'user_t', tenant_id: a.id });
      expect((await portalApi().get('/v1/api-keys').set(bearer(token))).status).to.equal(200); // cached by the portal app
      await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ status: 'suspended' }).expect(200);
      const limitMs = Math.max(500, harness().config.authCacheSeconds * 1000 - 2000);
      const refused = await eventually(async () => {
        const res = await portalApi().get('/v1/api-keys').set(bearer(token));
        return res.status === 403 ? res : null;
      }, limitMs, 'the suspension to reach the portal app');
      expect(refused.body.code).to.equal('TENANT_SUSPENDED');
      await api().patch(`/admin/tenants/${a.id}`).set(adminHeaders()).send({ status: 'active' }).expect(200);
      await eventually(async () => (await portalApi().get('/v1/api-keys').set(bearer(token))).status === 200, limitMs, 'reactivation to reach the portal app');
    });
  });

  it('when a portal user calls the API, then the plan\'s rate limit headers are present', async () => {
    const a = await createTenant();
    const token = await jwks.sign({ sub: 'user_r', tenant_id: a.id });
    const res = await portalApi().get('/v1/api-keys').set(bearer(token));
    expect(res.status).to.equal(200);
    expect(res.headers['x-ratelimit-limit']).to.equal('60');
    expect(Number(res.headers['x-ratelimit-remaining'])).to.be.within(0, 59);
  });

  describe('configuration', () => {
    const base = () => ({ ...harness().env, JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json', JWT_ISSUER: 'https://idp.example.com', JWT_AUDIENCE: 'senderz' });
    it('when JWT_JWKS_URL is set without JWT_ISSUER or JWT_AUDIENCE, then the configuration is refused naming the missing one', () => {
      expect(() => loadConfig({ ...base(), JWT_ISSUER: '' })).to.throw(/JWT_ISSUER is required when JWT_JWKS_URL is set/);
      expect(() => loadConfig({ ...base(), JWT_AUDIENCE: '' })).to.throw(/JWT_AUDIENCE is required when JWT_JWKS_URL is set/);
      expect(loadConfig(base()).jwt).to.include({ issuer: 'https://idp.example.com', audience: 'senderz' });
    });

    it('when NODE_ENV=production and the JWKS URL is plain http, then the configuration is refused; outside production it is allowed', () => {
      const production = { ...base(), NODE_ENV: 'production', JWT_JWKS_URL: 'http://idp.example.com/jwks.json' };
      expect(() => loadConfig(production)).to.throw(/JWT_JWKS_URL must be an https:\/\/ URL when NODE_ENV=production/);
      expect(loadConfig({ ...base(), JWT_JWKS_URL: 'http://127.0.0.1:9/jwks.json' }).jwt?.jwksUrl).to.equal('http://127.0.0.1:9/jwks.json');
    });
  });
});
