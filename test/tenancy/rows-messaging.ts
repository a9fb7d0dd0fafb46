import { addTenancyRows } from './matrix';
import { api } from '../helpers/harness';

addTenancyRows({
  resource: 'message',
  table: 'messages',
  list: '/v1/messages',
  keys: 'sandbox',
  async create(owner) {
    // Sandbox traffic needs no phone line, so the row exists without any device.
    const res = await api().post('/v1/messages').set(owner.sandboxAuth).send({ to: '+15555550001', body: 'matrix' });
    if (res.status !== 202) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.data.message_id as string;
  },
  routes: [
    { method: 'get', path: (id) => `/v1/messages/${id}` },
    { method: 'get', path: (id) => `/v1/messages/${id}/events` },
  ],
});

addTenancyRows({
  resource: 'scheduled message',
  table: 'messages',
  keys: 'sandbox',
  async create(owner) {
    // Scheduled, so the owner could still cancel it: B's DELETE must not.
    const sendAt = new Date(Date.now() + 3600_000).toISOString();
    const res = await api().post('/v1/messages').set(owner.sandboxAuth).send({ to: '+15555550002', body: 'matrix later', send_at: sendAt });
    if (res.status !== 202) throw new Error(`schedule: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.data.message_id as string;
  },
  routes: [
    { method: 'delete', path: (id) => `/v1/messages/${id}` },
  ],
});
