import crypto from 'node:crypto';
import { expect } from 'chai';
import { adminHeaders, api, createTenant, harness, TestTenant } from '../helpers/harness';

let poolCounter = 0;

/** A fresh agency tenant (growth plan) on a pool of its own. */
export async function createAgency(options: { plan?: string } = {}): Promise<TestTenant & { pool: string }> {
  poolCounter += 1;
  const pool = `ag-${process.pid}-${poolCounter}`;
  const tenant = await createTenant({ is_agency: true, plan: options.plan ?? 'growth', pool });
  return { ...tenant, pool };
}

export async function createSubaccount(agency: TestTenant, body: object = {}): Promise<string> {
  const res = await api().post('/v1/subaccounts').set(agency.auth).send({ name: `Client ${crypto.randomBytes(3).toString('hex')}`, ...body });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.data.id as string;
}

export async function mintClientKey(agency: TestTenant, clientId: string, body: object = {}): Promise<{ id: string; key: string; auth: { Authorization: string } }> {
  const res = await api().post(`/v1/subaccounts/${clientId}/api-keys`).set(agency.auth).send({ name: 'client key', ...body });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return { id: res.body.data.id, key: res.body.data.key, auth: { Authorization: `Bearer ${res.body.data.key}` } };
}

/** A line the operator registers and allots to an agency (dedicated to the agency, or pooled in its pool). */
export async function allotLine(agency: TestTenant & { pool: string }, mode: 'dedicated' | 'pooled', overrides: object = {}): Promise<string> {
  const res = await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({
      phone_number: `+1555${String(crypto.randomInt(0, 10_000_000)).padStart(7, '0')}`,
      bridge_url: 'http://127.0.0.1:9/lines/agency',
      secret: crypto.randomBytes(24).toString('hex'),
      capabilities: { imessage: true, sms: true, rcs: false },
      mode,
      tenant_id: mode === 'dedicated' ? agency.id : undefined,
      pool: mode === 'pooled' ? agency.pool : undefined,
      agency_tenant_id: agency.id,
      ...overrides,
    });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return res.body.data.id as string;
}

export interface AgencyRoute {
  method: 'get' | 'post' | 'patch' | 'delete';
  path: string;
  url(ids: { client: string; key: string; line: string }): string;
  body?(ids: { client: string; key: string; line: string }): object;
  /** Names a client in the path (404 for anyone but its agency) rather than listing the caller's own. */
  namesClient: boolean;
}

/** Every agency route; tests walk this list so a new route cannot be forgotten. */
export const AGENCY_ROUTES: AgencyRoute[] = [
  { method: 'get', path: '/v1/subaccounts', url: () => '/v1/subaccounts', namesClient: false },
  { method: 'post', path: '/v1/subaccounts', url: () => '/v1/subaccounts', body: () => ({ name: 'Another client' }), namesClient: false },
  { method: 'get', path: '/v1/subaccounts/lines', url: () => '/v1/subaccounts/lines', namesClient: false },
  { method: 'get', path: '/v1/subaccounts/analytics', url: () => '/v1/subaccounts/analytics', namesClient: false },
  { method: 'get', path: '/v1/subaccounts/:id', url: ({ client }) => `/v1/subaccounts/${client}`, namesClient: true },
  { method: 'patch', path: '/v1/subaccounts/:id', url: ({ client }) => `/v1/subaccounts/${client}`, body: () => ({ name: 'Renamed', limits: { messages_per_day: 1 } }), namesClient: true },
  { method: 'post', path: '/v1/subaccounts/:id/suspend', url: ({ client }) => `/v1/subaccounts/${client}/suspend`, namesClient: true },
  { method: 'post', path: '/v1/subaccounts/:id/reactivate', url: ({ client }) => `/v1/subaccounts/${client}/reactivate`, namesClient: true },
  { method: 'post', path: '/v1/subaccounts/:id/api-keys', url: ({ client }) => `/v1/subaccounts/${client}/api-keys`, body: () => ({ name: 'stolen' }), namesClient: true },
  { method: 'get', path: '/v1/subaccounts/:id/api-keys', url: ({ client }) => `/v1/subaccounts/${client}/api-keys`, namesClient: true },
  { method: 'delete', path: '/v1/subaccounts/:id/api-keys/:key_id', url: ({ client, key }) => `/v1/subaccounts/${client}/api-keys/${key}`, namesClient: true },
  { method: 'post', path: '/v1/subaccounts/:id/lines', url: ({ client }) => `/v1/subaccounts/${client}/lines`, body: ({ line }) => ({ line_id: line }), namesClient: true },
  { method: 'delete', path: '/v1/subaccounts/:id/lines/:line_id', url: ({ client, line }) => `/v1/subaccounts/${client}/lines/${line}`, namesClient: true },
];

/** Agency A with one client that has a key and holds one of A's lines. */
export async function agencyFixture() {
  const agency = await createAgency();
  const client = await createSubaccount(agency);
  const key = await mintClientKey(agency, client);
  const line = await allotLine(agency, 'dedicated');
  const assigned = await api().post(`/v1/subaccounts/${client}/lines`).set(agency.auth).send({ line_id: line });
  expect(assigned.status, JSON.stringify(assigned.body)).to.equal(200);
  return { agency, client, key, line, ids: { client, key: key.id, line } };
}

/** Everything of A's that a foreign caller must not change. */
export async function agencySnapshot(fixture: { agency: TestTenant; client: string; line: string }) {
  const owner = harness().db.owner;
  return {
    client: await owner('tenants').where({ id: fixture.client }).first(),
    agency: await owner('tenants').where({ id: fixture.agency.id }).first(),
    link: await owner('agency_links').where({ client_tenant_id: fixture.client }).first(),
    // last_used_at is the key's own bookkeeping: a call with the client's key (refused or not) stamps it, in a batched write that may land at any time.
    keys: (await owner('api_keys').where({ tenant_id: fixture.client }).orderBy('id')).map(({ last_used_at: _used, ...key }: Record<string, unknown>) => key),
    line: await owner('phone_lines').where({ id: fixture.line }).first(),
    assignment: await owner('agency_line_assignments').where({ line_id: fixture.line }).first(),
    clients: await owner('agency_links').where({ agency_tenant_id: fixture.agency.id }).orderBy('client_tenant_id'),
  };
}
