import { Router } from 'express';
import { createAgencyLinkSchema } from '../../../shared/schemas/admin';
import { ValidationError } from '../../../shared/errors';
import { bodyValidator } from '../../validate';
import type { ApiDeps } from '../../types';

const parseCreate = bodyValidator<{ agency_tenant_id: string; client_tenant_id: string }>(createAgencyLinkSchema);

export function adminAgencyLinkRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const body = parseCreate(req);
    if (body.agency_tenant_id === body.client_tenant_id) {
      throw new ValidationError('Invalid request body: a tenant cannot be its own client.', [{ path: 'client_tenant_id', message: 'must differ from agency_tenant_id' }]);
    }
    const tenants = await deps.db.owner('tenants').whereIn('id', [body.agency_tenant_id, body.client_tenant_id]).select('id', 'is_agency');
    const agency = tenants.find((row) => row.id === body.agency_tenant_id);
    if (!agency) throw new ValidationError('Invalid request body: agency_tenant_id names no tenant.', [{ path: 'agency_tenant_id', message: 'names no tenant' }]);
    if (!agency.is_agency) throw new ValidationError('Invalid request body: that tenant is not an agency.', [{ path: 'agency_tenant_id', message: 'is not marked as an agency' }]);
    if (!tenants.some((row) => row.id === body.client_tenant_id)) {
      throw new ValidationError('Invalid request body: client_tenant_id names no tenant.', [{ path: 'client_tenant_id', message: 'names no tenant' }]);
    }
    const [row] = await deps.db.owner('agency_links').insert(body).returning('*');
    res.status(201).json({ data: row });
  });
  return router;
}
