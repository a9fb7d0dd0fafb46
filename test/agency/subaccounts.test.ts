import { expect } from 'chai';
import type supertest from 'supertest';
import { adminHeaders, api, createTenant, harness } from '../helpers/harness';
import { newId } from '../../shared/ids';
import { withTenant } from '../../shared/db/tenant';
import { usableLines } from '../../shared/data/phone-lines';
import { AGENCY_ROUTES, allotLine, createAgency, createSubaccount, mintClientKey } from './helpers';

function expectError(res: supertest.Response, status: number, code: string, path?: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.body.code).to.equal(code);
  if (path) expect(res.body.details.map((detail: { path: string }) => detail.path)).to.include(path);
}

const owner = () => harness().db.owner;

describe('agency subaccounts', () => {
  describe('creating, listing and reading clients', () => {
    it('when an agency creates a subaccount, then a linked client tenant exists on the agency\'s pool and plan', async () => {
      const agency = await createAgency();
      const res = await api().post('/v1/subaccounts').set(agency.auth).send({ name: 'Bakery Co' });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const data = res.body.data;
      expect(data).to.include({ name: 'Bakery Co', plan: 'growth', status: 'active', suspended_by: null });
      expect(data.limits).to.deep.equal({ messages_per_day: null, new_contacts_per_day: 50 });
      expect(JSON.stringify(res.body)).not.to.contain(agency.id);
      const tenant = await owner()('tenants').where({ id: data.id }).first();
      expect(tenant).to.include({ pool: agency.pool, is_agency: false, plan: 'growth' });
      expect(await owner()('agency_links').where({ client_tenant_id: data.id }).first()).to.include({ agency_tenant_id: agency.id });
    });

    it('when the plan is above the agency\'s, the new-contact limit above the plan, or a field unknown, then 400 and no tenant is created', async () => {
      const agency = await createAgency({ plan: 'starter' });
      const count = async () => Number((await owner()('agency_links').where({ agency_tenant_id: agency.id }).count({ n: '*' }))[0].n);
      expectError(await api().post('/v1/subaccounts').set(agency.auth).send({ name: 'X', plan: 'scale' }), 400, 'VALIDATION_ERROR', 'plan');
      expectError(await api().post('/v1/subaccounts').set(agency.auth).send({ name: 'X', limits: { new_contacts_per_day: 11 } }), 400, 'VALIDATION_ERROR', 'limits.new_contacts_per_day');
      expectError(await api().post('/v1/subaccounts').set(agency.auth).send({ name: 'X', is_agency: true }), 400, 'VALIDATION_ERROR', 'is_agency');
      expectError(await api().post('/v1/subaccounts').set(agency.auth).send({ name: 'X', pool: 'default' }), 400, 'VALIDATION_ERROR', 'pool');
      expectError(await api().post('/v1/subaccounts').set(agency.auth).send({ name: 'X', limits: { requests_per_minute: 5000 } }), 400, 'VALIDATION_ERROR', 'limits.requests_per_minute');
      expectError(await api().post('/v1/subaccounts').set(agency.auth).send({}), 400, 'VALIDATION_ERROR', 'name');
      expect(await count()).to.equal(0);
      const trial = await api().post('/v1/subaccounts').set(agency.auth).send({ name: 'Small', plan: 'trial', limits: { messages_per_day: 200, new_contacts_per_day: 5 } });
      expect(trial.status).to.equal(201);
      expect(trial.body.data).to.deep.include({ plan: 'trial', limits: { messages_per_day: 200, new_contacts_per_day: 5 } });
      expect(await count()).to.equal(1);
    });

    it('when an agency lists and reads, then it sees its own clients only; another agency\'s client, itself and unknown ids are 404', async () => {
      const agency = await createAgency();
      const other = await createAgency();
      const mine = [await createSubaccount(agency), await createSubaccount(agency), await createSubaccount(agency)];
      const theirs = await createSubaccount(other);
      const list = await api().get('/v1/subaccounts').set(agency.auth);
      expect(list.status).to.equal(200);
      expect(list.body.data.map((row: { id: string }) => row.id)).to.deep.equal([...mine].reverse());
      const page = await api().get('/v1/subaccounts?limit=2').set(agency.auth);
      expect(page.body.data).to.have.length(2);
      const rest = await api().get(`/v1/subaccounts?limit=2&cursor=${page.body.next_cursor}`).set(agency.auth);
      expect(rest.body.data.map((row: { id: string }) => row.id)).to.deep.equal([mine[0]]);
      expect((await api().get(`/v1/subaccounts/${mine[1]}`).set(agency.auth)).body.data.id).to.equal(mine[1]);
      for (const id of [theirs, agency.id, other.id, newId(), 'not-an-id']) {
        expectError(await api().get(`/v1/subaccounts/${id}`).set(agency.auth), 404, 'NOT_FOUND');
      }
      // A tenant the operator linked by hand is a client like any other.
      const manual = await createTenant();
      expect((await api().post('/admin/agency-links').set(adminHeaders()).send({ agency_tenant_id: agency.id, client_tenant_id: manual.id })).status).to.equal(201);
      expect((await api().get(`/v1/subaccounts/${manual.id}`).set(agency.auth)).status).to.equal(200);
    });

    it('when a tenant is not an agency (or no longer one), then every agency route is 403 FORBIDDEN', async () => {
      const plain = await createTenant();
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const ids = { client, key: newId(), line: newId() };
      for (const route of AGENCY_ROUTES) {
        let request = api()[route.method](route.url(ids)).set(plain.auth);
        if (route.body) request = request.send({ unknown_field: true });
        expectError(await request, 403, 'FORBIDDEN');
      }
      await api().patch(`/admin/tenants/${agency.id}`).set(adminHeaders()).send({ is_agency: false });
      expectError(await api().get(`/v1/subaccounts/${client}`).set(agency.auth), 403, 'FORBIDDEN');
      expectError(await api().get('/v1/subaccounts').set(agency.auth), 403, 'FORBIDDEN');
    });
  });

  describe('clients are isolated from the agency and from each other', () => {
    it('when a client uses its key, then it sees only itself: no agency route, no agency key, no sibling', async () => {
      const agency = await createAgency();
      const first = await createSubaccount(agency);
      const second = await createSubaccount(agency);
      const firstKey = await mintClientKey(agency, first);
      await mintClientKey(agency, second);
      expectError(await api().get('/v1/subaccounts').set(firstKey.auth), 403, 'FORBIDDEN');
      expectError(await api().get(`/v1/subaccounts/${second}`).set(firstKey.auth), 403, 'FORBIDDEN');
      const keys = await api().get('/v1/api-keys').set(firstKey.auth);
      expect(keys.status).to.equal(200);
      expect(keys.body.data.map((row: { id: string }) => row.id)).to.deep.equal([firstKey.id]);
      const text = JSON.stringify(keys.body);
      for (const foreign of [agency.id, agency.keyId, second]) expect(text).not.to.contain(foreign);
    });

    it('when the agency calls ordinary /v1 routes, then it reaches only its own records, never a client\'s', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const key = await mintClientKey(agency, client, { sandbox: true });
      const sent = await api().post('/v1/messages').set(key.auth).send({ to: '+15555550001', body: 'client secret body' });
      expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
      // Sources are live configuration: a test key may not add one (PRODUCT.md §3).
      const liveKey = await mintClientKey(agency, client);
      const source = await api().post('/v1/ai/sources').set(liveKey.auth).send({ type: 'faq', question: 'Client question?', answer: 'Client answer.' });
      expect(source.status).to.equal(201);
      expectError(await api().get(`/v1/messages/${sent.body.data.message_id}`).set(agency.sandboxAuth), 404, 'NOT_FOUND');
      const messages = await api().get('/v1/messages').set(agency.sandboxAuth);
      expect(JSON.stringify(messages.body)).not.to.contain('client secret body');
      expectError(await api().get(`/v1/ai/sources/${source.body.data.id}`).set(agency.auth), 404, 'NOT_FOUND');
      expect(JSON.stringify((await api().get('/v1/ai/sources').set(agency.auth)).body)).not.to.contain(source.body.data.id);
      const agencyKeys = await api().get('/v1/api-keys').set(agency.auth);
      expect(JSON.stringify(agencyKeys.body)).not.to.contain(key.id);
      // Nothing the agency can call returns the client's records: the subaccount view has no messages or contacts.
      const view = await api().get(`/v1/subaccounts/${client}`).set(agency.auth);
      expect(Object.keys(view.body.data).sort()).to.deep.equal(['created_at', 'id', 'limits', 'name', 'plan', 'status', 'suspended_by', 'updated_at']);
    });
  });

  describe('client API keys', () => {
    it('when the agency mints a key, then it is shown once, works as the client, is marked created_by agency and listed without the secret', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const res = await api().post(`/v1/subaccounts/${client}/api-keys`).set(agency.auth).send({ name: 'Production', rate_limit: 100 });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.data.key).to.match(/^tf_live_/);
      expect(res.body.data).to.include({ name: 'Production', rate_limit: 100, created_by: 'agency', sandbox: false });
      const stored = await owner()('api_keys').where({ tenant_id: client, id: res.body.data.id }).first();
      expect(stored).to.include({ created_by: 'agency', prefix: 'tf_live' });
      expect(stored.key_hash).not.to.equal(res.body.data.key);
      const asClient = await api().get('/v1/api-keys').set({ Authorization: `Bearer ${res.body.data.key}` });
      expect(asClient.status).to.equal(200);
      expect(asClient.body.data[0].id).to.equal(res.body.data.id);
      const list = await api().get(`/v1/subaccounts/${client}/api-keys`).set(agency.auth);
      expect(list.body.data.map((row: { id: string }) => row.id)).to.deep.equal([res.body.data.id]);
      expect(JSON.stringify(list.body)).not.to.contain(res.body.data.key);
      expectError(await api().post(`/v1/subaccounts/${client}/api-keys`).set(agency.auth).send({ name: 'too fast', rate_limit: 301 }), 400, 'VALIDATION_ERROR', 'rate_limit');
    });

    it('when a test key mints client keys, then 403 (keys are live state) and none is made; a live key may mint either', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const keysBefore = (await harness().db.owner('api_keys').where({ tenant_id: client }).select('id')).length;
      expectError(await api().post(`/v1/subaccounts/${client}/api-keys`).set(agency.sandboxAuth).send({ name: 't' }), 403, 'FORBIDDEN');
      expectError(await api().post(`/v1/subaccounts/${client}/api-keys`).set(agency.sandboxAuth).send({ name: 'l', sandbox: false }), 403, 'FORBIDDEN');
      expect((await harness().db.owner('api_keys').where({ tenant_id: client }).select('id')).length).to.equal(keysBefore);
      const testFromLive = await api().post(`/v1/subaccounts/${client}/api-keys`).set(agency.auth).send({ name: 't2', sandbox: true });
      expect(testFromLive.body.data.key).to.match(/^tf_test_/);
    });

    it('when the agency revokes a client key, then the key is refused at once (auth cache invalidated)', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const key = await mintClientKey(agency, client);
      expect((await api().get('/v1/api-keys').set(key.auth)).status).to.equal(200);
      const revoked = await api().delete(`/v1/subaccounts/${client}/api-keys/${key.id}`).set(agency.auth);
      expect(revoked.status).to.equal(200);
      expect(revoked.body.data.status).to.equal('revoked');
      expectError(await api().get('/v1/api-keys').set(key.auth), 401, 'INVALID_API_KEY');
      expectError(await api().delete(`/v1/subaccounts/${client}/api-keys/${key.id}`).set(agency.auth), 404, 'NOT_FOUND');
      // A key of another tenant named under this client is not found, and survives.
      const stranger = await createTenant();
      expectError(await api().delete(`/v1/subaccounts/${client}/api-keys/${stranger.keyId}`).set(agency.auth), 404, 'NOT_FOUND');
      expect((await api().get('/v1/api-keys').set(stranger.auth)).status).to.equal(200);
    });
  });

  describe('suspension and limits', () => {
    it('when the agency suspends a client, then its keys are refused at once; reactivating lets them in again', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const key = await mintClientKey(agency, client);
      expect((await api().get('/v1/api-keys').set(key.auth)).status).to.equal(200);
      const suspended = await api().post(`/v1/subaccounts/${client}/suspend`).set(agency.auth);
      expect(suspended.body.data).to.include({ status: 'suspended', suspended_by: 'agency' });
      expectError(await api().get('/v1/api-keys').set(key.auth), 403, 'TENANT_SUSPENDED');
      expect((await api().post(`/v1/subaccounts/${client}/suspend`).set(agency.auth)).body.data.status).to.equal('suspended');
      const back = await api().post(`/v1/subaccounts/${client}/reactivate`).set(agency.auth);
      expect(back.body.data).to.include({ status: 'active', suspended_by: null });
      expect((await api().get('/v1/api-keys').set(key.auth)).status).to.equal(200);
      expect((await owner()('agency_links').where({ client_tenant_id: client }).first()).suspended_at).to.equal(null);
    });

    it('when the operator suspended a client, then the agency cannot lift it (409), and an agency suspension the operator touched stays too', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      await api().patch(`/admin/tenants/${client}`).set(adminHeaders()).send({ status: 'suspended' });
      const view = await api().get(`/v1/subaccounts/${client}`).set(agency.auth);
      expect(view.body.data).to.include({ status: 'suspended', suspended_by: 'operator' });
      expect((await api().post(`/v1/subaccounts/${client}/suspend`).set(agency.auth)).status).to.equal(200);
      expectError(await api().post(`/v1/subaccounts/${client}/reactivate`).set(agency.auth), 409, 'CONFLICT');
      expect((await owner()('tenants').where({ id: client }).first()).status).to.equal('suspended');

      const second = await createSubaccount(agency);
      await api().post(`/v1/subaccounts/${second}/suspend`).set(agency.auth);
      // The agency's own edits keep its suspension its own...
      await api().patch(`/v1/subaccounts/${second}`).set(agency.auth).send({ name: 'Renamed while suspended' });
      expect((await api().get(`/v1/subaccounts/${second}`).set(agency.auth)).body.data.suspended_by).to.equal('agency');
      // ...but once the operator acts on the tenant, only the operator lifts it.
      await api().patch(`/admin/tenants/${second}`).set(adminHeaders()).send({ plan: 'starter' });
      expectError(await api().post(`/v1/subaccounts/${second}/reactivate`).set(agency.auth), 409, 'CONFLICT');
    });

    it('when the agency sets per-client limits, then they are stored in the client\'s tenant limits (the keys the router enforces), null removes them', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const key = await mintClientKey(agency, client);
      await api().get('/v1/api-keys').set(key.auth); // warm the client's cached credentials
      const res = await api().patch(`/v1/subaccounts/${client}`).set(agency.auth).send({ name: 'Renamed', limits: { messages_per_day: 500, new_contacts_per_day: 20 } });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.data).to.deep.include({ name: 'Renamed', limits: { messages_per_day: 500, new_contacts_per_day: 20 } });
      expect((await owner()('tenants').where({ id: client }).first()).limits).to.deep.equal({ messages_per_day: 500, new_contacts_per_day: 20 });
      const cleared = await api().patch(`/v1/subaccounts/${client}`).set(agency.auth).send({ limits: { new_contacts_per_day: null } });
      expect(cleared.body.data.limits).to.deep.equal({ messages_per_day: 500, new_contacts_per_day: 50 });
      expect((await owner()('tenants').where({ id: client }).first()).limits).to.deep.equal({ messages_per_day: 500 });
      expectError(await api().patch(`/v1/subaccounts/${client}`).set(agency.auth).send({ limits: { new_contacts_per_day: 51 } }), 400, 'VALIDATION_ERROR', 'limits.new_contacts_per_day');
      expectError(await api().patch(`/v1/subaccounts/${client}`).set(agency.auth).send({ plan: 'scale' }), 400, 'VALIDATION_ERROR', 'plan');
      expectError(await api().patch(`/v1/subaccounts/${client}`).set(agency.auth).send({ limits: { messages_per_day: -1 } }), 400, 'VALIDATION_ERROR');
      expectError(await api().patch(`/v1/subaccounts/${client}`).set(agency.auth).send({}), 400, 'VALIDATION_ERROR');
      expect((await owner()('tenants').where({ id: client }).first()).limits).to.deep.equal({ messages_per_day: 500 });
    });
  });

  describe('phone lines', () => {
    it('when the operator allots lines to an agency, then the agency lists them without operator secrets, and never another agency\'s', async () => {
      const agency = await createAgency();
      const other = await createAgency();
      const dedicated = await allotLine(agency, 'dedicated');
      const pooled = await allotLine(agency, 'pooled');
      const foreign = await allotLine(other, 'dedicated');
      const res = await api().get('/v1/subaccounts/lines').set(agency.auth);
      expect(res.status).to.equal(200);
      expect(res.body.data.map((line: { id: string }) => line.id)).to.deep.equal([pooled, dedicated]);
      expect(res.body.data[1]).to.include({ mode: 'dedicated', client_id: null });
      expect(res.body.data[0]).to.include({ mode: 'pooled', client_id: null });
      expect(Object.keys(res.body.data[0]).sort()).to.deep.equal(['capabilities', 'client_id', 'enabled', 'id', 'mode', 'phone_number', 'status']);
      expect(JSON.stringify(res.body)).not.to.contain(foreign);
    });

    it('when a dedicated line is assigned to a client, then the client routes through it; unassigning gives it back to the agency', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const sibling = await createSubaccount(agency);
      const line = await allotLine(agency, 'dedicated');
      const assigned = await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: line });
      expect(assigned.status, JSON.stringify(assigned.body)).to.equal(200);
      expect(assigned.body.data).to.include({ id: line, mode: 'dedicated', client_id: client });
      expect(await owner()('phone_lines').where({ id: line }).first()).to.include({ mode: 'dedicated', tenant_id: client });
      expect((await usableLines(owner(), { id: client, pool: agency.pool })).map((row) => row.id)).to.include(line);
      expect((await usableLines(owner(), { id: agency.id, pool: agency.pool })).map((row) => row.id)).not.to.include(line);
      // Assigning again is harmless; to a sibling it is refused until unassigned.
      expect((await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: line })).status).to.equal(200);
      expectError(await api().post(`/v1/subaccounts/${sibling}/lines`).set(agency.auth).send({ line_id: line }), 409, 'CONFLICT');
      expectError(await api().delete(`/v1/subaccounts/${sibling}/lines/${line}`).set(agency.auth), 404, 'NOT_FOUND');
      const listed = await api().get('/v1/subaccounts/lines').set(agency.auth);
      expect(listed.body.data[0]).to.include({ id: line, client_id: client });
      // The assignment record is operator data: the runtime role may neither read nor write it, in any tenant's scope.
      expect(await owner()('agency_line_assignments').where({ line_id: line })).to.have.length(1);
      const spare = await allotLine(agency, 'pooled');
      for (const scope of [agency.id, client]) {
        let unread: unknown;
        await withTenant(harness().db.app, scope, (t) => t.trx('agency_line_assignments').select('*')).catch((error: unknown) => (unread = error));
        expect((unread as { code?: string }).code).to.equal('42501');
        let refused: unknown;
        await withTenant(harness().db.app, scope, (t) =>
          t.trx('agency_line_assignments').insert({ line_id: spare, agency_tenant_id: agency.id, client_tenant_id: client, previous_mode: 'pooled' }),
        ).catch((error: unknown) => (refused = error));
        expect((refused as { code?: string }).code).to.equal('42501');
        let links: unknown;
        await withTenant(harness().db.app, scope, (t) => t.trx('agency_links').select('*')).catch((error: unknown) => (links = error));
        expect((links as { code?: string }).code, 'agency links are not readable by the runtime role').to.equal('42501');
      }

      const back = await api().delete(`/v1/subaccounts/${client}/lines/${line}`).set(agency.auth);
      expect(back.status).to.equal(200);
      expect(back.body.data).to.include({ mode: 'dedicated', client_id: null });
      expect(await owner()('phone_lines').where({ id: line }).first()).to.include({ mode: 'dedicated', tenant_id: agency.id });
      expect(await owner()('agency_line_assignments').where({ line_id: line })).to.have.length(0);
      expectError(await api().delete(`/v1/subaccounts/${client}/lines/${line}`).set(agency.auth), 404, 'NOT_FOUND');
    });

    it('when the agency assigns a pooled line to a client, then 400 naming line_id and the line stays in its pool for every tenant', async () => {
      const agency = await createAgency();
      const client = await createSubaccount(agency);
      const line = await allotLine(agency, 'pooled');
      const before = await owner()('phone_lines').where({ id: line }).first();
      const res = await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: line });
      expectError(res, 400, 'VALIDATION_ERROR');
      expect(JSON.stringify(res.body.details)).to.contain('line_id');
      expect(await owner()('phone_lines').where({ id: line }).first()).to.deep.equal(before);
      expect(await owner()('agency_line_assignments').where({ line_id: line })).to.have.length(0);
      expect((await usableLines(owner(), { id: agency.id, pool: agency.pool })).map((row) => row.id)).to.include(line);
    });

    it('when a line is not the agency\'s to give, then 404 (not allotted, another agency\'s) or 409 (dedicated to an outside tenant), and nothing changes', async () => {
      const agency = await createAgency();
      const other = await createAgency();
      const client = await createSubaccount(agency);
      const otherClient = await createSubaccount(other);
      const notAllotted = await allotLine(agency, 'pooled', { agency_tenant_id: null });
      const othersLine = await allotLine(other, 'dedicated');
      const outsider = await createTenant();
      const outsidersLine = await allotLine(agency, 'dedicated', { tenant_id: outsider.id });
      const before = await owner()('phone_lines').whereIn('id', [notAllotted, othersLine, outsidersLine]).orderBy('id');
      expectError(await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: notAllotted }), 404, 'NOT_FOUND');
      expectError(await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: othersLine }), 404, 'NOT_FOUND');
      expectError(await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: newId() }), 404, 'NOT_FOUND');
      expectError(await api().post(`/v1/subaccounts/${otherClient}/lines`).set(agency.auth).send({ line_id: othersLine }), 404, 'NOT_FOUND');
      const refused = await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: outsidersLine });
      expectError(refused, 409, 'CONFLICT');
      expect(JSON.stringify(refused.body)).not.to.contain(outsider.id);
      const listed = await api().get('/v1/subaccounts/lines').set(agency.auth);
      expect(JSON.stringify(listed.body)).not.to.contain(outsider.id);
      expectError(await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: 'nope' }), 400, 'VALIDATION_ERROR', 'line_id');
      expect(await owner()('phone_lines').whereIn('id', [notAllotted, othersLine, outsidersLine]).orderBy('id')).to.deep.equal(before);
    });
  });

  describe('aggregated analytics', () => {
    async function seedMessages(tenantId: string, day: string, rows: { direction?: string; status: string; sandbox?: boolean }[]) {
      await owner()('messages').insert(
        rows.map((row, index) => ({
          tenant_id: tenantId,
          id: newId(),
          direction: row.direction ?? 'outbound',
          to_number: `+1555000${String(1000 + index)}`,
          body: 'private body',
          status: row.status,
          sandbox: row.sandbox ?? false,
          created_at: `${day}T12:00:00Z`,
        })),
      );
    }

    it('when clients have traffic, then the agency gets per-client and total counts by day, and nothing of anyone else', async () => {
      const agency = await createAgency();
      const other = await createAgency();
      const first = await createSubaccount(agency, { name: 'First' });
      const second = await createSubaccount(agency, { name: 'Second' });
      const foreign = await createSubaccount(other);
      await seedMessages(first, '2026-03-01', [{ status: 'delivered' }, { status: 'read' }, { status: 'failed' }, { status: 'blocked' }, { direction: 'inbound', status: 'received' }, { status: 'delivered', sandbox: true }]);
      await seedMessages(first, '2026-03-03', [{ status: 'queued' }]);
      await seedMessages(second, '2026-03-01', [{ status: 'delivered' }]);
      await seedMessages(second, '2026-04-01', [{ status: 'delivered' }]);
      await seedMessages(foreign, '2026-03-01', [{ status: 'failed' }, { status: 'failed' }]);
      await seedMessages(agency.id, '2026-03-01', [{ status: 'failed' }]);
      await owner()('known_recipients').insert([
        { tenant_id: first, phone_number: '+15550001000', first_success_at: '2026-03-01T12:00:00Z' },
        { tenant_id: first, phone_number: '+15550001001', first_success_at: '2026-03-01T13:00:00Z' },
        { tenant_id: foreign, phone_number: '+15550001000', first_success_at: '2026-03-01T12:00:00Z' },
      ]);

      const res = await api().get('/v1/subaccounts/analytics?from=2026-03-01&to=2026-03-03').set(agency.auth);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const data = res.body.data;
      expect(data).to.include({ from: '2026-03-01', to: '2026-03-03' });
      expect(data.totals).to.deep.equal({ messages: 6, delivered: 3, failed: 1, blocked: 1, delivery_rate: 0.75, inbound: 1, new_contacts: 2 });
      expect(data.days.map((day: { date: string; messages: number }) => [day.date, day.messages])).to.deep.equal([
        ['2026-03-01', 5],
        ['2026-03-02', 0],
        ['2026-03-03', 1],
      ]);
      expect(data.days[1].delivery_rate).to.equal(null);
      expect(data.clients.map((client: { id: string }) => client.id)).to.deep.equal([first, second]);
      const firstReport = data.clients[0];
      expect(firstReport).to.include({ name: 'First' });
      expect(firstReport.totals).to.deep.equal({ messages: 5, delivered: 2, failed: 1, blocked: 1, delivery_rate: 0.6667, inbound: 1, new_contacts: 2 });
      expect(firstReport.days[0]).to.deep.equal({ date: '2026-03-01', messages: 4, delivered: 2, failed: 1, blocked: 1, delivery_rate: 0.6667, inbound: 1, new_contacts: 2 });
      expect(data.clients[1].totals.messages).to.equal(1);
      const text = JSON.stringify(res.body);
      for (const hidden of ['private body', foreign, agency.id, '+1555000']) expect(text).not.to.contain(hidden);
    });

    it('when the range is bad, then 400; without a range, the last 30 days', async () => {
      const agency = await createAgency();
      expectError(await api().get('/v1/subaccounts/analytics?from=2026-03-05&to=2026-03-01').set(agency.auth), 400, 'VALIDATION_ERROR', 'from');
      expectError(await api().get('/v1/subaccounts/analytics?from=2026-01-01&to=2026-06-01').set(agency.auth), 400, 'VALIDATION_ERROR', 'from');
      expectError(await api().get('/v1/subaccounts/analytics?from=yesterday').set(agency.auth), 400, 'VALIDATION_ERROR', 'from');
      expectError(await api().get('/v1/subaccounts/analytics?tenant_id=x').set(agency.auth), 400, 'VALIDATION_ERROR', 'tenant_id');
      const res = await api().get('/v1/subaccounts/analytics').set(agency.auth);
      expect(res.status).to.equal(200);
      expect(res.body.data.days).to.have.length(30);
      expect(res.body.data.to).to.equal(new Date().toISOString().slice(0, 10));
      expect(res.body.data.clients).to.deep.equal([]);
    });
  });
});
