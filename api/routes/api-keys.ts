import { Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { createApiKey, getApiKey, listApiKeys, presentApiKey, revokeApiKey } from '../../shared/data/api-keys';
import { createApiKeySchema } from '../../shared/schemas/api-keys';
import { listQuery } from '../../shared/schemas/common';
import { ValidationError } from '../../shared/errors';
import { effectiveLimit } from '../../shared/plans';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';
import type { Authenticator } from '../middleware/auth';

const parseCreate = bodyValidator(createApiKeySchema);
const parseList = queryValidator<{ limit?: number; cursor?: string }>(listQuery);

export function apiKeyRoutes(deps: ApiDeps, auth: Authenticator): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const caller = req.caller!;
    const body = parseCreate(req);
    const planLimit = effectiveLimit(caller.plan, caller.limits, 'requests_per_minute');
    if (body.rate_limit !== undefined && planLimit !== null && body.rate_limit > planLimit) {
      throw new ValidationError(`Invalid request body: rate_limit may not exceed your plan's ${planLimit} requests per minute.`, [
        { path: 'rate_limit', message: `must be at most ${planLimit}` },
      ]);
    }
    // A key minted by a key shares its sandbox-ness: a test key cannot mint a live one.
    const prefix = caller.sandbox ? 'tf_test' : 'tf_live';
    const { row, key } = await withTenant(deps.db.app, caller.tenantId, (t) =>
      createApiKey(t, { name: body.name, prefix, permissions: body.permissions, rateLimit: body.rate_limit ?? null, createdBy: 'tenant' }),
    );
    res.status(201).json({ data: { ...presentApiKey(row), key } });
  });

  router.get('/', async (req, res) => {
    const page = pageFrom(parseList(req));
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listApiKeys(t, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentApiKey, (row) => row.id));
  });

  router.get('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getApiKey(t, req.params.id));
    res.json({ data: presentApiKey(row) });
  });

  router.delete('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => revokeApiKey(t, req.params.id));
    await auth.invalidate({ keyHash: row.key_hash });
    res.json({ data: presentApiKey(row) });
  });

  return router;
}
