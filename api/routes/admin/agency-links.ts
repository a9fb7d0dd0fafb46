import { Router } from 'express';
import { createAgencyLinkSchema } from '../../../shared/schemas/admin';
import { createAgencyLink } from '../../../shared/data/subaccounts';
import { bodyValidator } from '../../validate';
import type { ApiDeps } from '../../types';

const parseCreate = bodyValidator<{ agency_tenant_id: string; client_tenant_id: string }>(createAgencyLinkSchema);

export function adminAgencyLinkRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const row = await createAgencyLink(deps.db.owner, parseCreate(req));
    res.status(201).json({ data: row });
  });
  return router;
}
