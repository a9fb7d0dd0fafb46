import { expect } from 'chai';
import { addTenancyRows } from './matrix';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { AGENCY_ROUTES, agencyFixture, agencySnapshot, createAgency, createSubaccount } from '../agency/helpers';

addTenancyRows(
  {
    resource: 'AI training source',
    table: 'ai_sources',
    list: '/v1/ai/sources',
    async create(owner) {
      const res = await api().post('/v1/ai/sources').set(owner.auth).send({ type: 'faq', question: 'Matrix question?', answer: 'Matrix answer.' });
      if (res.status !== 201) throw new Error(`create source: ${res.status}`);
      return res.body.data.id as string;
    },
    routes: [
      { method: 'get', path: (id) => `/v1/ai/sources/${id}` },
      { method: 'delete', path: (id) => `/v1/ai/sources/${id}` },
    ],
  },
);

/**
 * The persona is one per tenant and has no id in its path, so the rows above
 * do not fit it: tenant B's calls must reach B's own persona (200) and never
 * read, change or draw on A's.
 */
describe('tenancy matrix: AI persona routes', () => {
  const routes = [
    { method: 'get', path: '/v1/ai/persona' },
    { method: 'put', path: '/v1/ai/persona', body: { business_name: 'Matrix B', auto_reply_enabled: false } },
    { method: 'post', path: '/v1/ai/persona/preview', body: { message: 'What is the matrix word?' } },
  ] as const;
  for (const route of routes) {
    it(`when tenant B calls ${route.method.toUpperCase()} ${route.path}, then it answers from B's persona only and A's is unchanged`, async () => {
      const a = await createTenant();
      const b = await createTenant();
      expect((await api().put('/v1/ai/persona').set(a.auth).send({ business_name: 'Matrix A', auto_reply_enabled: true })).status).to.equal(200);
      await api().post('/v1/ai/sources').set(a.auth).send({ type: 'faq', question: 'What is the matrix word?', answer: 'The matrix word is quokka.' });
      const owner = harness().db.owner;
      const before = await owner('ai_personas').where({ tenant_id: a.id });
      let request = api()[route.method](route.path).set(b.auth);
      if ('body' in route) request = request.send(route.body);
      const res = await request;
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const text = JSON.stringify(res.body);
      for (const leak of [a.id, 'Matrix A', 'quokka']) expect(text).not.to.contain(leak);
      expect(await owner('ai_personas').where({ tenant_id: a.id })).to.deep.equal(before);
      expect((await api().get('/v1/ai/persona').set(a.auth)).body.data.business_name).to.equal('Matrix A');
    });
  }
});

/**
 * Agency routes name a client (another tenant), so they do not fit the
 * one-tenant rows above. The same promise, per route: a tenant that is not an
 * agency and the client itself get 403; another agency gets 404 on A's ids
 * and never sees them in its lists; nothing of A's changes.
 */
describe('tenancy matrix: agency routes', () => {
  for (const route of AGENCY_ROUTES) {
    const label = `${route.method.toUpperCase()} ${route.path}`;

    it(`when a non-agency tenant or agency A's own client calls ${label}, then 403 FORBIDDEN and nothing changes`, async () => {
      const fixture = await agencyFixture();
      const plain = await createTenant();
      const before = await agencySnapshot(fixture);
      for (const caller of [plain.auth, fixture.key.auth]) {
        let request = api()[route.method](route.url(fixture.ids)).set(caller);
        if (route.body) request = request.send(route.body(fixture.ids));
        const res = await request;
        expect(res.status, JSON.stringify(res.body)).to.equal(403);
        expect(res.body.code).to.equal('FORBIDDEN');
        expect(JSON.stringify(res.body)).not.to.contain(fixture.agency.id);
      }
      expect(await agencySnapshot(fixture)).to.deep.equal(before);
    });

    it(`when another agency calls ${label} ${route.namesClient ? "on A's client" : 'for itself'}, then ${route.namesClient ? '404' : 'it sees only its own'} and nothing of A's changes`, async () => {
      const fixture = await agencyFixture();
      const other: TestTenant = await createAgency();
      await createSubaccount(other);
      const before = await agencySnapshot(fixture);
      let request = api()[route.method](route.url(fixture.ids)).set(other.auth);
      if (route.body) request = request.send(route.body(fixture.ids));
      const res = await request;
      if (route.namesClient) {
        expect(res.status, JSON.stringify(res.body)).to.equal(404);
        expect(res.body.code).to.equal('NOT_FOUND');
      } else {
        expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
      }
      const text = JSON.stringify(res.body);
      for (const id of [fixture.client, fixture.key.id, fixture.line, fixture.agency.id]) expect(text).not.to.contain(id);
      expect(await agencySnapshot(fixture)).to.deep.equal(before);
    });
  }
});
