import { Router, RequestHandler, Request } from 'express';
import {
  assertAgency,
  assignLine,
  createSubaccount,
  getSubaccount,
  listAgencyLines,
  listSubaccounts,
  presentAgencyLine,
  presentSubaccount,
  setSubaccountStatus,
  subaccountAnalytics,
  unassignLine,
  updateSubaccount,
  withLinkedClient,
} from '../../shared/data/subaccounts';
import { ApiKeyRow, createApiKey, listApiKeys, presentApiKey, revokeApiKey } from '../../shared/data/api-keys';
import {
  analyticsQuery,
  assignLineSchema,
  createSubaccountKeySchema,
  createSubaccountSchema,
  updateSubaccountSchema,
} from '../../shared/schemas/subaccounts';
import { listQuery } from '../../shared/schemas/common';
import { ForbiddenError, NotFoundError, ValidationError } from '../../shared/errors';
import { effectiveLimit } from '../../shared/plans';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';
import type { Authenticator } from '../middleware/auth';

const parseCreate = bodyValidator(createSubaccountSchema);
const parseUpdate = bodyValidator(updateSubaccountSchema);
const parseCreateKey = bodyValidator(createSubaccountKeySchema);
const parseAssign = bodyValidator(assignLineSchema);
const parseList = queryValidator<{ limit?: number; cursor?: string }>(listQuery);
const parseAnalytics = queryValidator<{ from?: string; to?: string }>(analyticsQuery);

/** Longest analytics window: a quarter keeps the answer small for an agency with many clients. */
const MAX_ANALYTICS_DAYS = 92;
const DEFAULT_ANALYTICS_DAYS = 30;

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** A path id that is not an id names nothing: the same 404 as a foreign one. */
function idParam(req: Request, name: string, resource: string): string {
  const value = req.params[name];
  if (typeof value !== 'string' || !ULID.test(value)) throw new NotFoundError(resource);
  return value;
}

function presentClientKey(row: ApiKeyRow) {
  return { ...presentApiKey(row), created_by: row.created_by };
}

function analyticsRange(query: { from?: string; to?: string }): { from: string; to: string } {
  const today = new Date().toISOString().slice(0, 10);
  const to = query.to ?? today;
  const from = query.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - (DEFAULT_ANALYTICS_DAYS - 1) * 86400000).toISOString().slice(0, 10);
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000 + 1;
  if (days < 1) throw new ValidationError('Invalid query parameters: from must not be after to.', [{ path: 'from', message: 'must not be after to' }]);
  if (days > MAX_ANALYTICS_DAYS) {
    throw new ValidationError(`Invalid query parameters: the range may span at most ${MAX_ANALYTICS_DAYS} days.`, [
      { path: 'from', message: `must be at most ${MAX_ANALYTICS_DAYS} days before to` },
    ]);
  }
  return { from, to };
}

/**
 * Agency subaccounts (PRODUCT.md "Agency subaccounts"). Every route answers
 * 403 to a tenant that is not an agency, before looking at anything else; a
 * client id that is not linked to the calling agency is 404. The agency acts
 * inside a client only by minting, listing and revoking that client's keys.
 */
export function subaccountRoutes(deps: ApiDeps, auth: Authenticator): Router {
  const router = Router();
  const { db } = deps;

  const requireAgency: RequestHandler = (req, _res, next) => {
    assertAgency(db.owner, req.caller!.tenantId).then(() => next(), next);
  };
  router.use(requireAgency);

  router.get('/lines', async (req, res) => {
    const page = pageFrom(parseList(req));
    const rows = await listAgencyLines(db.owner, req.caller!.tenantId, page.limit, page.cursor);
    res.json(pageOf(rows, page, presentAgencyLine, (row) => row.id));
  });

  router.get('/analytics', async (req, res) => {
    const { from, to } = analyticsRange(parseAnalytics(req));
    res.json({ data: await subaccountAnalytics(db.owner, req.caller!.tenantId, from, to) });
  });

  router.post('/', async (req, res) => {
    const row = await createSubaccount(db.owner, req.caller!.tenantId, parseCreate(req));
    deps.log.info({ clientTenantId: row.id, audit: 'subaccount.created' }, 'subaccount created');
    res.status(201).json({ data: presentSubaccount(row) });
  });

  router.get('/', async (req, res) => {
    const page = pageFrom(parseList(req));
    const rows = await listSubaccounts(db.owner, req.caller!.tenantId, page.limit, page.cursor);
    res.json(pageOf(rows, page, presentSubaccount, (row) => row.id));
  });

  router.get('/:id', async (req, res) => {
    const row = await getSubaccount(db.owner, req.caller!.tenantId, idParam(req, 'id', 'subaccount'));
    res.json({ data: presentSubaccount(row) });
  });

  router.patch('/:id', async (req, res) => {
    const clientId = idParam(req, 'id', 'subaccount');
    const row = await updateSubaccount(db.owner, req.caller!.tenantId, clientId, parseUpdate(req));
    // Limits live in cached credentials: drop the client's everywhere.
    await auth.invalidate({ tenantId: row.id });
    deps.log.info({ clientTenantId: row.id, audit: 'subaccount.updated' }, 'subaccount updated');
    res.json({ data: presentSubaccount(row) });
  });

  for (const [action, status] of [
    ['suspend', 'suspended'],
    ['reactivate', 'active'],
  ] as const) {
    router.post(`/:id/${action}`, async (req, res) => {
      const clientId = idParam(req, 'id', 'subaccount');
      const { row, changed } = await setSubaccountStatus(db.owner, req.caller!.tenantId, clientId, status);
      if (changed) {
        await auth.invalidate({ tenantId: row.id });
        deps.log.info({ clientTenantId: row.id, audit: `subaccount.${action}` }, `subaccount ${status}`);
      }
      res.json({ data: presentSubaccount(row) });
    });
  }

  router.post('/:id/api-keys', async (req, res) => {
    const caller = req.caller!;
    const clientId = idParam(req, 'id', 'subaccount');
    const body = parseCreateKey(req);
    const sandbox = body.sandbox ?? caller.sandbox;
    // A test key cannot mint a live one, for its own tenant or a client's.
    if (caller.sandbox && !sandbox) throw new ForbiddenError('A test key cannot mint live keys.');
    const { row, key } = await withLinkedClient(db, caller.tenantId, clientId, async (t, client) => {
      const planLimit = effectiveLimit(client.plan, client.limits ?? {}, 'requests_per_minute');
      if (body.rate_limit !== undefined && planLimit !== null && body.rate_limit > planLimit) {
        throw new ValidationError(`Invalid request body: rate_limit may not exceed the subaccount plan's ${planLimit} requests per minute.`, [
          { path: 'rate_limit', message: `must be at most ${planLimit}` },
        ]);
      }
      return createApiKey(t, {
        name: body.name,
        prefix: sandbox ? 'tf_test' : 'tf_live',
        permissions: body.permissions,
        rateLimit: body.rate_limit ?? null,
        createdBy: 'agency',
      });
    });
    deps.log.info({ clientTenantId: clientId, keyId: row.id, audit: 'subaccount.api_key.created' }, 'subaccount key minted');
    res.status(201).json({ data: { ...presentClientKey(row), key } });
  });

  router.get('/:id/api-keys', async (req, res) => {
    const page = pageFrom(parseList(req));
    const clientId = idParam(req, 'id', 'subaccount');
    const rows = await withLinkedClient(db, req.caller!.tenantId, clientId, (t) => listApiKeys(t, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentClientKey, (row) => row.id));
  });

  router.delete('/:id/api-keys/:keyId', async (req, res) => {
    const clientId = idParam(req, 'id', 'subaccount');
    const keyId = idParam(req, 'keyId', 'API key');
    const row = await withLinkedClient(db, req.caller!.tenantId, clientId, (t) => revokeApiKey(t, keyId));
    await auth.invalidate({ keyHash: row.key_hash });
    deps.log.info({ clientTenantId: clientId, keyId: row.id, audit: 'subaccount.api_key.revoked' }, 'subaccount key revoked');
    res.json({ data: presentClientKey(row) });
  });

  router.post('/:id/lines', async (req, res) => {
    const clientId = idParam(req, 'id', 'subaccount');
    const { line_id: lineId } = parseAssign(req);
    const row = await assignLine(db.owner, req.caller!.tenantId, clientId, lineId);
    deps.log.info({ clientTenantId: clientId, lineId, audit: 'subaccount.line.assigned' }, 'line assigned to subaccount');
    res.json({ data: presentAgencyLine(row) });
  });

  router.delete('/:id/lines/:lineId', async (req, res) => {
    const clientId = idParam(req, 'id', 'subaccount');
    const lineId = idParam(req, 'lineId', 'phone line');
    const row = await unassignLine(db.owner, req.caller!.tenantId, clientId, lineId);
    deps.log.info({ clientTenantId: clientId, lineId, audit: 'subaccount.line.unassigned' }, 'line taken back from subaccount');
    res.json({ data: presentAgencyLine(row) });
  });

  return router;
}
