import { Router } from 'express';
import { createTenant, getTenant, listTenants, presentTenant, updateTenant } from '../../../shared/data/tenants';
import { createTenantSchema, updateTenantSchema } from '../../../shared/schemas/admin';
import { listQuery } from '../../../shared/schemas/common';
import { bodyValidator, queryValidator } from '../../validate';
import { pageFrom, pageOf } from '../../pagination';
import type { ApiDeps } from '../../types';
import type { Authenticator } from '../../middleware/auth';
import { recordBillingEventAsOperator } from '../../../shared/data/billing';

const parseCreate = bodyValidator(createTenantSchema);
const parseUpdate = bodyValidator(updateTenantSchema);
const parseList = queryValidator<{ limit?: number; cursor?: string }>(listQuery);

export function adminTenantRoutes(deps: ApiDeps, auth: Authenticator): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const row = await createTenant(deps.db.owner, parseCreate(req));
    deps.log.info({ tenantId: row.id, audit: 'tenant.created' }, 'tenant created');
    res.status(201).json({ data: presentTenant(row) });
  });
  router.get('/', async (req, res) => {
    const page = pageFrom(parseList(req));
    const rows = await listTenants(deps.db.owner, page.limit, page.cursor);
    res.json(pageOf(rows, page, presentTenant, (row) => row.id));
  });
  router.get('/:id', async (req, res) => {
    res.json({ data: presentTenant(await getTenant(deps.db.owner, req.params.id)) });
  });
  router.patch('/:id', async (req, res) => {
    const body = parseUpdate(req);
    const before = body.plan !== undefined ? await getTenant(deps.db.owner, req.params.id) : null;
    const row = await updateTenant(deps.db.owner, req.params.id, body);
    // For the external biller: the plan a period is billed on changed.
    if (before && before.plan !== row.plan) await recordBillingEventAsOperator(deps.db.owner, row.id, 'plan.changed', { from: before.plan, to: row.plan });
    // Plan, status and limits live in cached credentials: drop them everywhere.
    await auth.invalidate({ tenantId: row.id });
    deps.log.info({ tenantId: row.id, audit: 'tenant.updated', status: row.status, plan: row.plan }, 'tenant updated');
    res.json({ data: presentTenant(row) });
  });
  return router;
}
