import { Router } from 'express';
import { withTenant } from '../../../shared/db/tenant';
import { createApiKey, presentApiKey } from '../../../shared/data/api-keys';
import { getTenant } from '../../../shared/data/tenants';
import { adminCreateApiKeySchema } from '../../../shared/schemas/admin';
import { ValidationError, NotFoundError } from '../../../shared/errors';
import { bodyValidator } from '../../validate';
import type { ApiDeps } from '../../types';

const parseCreate = bodyValidator(adminCreateApiKeySchema);

export function adminApiKeyRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const body = parseCreate(req);
    try {
      await getTenant(deps.db.owner, body.tenant_id);
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new ValidationError('Invalid request body: tenant_id names no tenant.', [{ path: 'tenant_id', message: 'names no tenant' }]);
      }
      throw error;
    }
    // Operator-provisioned keys still go through the tenant-scoped layer.
    const { row, key } = await withTenant(deps.db.app, body.tenant_id, (t) =>
      createApiKey(t, {
        name: body.name,
        prefix: body.prefix,
        permissions: body.permissions,
        rateLimit: body.rate_limit ?? null,
        rateLimitUnlimited: body.rate_limit === null,
        createdBy: 'operator',
      }),
    );
    deps.log.info({ tenantId: body.tenant_id, audit: 'api_key.created', keyId: row.id }, 'operator created an API key');
    res.status(201).json({ data: { ...presentApiKey(row), tenant_id: body.tenant_id, key } });
  });
  return router;
}
