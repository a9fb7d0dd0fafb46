import { Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { cachedCapabilities, presentCapability, storeCapabilities, CapabilityRow } from '../../shared/data/capabilities';
import { askCapabilities } from '../../shared/device/client';
import { decryptSecret } from '../../shared/crypto';
import { ServiceUnavailableError } from '../../shared/errors';
import { capabilityNumbersSchema } from '../../shared/schemas/messages';
import { isE164 } from '../../shared/validation';
import { ValidationError } from '../../shared/errors';
import { capabilityCheckLine } from '../../shared/data/phone-lines';
import type { Caller, ApiDeps } from '../types';
import { bodyValidator } from '../validate';

const parseNumbers = bodyValidator(capabilityNumbersSchema);

/**
 * Capability look-ups: from the tenant's own 90-day cache, else asked of one
 * of the tenant's online lines. Sandbox keys get synthetic answers (iMessage
 * for every number) and touch no device. The bridge is never asked inside a
 * transaction.
 */
async function lookUp(deps: ApiDeps, caller: Caller, numbers: string[]) {
  const unique = [...new Set(numbers)];
  if (caller.sandbox) {
    const now = new Date();
    return unique.map((number) => ({ number, imessage: true, sms: true, rcs: false, cached: false, checked_at: now, cache_expires_at: now }));
  }
  const tenant = { id: caller.tenantId, pool: caller.pool };
  // Read the cache and pick a line in one short transaction; ask the bridge
  // outside any transaction; store the answers in a second one.
  const { cached, line } = await withTenant(deps.db.app, caller.tenantId, async (t) => {
    const hits = await cachedCapabilities(t, unique);
    const needsLine = unique.some((number) => !hits.has(number));
    return { cached: hits, line: needsLine ? await capabilityCheckLine(t.trx, tenant) : null };
  });
  const missing = unique.filter((number) => !cached.has(number));
  const fresh = new Map<string, CapabilityRow>();
  if (missing.length > 0) {
    if (!line) throw new ServiceUnavailableError('No phone line is online to check capabilities.', 'NO_PHONE_AVAILABLE');
    let results;
    try {
      results = await askCapabilities({ lineId: line.id, bridgeUrl: line.bridge_url, secret: decryptSecret(deps.config.encryptionKey, line.secret_encrypted) }, missing, deps.config.device.timeoutMs);
    } catch {
      throw new ServiceUnavailableError('The phone line did not answer the capability check; retry shortly.', 'NO_PHONE_AVAILABLE');
    }
    const stored = await withTenant(deps.db.app, caller.tenantId, async (t) => storeCapabilities(t, results));
    for (const row of stored) fresh.set(row.phone_number, row);
  }
  return unique
    .map((number) => (cached.has(number) ? presentCapability(cached.get(number)!, true) : fresh.has(number) ? presentCapability(fresh.get(number)!, false) : null))
    .filter((row) => row !== null);
}

export function capabilityRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/:number', async (req, res) => {
    const number = req.params.number.trim();
    if (!isE164(number)) throw new ValidationError('Invalid number: must be E.164, e.g. +15551234567 (URL-encode the +).', [{ path: 'number', message: 'must be a phone number in E.164 format' }]);
    const [result] = await lookUp(deps, req.caller!, [number]);
    if (!result) throw new ServiceUnavailableError('The phone line gave no answer for this number.', 'NO_PHONE_AVAILABLE');
    res.json({ data: result });
  });
  router.post('/', async (req, res) => {
    const { numbers } = parseNumbers(req);
    res.json({ data: await lookUp(deps, req.caller!, numbers) });
  });
  return router;
}
