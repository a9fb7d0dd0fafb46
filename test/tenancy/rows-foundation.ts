import { addTenancyRows } from './matrix';
import { api } from '../helpers/harness';

addTenancyRows({
  resource: 'API key',
  table: 'api_keys',
  list: '/v1/api-keys',
  async create(owner) {
    const res = await api().post('/v1/api-keys').set(owner.auth).send({ name: 'matrix key' });
    if (res.status !== 201) throw new Error(`create key: ${res.status}`);
    return res.body.data.id as string;
  },
  routes: [
    { method: 'get', path: (id) => `/v1/api-keys/${id}` },
    { method: 'delete', path: (id) => `/v1/api-keys/${id}` },
  ],
});
