import { Router, Request } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { ForbiddenError, NotFoundError, ValidationError } from '../../shared/errors';
import { getStatusCallbackSecret, presentStatusCallbackSecret, rotateStatusCallbackSecret } from '../../shared/data/status-callbacks';
import { rotateSecretSchema } from '../../shared/schemas/webhooks';
import { webhookSecretProblem } from '../../shared/webhooks/signing';
import { bodyValidator } from '../validate';
import type { ApiDeps } from '../types';

const parseRotate = bodyValidator(rotateSecretSchema);

/**
 * The tenant's status-callback signing secret: every message's
 * status_callback POSTs are signed with it, as webhook deliveries are with
 * their endpoint's. Reading it hands the secret over, so it needs a key with
 * full permissions (as rotating does; test keys may read it, to verify sandbox
 * callbacks, but not rotate it).
 */
export function statusCallbackSecretRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { config } = deps;

  function requireFull(req: Request): void {
    if (req.caller!.permissions !== 'full') throw new ForbiddenError('Reading or rotating the status callback secret needs a key with full permissions.');
  }

  router.get('/', async (req, res) => {
    requireFull(req);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getStatusCallbackSecret(t));
    if (!row) throw new NotFoundError('status callback secret (none yet: POST /v1/status-callback-secret makes one, and so does the first status callback)');
    res.json({ data: presentStatusCallbackSecret(row, config.encryptionKey) });
  });

  router.post('/', async (req, res) => {
    requireFull(req);
    if (req.body === undefined || req.body === null) req.body = {};
    const body = parseRotate(req);
    const problem = body.secret === undefined ? null : webhookSecretProblem(body.secret);
    if (problem) throw new ValidationError(`Invalid request body: secret ${problem}.`, [{ path: 'secret', message: problem }]);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) =>
      rotateStatusCallbackSecret(t, config.encryptionKey, config.webhooks.rotationOverlapHours, body.secret),
    );
    res.json({ data: presentStatusCallbackSecret(row, config.encryptionKey) });
  });

  return router;
}
