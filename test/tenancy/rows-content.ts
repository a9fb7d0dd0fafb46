import { addTenancyRows } from './matrix';
import { api } from '../helpers/harness';
import type { TestTenant } from '../helpers/harness';

let counter = 0;
function phone(): string {
  counter += 1;
  return `+1555600${String(1000 + counter)}`;
}

async function post(owner: TestTenant, path: string, body: object, status = 201, sandbox = false): Promise<string> {
  const res = await api().post(path).set(sandbox ? owner.sandboxAuth : owner.auth).send(body);
  if (res.status !== status) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data.id as string;
}

const UNKNOWN_ID = '01HZZZZZZZZZZZZZZZZZZZZZZZ';

addTenancyRows(
  {
    resource: 'contact',
    table: 'contacts',
    list: '/v1/contacts',
    create: (owner) => post(owner, '/v1/contacts', { phone_number: phone(), name: 'matrix contact' }),
    routes: [
      { method: 'get', path: (id) => `/v1/contacts/${id}` },
      { method: 'patch', path: (id) => `/v1/contacts/${id}`, body: () => ({ name: 'changed' }) },
      { method: 'delete', path: (id) => `/v1/contacts/${id}` },
      // A's contact id inside B's request bodies: 400 naming it, as for an unknown id.
      { method: 'post', path: () => '/v1/campaigns', body: (id) => ({ name: 'c', body: 'x', recipients: [id] }), expect: 400 },
    ],
  },
  {
    resource: 'group',
    table: 'contact_groups',
    list: '/v1/groups',
    create: (owner) => post(owner, '/v1/groups', { name: `matrix group ${phone()}` }),
    routes: [
      { method: 'get', path: (id) => `/v1/groups/${id}` },
      { method: 'patch', path: (id) => `/v1/groups/${id}`, body: () => ({ name: 'changed' }) },
      { method: 'delete', path: (id) => `/v1/groups/${id}` },
      { method: 'get', path: (id) => `/v1/groups/${id}/members` },
      { method: 'post', path: () => '/v1/contacts', body: (id) => ({ phone_number: phone(), group_ids: [id] }), expect: 400 },
      { method: 'post', path: () => '/v1/campaigns', body: (id) => ({ name: 'c', body: 'x', group_id: id }), expect: 400 },
      { method: 'post', path: () => '/v1/contacts/import', body: (id) => ({ contacts: [{ phone_number: phone() }], group_id: id }), expect: 400 },
    ],
  },
  {
    resource: 'group membership',
    table: 'group_members',
    idColumn: 'group_id',
    async create(owner) {
      const group = await post(owner, '/v1/groups', { name: `matrix members ${phone()}` });
      await post(owner, '/v1/contacts', { phone_number: phone(), group_ids: [group] });
      return group;
    },
    routes: [
      { method: 'get', path: (id) => `/v1/groups/${id}/members` },
      { method: 'post', path: (id) => `/v1/groups/${id}/members`, body: () => ({ contact_ids: [UNKNOWN_ID] }) },
      { method: 'delete', path: (id) => `/v1/groups/${id}/members`, body: () => ({ contact_ids: [UNKNOWN_ID] }) },
      { method: 'post', path: (id) => `/v1/groups/${id}/members/remove`, body: () => ({ contact_ids: [UNKNOWN_ID] }) },
    ],
  },
  {
    resource: 'template',
    table: 'templates',
    list: '/v1/templates',
    create: (owner) => post(owner, '/v1/templates', { name: `matrix template ${phone()}`, body: 'Hi {{name}}' }),
    routes: [
      { method: 'get', path: (id) => `/v1/templates/${id}` },
      { method: 'patch', path: (id) => `/v1/templates/${id}`, body: () => ({ body: 'changed' }) },
      { method: 'delete', path: (id) => `/v1/templates/${id}` },
      { method: 'post', path: () => '/v1/campaigns', body: (id) => ({ name: 'c', template: id, data: { name: 'x' }, recipients: [phone()] }), expect: 400 },
      { method: 'post', path: () => '/v1/messages', body: (id) => ({ to: phone(), template: id, data: { name: 'x' } }), expect: 400 },
    ],
  },
  {
    resource: 'campaign',
    table: 'campaigns',
    list: '/v1/campaigns',
    // Sandbox traffic needs no phone line, so the campaign exists without any device.
    keys: 'sandbox',
    create: (owner) => post(owner, '/v1/campaigns', { name: 'matrix campaign', body: 'x', recipients: [phone()] }, 202, true),
    routes: [
      { method: 'get', path: (id) => `/v1/campaigns/${id}` },
      { method: 'post', path: (id) => `/v1/campaigns/${id}/pause` },
      { method: 'post', path: (id) => `/v1/campaigns/${id}/resume` },
      { method: 'post', path: (id) => `/v1/campaigns/${id}/cancel` },
    ],
  },
  {
    resource: 'contact import',
    table: 'contact_imports',
    list: '/v1/contacts/imports',
    create: (owner) => post(owner, '/v1/contacts/import', { contacts: [{ phone_number: phone() }] }, 202),
    routes: [{ method: 'get', path: (id) => `/v1/contacts/imports/${id}` }],
  },
);
