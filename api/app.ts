import express, { Express, Request, RequestHandler } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { newId } from '../shared/ids';
import { AppError } from '../shared/errors';
import { runWithContext } from '../shared/context';
import { QUEUE_NAMES } from '../shared/queues';
import { acceptDuration, httpDuration, metricsText, unwatchQueueDepth, watchQueueDepth } from '../shared/metrics';
import { startSpan, SpanKind, SpanStatusCode } from '../shared/tracing';
import { errorHandler, notFoundHandler } from './errors';
import { createAuthenticator, Authenticator } from './middleware/auth';
import { createRateLimiter } from './middleware/rate-limit';
import { testKeysTouchSandboxOnly } from './middleware/test-keys';
import { createIdempotency } from './middleware/idempotency';
import { adminAuth } from './middleware/admin-auth';
import { apiKeyRoutes } from './routes/api-keys';
import { adminTenantRoutes } from './routes/admin/tenants';
import { adminApiKeyRoutes } from './routes/admin/api-keys';
import { adminPhoneLineRoutes } from './routes/admin/phone-lines';
import { adminAgencyLinkRoutes } from './routes/admin/agency-links';
import { healthRoutes } from './routes/health';
import { referenceRoutes } from './openapi';
import { messageRoutes } from './routes/messages';
import { capabilityRoutes } from './routes/capabilities';
import { contactImportBodyParser, contactRoutes } from './routes/contacts';
import { groupRoutes } from './routes/groups';
import { templateRoutes } from './routes/templates';
import { campaignRoutes } from './routes/campaigns';
import { subaccountRoutes } from './routes/subaccounts';
import { aiRoutes } from './routes/ai';
import { deviceRoutes } from './routes/device';
import { mediaDownloadRoutes } from './routes/media';
import { webhookRoutes } from './routes/webhooks';
import { statusCallbackSecretRoutes } from './routes/status-callback-secret';
import { optOutRoutes } from './routes/opt-outs';
import { complianceRoutes } from './routes/compliance';
import { billingRoutes } from './routes/billing';
import type { ApiDeps } from './types';
import type { RedisClient } from '../shared/redis';

export interface ApiApp {
  app: Express;
  auth: Authenticator;
  close(): Promise<void>;
}

const requestContext: RequestHandler = (req, res, next) => {
  const incoming = req.get('X-Request-Id');
  req.id = incoming && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : newId();
  res.set('X-Request-Id', req.id);
  runWithContext({ reqId: req.id }, () => {
    // The request's span: jobs it enqueues carry it, so their spans are its children.
    const { span, run } = startSpan(`${req.method} ${req.path}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'senderz.request_id': req.id } });
    if (span.isRecording()) {
      // 'close' also comes when the client goes away before the answer, so the span always ends.
      res.once('close', () => {
        const route = routeOf(req);
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode });
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
    }
    run(() => next());
  });
};

/** The matched route pattern (bounded, for labels and span names), never the raw path. */
function routeOf(req: Request): string {
  if (!req.route) return 'unmatched';
  const path = (req.route as { path: string }).path;
  return req.baseUrl && path === '/' ? req.baseUrl : req.baseUrl + path;
}

/**
 * Whatever goes wrong while reading a body (bad JSON, an undecodable
 * Content-Encoding, an aborted upload) is the client's 400, never a 500.
 */
function readingBody(parser: RequestHandler): RequestHandler {
  return (req, res, next) =>
    parser(req, res, (error?: unknown) => {
      if (!error) return next();
      const type = (error as { type?: string }).type;
      if (type === 'entity.too.large' || type === 'entity.parse.failed' || error instanceof AppError) return next(error);
      next(new AppError(400, 'INVALID_JSON', 'The request body could not be read; send UTF-8 JSON without a Content-Encoding.'));
    });
}

/**
 * The HTTP API: validates, authenticates, does the minimum durable write,
 * enqueues, answers. No slow work happens in a request.
 */
export function createApiApp(deps: ApiDeps & { subscriber: RedisClient }): ApiApp {
  const { config, db, redis, queues, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');

  const auth = createAuthenticator({ config, app: db.app, redis, subscriber: deps.subscriber, log });
  const parseJson = express.json({ limit: config.bodyLimitBytes, strict: false, type: ['application/json', 'application/*+json'] });
  const json = readingBody(parseJson);

  app.use(requestContext);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const route = routeOf(req);
      httpDuration.observe({ method: req.method, route, status: res.statusCode }, ms / 1000);
      if (req.method === 'POST' && route === '/v1/messages') acceptDuration.observe({ status: res.statusCode }, ms / 1000);
      log.info({ reqId: req.id, tenantId: req.caller?.tenantId, method: req.method, path: req.route ? req.baseUrl + req.route.path : req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  });

  app.use(healthRoutes(deps));
  // The reference (PRODUCT.md §7): no credential.
  app.use(referenceRoutes());
  app.use('/device', deviceRoutes(deps));
  app.use('/media', mediaDownloadRoutes(deps));

  // Prometheus scrape (README "Metrics and traces"): the operator credential; queue depth is read on scrape.
  watchQueueDepth(queues, QUEUE_NAMES);
  app.get('/metrics', adminAuth(config.adminApiKey), async (_req, res) => {
    const { contentType, body } = await metricsText();
    res.set('Content-Type', contentType).send(body);
  });

  // Operator API and Bull Board.
  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: QUEUE_NAMES.map((name) => new BullMQAdapter(queues.get(name))), serverAdapter: board });
  app.use('/admin/queues', adminAuth(config.adminApiKey, { basicChallenge: true }), board.getRouter());
  const admin = express.Router();
  admin.use(adminAuth(config.adminApiKey), json);
  admin.use('/tenants', adminTenantRoutes(deps, auth));
  admin.use('/api-keys', adminApiKeyRoutes(deps));
  admin.use('/phone-lines', adminPhoneLineRoutes(deps));
  admin.use('/agency-links', adminAgencyLinkRoutes(deps));
  app.use('/admin', admin);

  // Tenant API. Body parsing runs after authentication so an unauthenticated
  // caller cannot make the server parse a megabyte of JSON.
  const v1 = express.Router();
  v1.use(auth.middleware, testKeysTouchSandboxOnly, createRateLimiter(redis, config.queuePrefix), readingBody(contactImportBodyParser()), json, createIdempotency(db.app, log));
  v1.use('/api-keys', apiKeyRoutes(deps, auth));
  v1.use('/messages', messageRoutes(deps));
  v1.use('/capabilities', capabilityRoutes(deps));
  v1.use('/contacts', contactRoutes(deps));
  v1.use('/groups', groupRoutes(deps));
  v1.use('/templates', templateRoutes(deps));
  v1.use('/campaigns', campaignRoutes(deps));
  v1.use('/subaccounts', subaccountRoutes(deps, auth));
  v1.use('/ai', aiRoutes(deps));
  v1.use('/webhooks', webhookRoutes(deps));
  v1.use('/status-callback-secret', statusCallbackSecretRoutes(deps));
  v1.use('/opt-outs', optOutRoutes(deps));
  v1.use('/compliance', complianceRoutes(deps));
  v1.use('/billing', billingRoutes(deps));
  app.use('/v1', v1);

  app.use(notFoundHandler);
  app.use(errorHandler);

  return {
    app,
    auth,
    async close() {
      unwatchQueueDepth(queues, QUEUE_NAMES);
      await auth.close();
    },
  };
}
