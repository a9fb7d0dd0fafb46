import { Router, Request } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { ValidationError } from '../../shared/errors';
import { enqueueAll } from '../../shared/outbox';
import {
  createTestDelivery,
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  presentDelivery,
  presentWebhook,
  retryDelivery,
  rotateWebhookSecret,
  updateWebhook,
} from '../../shared/data/webhooks';
import {
  createWebhookSchema,
  DeliveryStatus,
  listDeliveriesQuery,
  normalizeEvents,
  rotateSecretSchema,
  updateWebhookSchema,
} from '../../shared/schemas/webhooks';
import { listQuery } from '../../shared/schemas/common';
import { webhookSecretProblem } from '../../shared/webhooks/signing';
import { webhookUrlProblem } from '../../shared/webhooks/ssrf';
import { requeueDelivery } from '../../shared/webhooks/requeue';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseCreate = bodyValidator(createWebhookSchema);
const parseUpdate = bodyValidator(updateWebhookSchema);
const parseRotate = bodyValidator(rotateSecretSchema);
const parseEmpty = bodyValidator({ type: 'object', additionalProperties: false, properties: {} });
const parseList = queryValidator<{ limit?: number; cursor?: string }>(listQuery);
const parseDeliveries = queryValidator<{ limit?: number; cursor?: string; status?: DeliveryStatus }>(listDeliveriesQuery);

/** POSTs whose body is optional: an absent body is an empty object. */
function optionalBody(req: Request): Request {
  if (req.body === undefined || req.body === null) req.body = {};
  return req;
}

export function webhookRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { config, log } = deps;
  const policy = { allowPrivateNetworks: config.webhookAllowPrivateNetworks };

  function checkUrl(url: string): void {
    const problem = webhookUrlProblem(url, policy);
    if (problem) throw new ValidationError(`Invalid request body: url ${problem}.`, [{ path: 'url', message: problem }]);
  }

  function checkSecret(secret: string | undefined): void {
    const problem = secret === undefined ? null : webhookSecretProblem(secret);
    if (problem) throw new ValidationError(`Invalid request body: secret ${problem}.`, [{ path: 'secret', message: problem }]);
  }

  const enqueueLater = (what: string) => (error: unknown) => log.warn({ err: error, what }, 'enqueue failed; the outbox relay will retry');

  router.post('/', async (req, res) => {
    const body = parseCreate(req);
    checkUrl(body.url);
    checkSecret(body.secret);
    const { row, secret } = await withTenant(deps.db.app, req.caller!.tenantId, (t) =>
      createWebhook(t, config.encryptionKey, { url: body.url, events: normalizeEvents(body.events), secret: body.secret }),
    );
    res.status(201).json({ data: { ...presentWebhook(row), secret } });
  });

  router.get('/', async (req, res) => {
    const page = pageFrom(parseList(req));
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listWebhooks(t, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentWebhook, (row) => row.id));
  });

  router.get('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getWebhook(t, req.params.id));
    res.json({ data: presentWebhook(row) });
  });

  router.patch('/:id', async (req, res) => {
    const body = parseUpdate(req);
    if (body.url !== undefined) checkUrl(body.url);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) =>
      updateWebhook(t, req.params.id, { url: body.url, events: body.events && normalizeEvents(body.events), enabled: body.enabled }),
    );
    res.json({ data: presentWebhook(row) });
  });

  router.delete('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => deleteWebhook(t, req.params.id));
    res.json({ data: presentWebhook(row) });
  });

  router.post('/:id/rotate-secret', async (req, res) => {
    const body = parseRotate(optionalBody(req));
    checkSecret(body.secret);
    const { row, secret } = await withTenant(deps.db.app, req.caller!.tenantId, (t) =>
      rotateWebhookSecret(t, config.encryptionKey, req.params.id, config.webhooks.rotationOverlapHours, body.secret),
    );
    res.json({ data: { ...presentWebhook(row), secret } });
  });

  router.post('/:id/test', async (req, res) => {
    parseEmpty(optionalBody(req));
    const created = await withTenant(deps.db.app, req.caller!.tenantId, (t) => createTestDelivery(t, req.params.id, req.caller!.sandbox));
    await enqueueAll(deps.queues, created.jobs).catch(enqueueLater('webhook test'));
    res.status(202).json({ data: { event_id: created.eventId, delivery_id: created.deliveryId, status: 'pending' } });
  });

  router.get('/:id/deliveries', async (req, res) => {
    const query = parseDeliveries(req);
    const page = pageFrom(query);
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listDeliveries(t, req.params.id, page, { status: query.status }));
    res.json(pageOf(rows, page, presentDelivery, (row) => row.id));
  });

  router.post('/:id/deliveries/:deliveryId/retry', async (req, res) => {
    parseEmpty(optionalBody(req));
    const { delivery, job } = await withTenant(deps.db.app, req.caller!.tenantId, (t) => retryDelivery(t, req.params.id, req.params.deliveryId));
    await requeueDelivery(deps.queues, job).catch(enqueueLater('webhook retry'));
    res.status(202).json({ data: presentDelivery(delivery) });
  });

  return router;
}
