import { addTenancyRows } from './matrix';
import { adminHeaders, api } from '../helpers/harness';

let phoneCounter = 0;

/** The number URL-encoded (the matrix titles pass the placeholder ":id" through as is). */
const phonePath = (phone: string) => `/v1/opt-outs/${phone.startsWith('+') ? encodeURIComponent(phone) : phone}`;

addTenancyRows(
  {
    resource: 'opt-out',
    table: 'opt_outs',
    idColumn: 'phone_number',
    list: '/v1/opt-outs?include_removed=true',
    async create(owner) {
      phoneCounter += 1;
      const phone = `+1555${4_000_000 + phoneCounter}`;
      const res = await api().post('/v1/opt-outs').set(owner.auth).send({ phone_number: phone });
      if (res.status !== 201) throw new Error(`opt-out: ${res.status} ${JSON.stringify(res.body)}`);
      return phone;
    },
    routes: [
      { method: 'get', path: phonePath },
      { method: 'delete', path: phonePath },
    ],
  },
  {
    resource: 'consent record',
    table: 'consent_logs',
    list: '/v1/compliance/consent',
    async create(owner) {
      const res = await api().post('/v1/compliance/consent').set(owner.auth).send({ phone_number: '+15555550123', consent_type: 'express', consent_source: 'matrix' });
      if (res.status !== 201) throw new Error(`consent: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.data.id as string;
    },
    routes: [{ method: 'get', path: (id) => `/v1/compliance/consent/${id}` }],
  },
  {
    resource: 'billing event',
    table: 'billing_events',
    list: '/v1/billing/events',
    async create(owner) {
      const patched = await api().patch(`/admin/tenants/${owner.id}`).set(adminHeaders()).send({ plan: 'growth' });
      if (patched.status !== 200) throw new Error(`plan change: ${patched.status}`);
      const res = await api().get('/v1/billing/events').set(owner.auth);
      if (res.status !== 200 || res.body.data.length !== 1) throw new Error(`billing events: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.data[0].id as string;
    },
    routes: [{ method: 'get', path: (id) => `/v1/billing/events/${id}` }],
  },
);
