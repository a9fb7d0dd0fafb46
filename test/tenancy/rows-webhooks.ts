import { addTenancyRows } from './matrix';
import { api } from '../helpers/harness';
import type { TestTenant } from '../helpers/harness';

/** Port 9 on loopback: if a stray job ever delivers these, it fails at once without touching the network. */
const URL = 'http://127.0.0.1:9/matrix';

async function createWebhook(owner: TestTenant): Promise<string> {
  const res = await api().post('/v1/webhooks').set(owner.auth).send({ url: URL, events: ['message.sent'] });
  if (res.status !== 201) throw new Error(`create webhook: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data.id as string;
}

/** Which webhook each delivery created here belongs to, for the retry route's path. */
const webhookOfDelivery = new Map<string, string>();

addTenancyRows(
  {
    resource: 'webhook',
    table: 'webhooks',
    list: '/v1/webhooks',
    create: createWebhook,
    routes: [
      { method: 'get', path: (id) => `/v1/webhooks/${id}` },
      { method: 'patch', path: (id) => `/v1/webhooks/${id}`, body: () => ({ enabled: false }) },
      { method: 'delete', path: (id) => `/v1/webhooks/${id}` },
      { method: 'post', path: (id) => `/v1/webhooks/${id}/rotate-secret` },
      { method: 'post', path: (id) => `/v1/webhooks/${id}/test` },
      { method: 'get', path: (id) => `/v1/webhooks/${id}/deliveries` },
    ],
  },
  {
    resource: 'webhook delivery',
    table: 'webhook_deliveries',
    async create(owner) {
      const webhookId = await createWebhook(owner);
      const res = await api().post(`/v1/webhooks/${webhookId}/test`).set(owner.auth);
      if (res.status !== 202) throw new Error(`test webhook: ${res.status} ${JSON.stringify(res.body)}`);
      const deliveryId = res.body.data.delivery_id as string;
      webhookOfDelivery.set(deliveryId, webhookId);
      return deliveryId;
    },
    routes: [{ method: 'post', path: (id) => `/v1/webhooks/${webhookOfDelivery.get(id) ?? ':webhook_id'}/deliveries/${id}/retry` }],
  },
);
