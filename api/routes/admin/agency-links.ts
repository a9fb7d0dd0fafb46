import { Router } from 'express';
import { createAgencyLinkSchema } from '../../../shared/schemas/admin';
import { createAgencyLink } from '../../../shared/data/subaccounts';
import { bodyValidator } from '../../validate';
import type { ApiDeps } from '../../types';

const parseCreate = bodyValidator(createAgencyLinkSchema);

export function adminAgencyLinkRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const row = await createAgencyLink(deps.db.owner, parseCreate(req));
    res.status(201).json({ data: row });
  });
  return router;
}
