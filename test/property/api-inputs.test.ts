import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { expect } from 'chai';
import { adminHeaders, api, createTenant, harness, TestTenant } from '../helpers/harness';
import { arbitraryFor, bodySchemaOf, fillPath, mountedRoutes, MountedRoute, mutated, Vocabulary } from './routes';

// Deterministic in CI (a red build must be reproducible); vary PROPERTY_SEED to explore further.
fc.configureGlobal({ seed: Number(process.env.PROPERTY_SEED ?? 20261127) });

/**
 * Bad input at every tenant route (issue 8): random and malformed JSON
 * bodies, odd Content-Type / Authorization / Idempotency-Key headers, odd
 * query strings and ids, all with tenant A's key. Every answer must be a
 * documented status with the `{error, code}` envelope on errors, never a 500,
 * and must never carry tenant B's data; B's ids in A's paths never succeed,
 * and B's rows are unchanged at the end. The routes are read from the app's
 * router, request bodies from its OpenAPI document (when mounted), so new
 * routes are covered without editing this file.
 */

const DOCUMENTED = new Set([200, 201, 202, 400, 401, 403, 404, 409, 413, 429, 503]);
/** Runs per route (×2 properties) and of the cross-route property; PROPERTY_RUNS raises them. */
const RUNS_PER_ROUTE = Number(process.env.PROPERTY_RUNS || 8);
const CROSS_ROUTE_RUNS = Number(process.env.PROPERTY_RUNS || 0) * 10 || 150;

const B_SECRET = `TENANTB${crypto.randomBytes(6).toString('hex')}`;
const B_PHONE = `+1555${String(3000000 + Math.floor(Math.random() * 999999)).padStart(7, '0')}`;
const OVERSIZED = '{"body":"' + 'x'.repeat(1024 * 1024 + 10) + '"}';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

interface Case {
  route: MountedRoute;
  params: Record<string, string>;
  query: string;
  headers: Record<string, string>;
  body: string | null;
}

interface Seeded {
  tenant: TestTenant;
  ids: Record<string, string>;
}

async function seed(tenant: TestTenant, marker: string, phone: string): Promise<Seeded> {
  const ids: Record<string, string> = {};
  const post = async (name: string, path: string, body: object, idField = 'id') => {
    const res = await api().post(path).set(tenant.auth).send(body);
    if (res.status >= 200 && res.status < 300) ids[name] = res.body.data?.[idField];
    return res;
  };
  await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({ phone_number: `+1555${String(6000000 + Math.floor(Math.random() * 999999)).padStart(7, '0')}`, bridge_url: 'http://127.0.0.1:9/bridge', secret: crypto.randomBytes(32).toString('hex'), capabilities: { imessage: true, sms: true, rcs: true }, mode: 'dedicated', tenant_id: tenant.id, max_per_minute: null, warmup: false });
  const group = await post('group', '/v1/groups', { name: `group ${marker}` });
  await post('contact', '/v1/contacts', { phone_number: phone, name: `contact ${marker}`, metadata: { note: marker }, group_ids: group.body.data ? [group.body.data.id] : undefined });
  await post('template', '/v1/templates', { name: `tpl${marker}`, body: `template ${marker} {{name}}` });
  await post('message', '/v1/messages', { to: phone, body: `message ${marker}` }, 'message_id');
  await post('webhook', '/v1/webhooks', { url: `http://127.0.0.1:9/${marker}`, events: ['message.sent'] });
  await post('optout', '/v1/opt-outs', { phone_number: phone, reason: `reason ${marker}` }, 'phone_number');
  await post('consent', '/v1/compliance/consent', { phone_number: phone, consent_type: 'express', consent_source: `source ${marker}` });
  await post('source', '/v1/ai/sources', { type: 'text', title: `title ${marker}`, content: `content ${marker}` });
  await post('campaign', '/v1/campaigns', { name: `campaign ${marker}`, body: `campaign ${marker}`, recipients: [phone] });
  await api().put('/v1/ai/persona').set(tenant.auth).send({ business_name: `business ${marker}` });
  const key = await post('apikey', '/v1/api-keys', { name: `key ${marker}` });
  if (key.body.data?.key) ids.apikeySecret = key.body.data.key;
  return { tenant, ids };
}

/** B's rows in every tenant table, minus columns that move on their own. */
async function rowsOf(tenantId: string): Promise<string> {
  const owner = harness().db.owner;
  const tables = (await owner.raw(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
        AND EXISTS (SELECT 1 FROM information_schema.columns k WHERE k.table_name = c.relname AND k.column_name = 'tenant_id')
      ORDER BY 1`,
  )).rows as { name: string }[];
  const snapshot: Record<string, unknown> = {};
  for (const { name } of tables) {
    if (['api_call_counts', 'outbox', 'idempotency_keys'].includes(name)) continue;
    const rows = await owner(name).where({ tenant_id: tenantId });
    snapshot[name] = rows
      .map((row: Record<string, unknown>) => {
        const copy = { ...row };
        delete copy.last_used_at;
        return JSON.stringify(copy);
      })
      .sort();
  }
  return JSON.stringify(snapshot);
}

describe('property: bad input at every tenant route', function () {
  this.timeout(180000);
  let server: http.Server;
  let port: number;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let a: Seeded;
  let b: Seeded;
  let routes: MountedRoute[];
  let openApi: Record<string, unknown> | null = null;
  let vocabulary: Vocabulary;
  let bIds: Set<string>;
  let bBefore: string;

  before(async () => {
    server = http.createServer(harness().app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as AddressInfo).port;
    const unlimited = { requests_per_minute: null };
    b = await seed(await createTenant({ pool: `prop-b-${crypto.randomBytes(3).toString('hex')}`, limits: unlimited }), B_SECRET, B_PHONE);
    // B's key that B then revokes: A presenting it must get 401, not B's data.
    if (b.ids.apikey) await api().delete(`/v1/api-keys/${b.ids.apikey}`).set(b.tenant.auth);
    a = await seed(await createTenant({ pool: `prop-a-${crypto.randomBytes(3).toString('hex')}`, limits: unlimited }), 'tenant-a-own', '+15550109999');
    expect(b.ids.message, 'tenant B has a message').to.be.a('string');
    expect(b.ids.contact, 'tenant B has a contact').to.be.a('string');
    // Ids only: the opt-out is keyed by B's phone number, which is a marker that must never show up, not an input.
    const notIds = new Set(['apikeySecret', 'optout']);
    bIds = new Set(Object.entries(b.ids).filter(([name]) => !notIds.has(name)).map(([, id]) => id).filter(Boolean));
    routes = mountedRoutes(harness().app).filter((route) => route.path.startsWith('/v1/'));
    const reference = await api().get('/openapi.json');
    if (reference.status === 200) openApi = reference.body;
    vocabulary = {
      phoneNumbers: ['+15550109999', '+15550100001', '+15550100002', '+447700900123', '+15555550001'],
      ids: Object.entries(a.ids).filter(([name]) => !['apikey', 'apikeySecret', 'optout'].includes(name)).map(([, id]) => id).filter(Boolean),
      urls: ['http://127.0.0.1:9/hook', 'https://127.0.0.1:9/x', 'http://localhost:9/'],
    };
    bBefore = await rowsOf(b.tenant.id);
  });

  after(async () => {
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function send(request: Case): Promise<Answer> {
    const query = request.query ? `?${request.query}` : '';
    const path = fillPath(request.route, request.params) + query;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...request.headers };
      if (request.body !== null) headers['Content-Length'] = Buffer.byteLength(request.body);
      const req = http.request({ host: '127.0.0.1', port, method: request.route.method.toUpperCase(), path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        // The server may close the connection on a body it refuses (413) before reading it all.
        if (error.code === 'EPIPE' || error.code === 'ECONNRESET') resolve({ status: 413, headers: {}, text: '{"error":"closed early","code":"PAYLOAD_TOO_LARGE"}' });
        else reject(error);
      });
      if (request.body !== null) req.write(request.body);
      req.end();
    });
  }

  /** What must hold for any answer; returns the problems found. */
  function problemsWith(request: Case, answer: Answer): string[] {
    const problems: string[] = [];
    if (!DOCUMENTED.has(answer.status)) problems.push(`undocumented status ${answer.status}`);
    if (answer.status >= 400) {
      let body: { error?: unknown; code?: unknown } = {};
      try {
        body = JSON.parse(answer.text) as typeof body;
      } catch {
        problems.push('error body is not JSON');
      }
      if (typeof body.error !== 'string' || typeof body.code !== 'string') problems.push(`error without the {error, code} envelope: ${answer.text.slice(0, 200)}`);
    }
    const visible = answer.text + JSON.stringify(answer.headers);
    for (const marker of [B_SECRET, B_PHONE, b.tenant.id]) if (visible.includes(marker)) problems.push(`tenant B's data (${marker}) in tenant A's answer`);
    const usesForeignId = Object.values(request.params).some((value) => bIds.has(value));
    if (usesForeignId && answer.status >= 200 && answer.status < 300) problems.push(`tenant B's id answered ${answer.status}`);
    return problems;
  }

  function describeCase(request: Case): string {
    const body = request.body === null ? '' : ` body=${request.body.length > 300 ? `${request.body.slice(0, 300)}… (${request.body.length} bytes)` : request.body}`;
    return `${request.route.method.toUpperCase()} ${fillPath(request.route, request.params)}${request.query ? `?${request.query}` : ''} headers=${JSON.stringify(request.headers)}${body}`;
  }

  // ---------- arbitraries ----------

  const printable = (maxLength: number) => fc.string({ maxLength, unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)) });

  function paramArbitrary(): fc.Arbitrary<string> {
    return fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...vocabulary.ids) },
      { weight: 3, arbitrary: fc.constantFrom(...bIds) },
      { weight: 1, arbitrary: fc.constantFrom(...vocabulary.phoneNumbers).map(encodeURIComponent) },
      { weight: 1, arbitrary: fc.constantFrom('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'sb_01ARZ3NDEKTSV4RRFFQ69G5FAV', '00000000000000000000000000', 'ZZZZZZZZZZZZZZZZZZZZZZZZZZ') },
      { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).map(encodeURIComponent) },
      { weight: 2, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '..', '%2e%2e', '%2F', '%00', '-1', '0', 'null', 'undefined', "'%20OR%201=1--", 'a'.repeat(3000), '%F0%9F%92%A9', '+15551234567', '%2B15551234567') },
    );
  }

  function queryArbitrary(): fc.Arbitrary<string> {
    const key = fc.constantFrom('limit', 'cursor', 'status', 'direction', 'channel', 'search', 'phone_prefix', 'group_id', 'from', 'to', 'since', 'until', 'include_removed', 'dispatch_webhook', 'campaign_id', 'phone_number', 'format', 'tenant_id', 'limit[]', '__proto__');
    const value = fc.oneof(fc.constantFrom('', '0', '-1', '101', '1e309', 'abc', 'true', 'false', 'null', '%zz', '%', encodeURIComponent(B_PHONE), 'sent', '2020-13-45'), printable(30).map(encodeURIComponent));
    return fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 2, arbitrary: fc.array(fc.tuple(key, value), { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&')) });
  }

  function authArbitrary(): fc.Arbitrary<Record<string, string>> {
    const key = a.tenant.key;
    return fc.oneof(
      { weight: 12, arbitrary: fc.constant<Record<string, string>>({ Authorization: `Bearer ${key}` }) },
      { weight: 1, arbitrary: fc.constant<Record<string, string>>({ Authorization: a.tenant.sandboxAuth.Authorization }) },
      {
        weight: 3,
        arbitrary: fc.constantFrom<Record<string, string>>(
          {},
          { Authorization: '' },
          { Authorization: 'Bearer' },
          { Authorization: 'Bearer ' },
          { Authorization: `bearer ${key}` },
          { Authorization: `Bearer  ${key}` },
          { Authorization: `Bearer ${key}x` },
          { Authorization: `Bearer ${key.slice(0, -1)}` },
          { Authorization: `Basic ${Buffer.from(`x:${key}`).toString('base64')}` },
          { Authorization: `Bearer ${b.ids.apikeySecret ?? 'tf_live_revoked'}` },
          { Authorization: 'Bearer tf_live_' + 'a'.repeat(5000) },
          { Authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJ0ZW5hbnRfaWQiOiJ4In0.' },
        ),
      },
      { weight: 1, arbitrary: printable(80).map((text) => ({ Authorization: text })) },
    );
  }

  function contentTypeArbitrary(): fc.Arbitrary<Record<string, string>> {
    return fc.oneof(
      { weight: 10, arbitrary: fc.constant<Record<string, string>>({ 'Content-Type': 'application/json' }) },
      {
        weight: 4,
        arbitrary: fc.constantFrom<Record<string, string>>(
          {},
          { 'Content-Type': 'application/json; charset=utf-8' },
          { 'Content-Type': 'application/json; charset=latin1' },
          { 'Content-Type': 'application/json; charset=utf-16' },
          { 'Content-Type': 'APPLICATION/JSON' },
          { 'Content-Type': 'application/merge-patch+json' },
          { 'Content-Type': 'text/plain' },
          { 'Content-Type': 'text/csv' },
          { 'Content-Type': 'application/x-www-form-urlencoded' },
          { 'Content-Type': 'multipart/form-data; boundary=x' },
          { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
          { 'Content-Type': 'application/json', 'Content-Encoding': 'deflate' },
          { 'Content-Type': 'application/json', 'Content-Encoding': 'br' },
          { 'Content-Type': 'application/json', 'Content-Encoding': 'x-unknown' },
          { 'Content-Type': ';;;' },
        ),
      },
      { weight: 1, arbitrary: printable(60).map((text) => ({ 'Content-Type': text })) },
    );
  }

  function idempotencyArbitrary(): fc.Arbitrary<Record<string, string>> {
    return fc.oneof(
      { weight: 8, arbitrary: fc.constant<Record<string, string>>({}) },
      { weight: 2, arbitrary: fc.constantFrom<Record<string, string>>({ 'Idempotency-Key': 'fixed-key-1' }, { 'Idempotency-Key': 'fixed-key-2' }, { 'Idempotency-Key': '' }, { 'Idempotency-Key': 'k'.repeat(256) }, { 'Idempotency-Key': 'k'.repeat(5000) }, { 'Idempotency-Key': 'caf\u00e9' }) },
      { weight: 2, arbitrary: printable(300).map((text) => ({ 'Idempotency-Key': text })) },
    );
  }

  function bodyArbitrary(route: MountedRoute): fc.Arbitrary<string | null> {
    const schema = bodySchemaOf(openApi as never, route);
    const options: { weight: number; arbitrary: fc.Arbitrary<string | null> }[] = [
      { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '',
          '{',
          '{"a":',
          '[1,2',
          '"\\ud800"',
          '\ufeff{}',
          '{"__proto__":{"admin":true}}',
          '{"constructor":{"prototype":{"x":1}}}',
          'null',
          '[]',
          '0',
          '1e999',
          '{"a":1,"a":2}',
          '['.repeat(5000) + ']'.repeat(5000),
          '{"to":' + '['.repeat(2000) + ']'.repeat(2000) + '}',
          OVERSIZED,
        ),
      },
      { weight: 1, arbitrary: fc.constant(null) },
    ];
    if (schema) {
      const sample = arbitraryFor(openApi as never, schema, vocabulary);
      options.push({ weight: 4, arbitrary: sample.map((value) => JSON.stringify(value)) });
      options.push({ weight: 4, arbitrary: mutated(sample).map((value) => JSON.stringify(value) ?? 'undefined') });
    }
    return fc.oneof(...options);
  }

  function caseArbitrary(route: MountedRoute): fc.Arbitrary<Case> {
    const params = fc.record(Object.fromEntries(route.params.map((name) => [name, paramArbitrary()]))) as fc.Arbitrary<Record<string, string>>;
    return fc
      .record({ params, query: queryArbitrary(), auth: authArbitrary(), type: contentTypeArbitrary(), idempotency: idempotencyArbitrary(), body: bodyArbitrary(route) })
      .map(({ params: values, query, auth, type, idempotency, body }) => ({
        route,
        params: values,
        query,
        headers: { ...auth, ...(body === null ? {} : type), ...idempotency },
        body: route.method === 'get' && body !== null && body.length > 1000 ? null : body,
      }));
  }

  // No per-call seed: an explicit `seed: undefined` would override the seed configured globally above.
  async function check(arbitrary: fc.Arbitrary<Case>, numRuns: number): Promise<string | null> {
    try {
      await fc.assert(
        fc.asyncProperty(arbitrary, async (request) => {
          const answer = await send(request);
          const problems = problemsWith(request, answer);
          if (problems.length > 0) throw new Error(`${problems.join('; ')} — ${describeCase(request)} → ${answer.status} ${answer.text.slice(0, 300)}`);
        }),
        { numRuns, endOnFailure: true },
      );
      return null;
    } catch (error) {
      const cause = (error as Error & { cause?: unknown }).cause;
      return cause instanceof Error ? cause.message : (error as Error).message.slice(0, 1500);
    }
  }

  it('when the router is read, then it mounts the tenant routes this suite covers', () => {
    expect(routes.length).to.be.greaterThan(10);
    expect(routes.map((route) => `${route.method} ${route.path}`)).to.include.members(['post /v1/messages', 'get /v1/messages/:id']);
  });

  it('when random, malformed and schema-near input hits each tenant route, then every answer is documented, enveloped, and free of tenant B', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const failure = await check(caseArbitrary(route), RUNS_PER_ROUTE * 2);
      if (failure) failures.push(failure);
    }
    // One line per failing route; the kinds of failure first, so a pattern shows.
    const kinds = new Map<string, number>();
    for (const failure of failures) {
      const kind = failure.split(' — ')[0];
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    const summary = [...kinds.entries()].map(([kind, count]) => `${count} route(s): ${kind}`).join('\n');
    expect(failures.length, `${failures.length} of ${routes.length} routes failed\n${summary}\n\n${failures.map((line) => line.slice(0, 600)).join('\n')}`).to.equal(0);
  });

  it('when requests go to routes drawn at random, then the same holds across routes (idempotency keys shared between them)', async () => {
    const failure = await check(fc.constantFrom(...routes).chain((route) => caseArbitrary(route)), CROSS_ROUTE_RUNS);
    expect(failure, failure ?? '').to.equal(null);
  });

  it("when all of that is over, then tenant B's rows are exactly as before", async () => {
    expect(await rowsOf(b.tenant.id)).to.equal(bBefore);
  });
});
