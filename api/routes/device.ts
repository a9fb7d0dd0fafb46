import express, { Router } from 'express';
import { decryptSecret } from '../../shared/crypto';
import { verifyDeviceSignature } from '../../shared/device/signing';
import { applyDeviceEvents } from '../../shared/device/events';
import { AppError, ForbiddenError, UnauthorizedError } from '../../shared/errors';
import { securityEvent } from '../../shared/db/tenant';
import { enqueueAll } from '../../shared/outbox';
import { deviceEventsSchema, DeviceEvent } from '../../shared/schemas/device';
import { ajv, toValidationError } from '../../shared/validation';
import { findPhoneLine } from '../../shared/data/phone-lines';
import type { ApiDeps } from '../types';

const validateEvents = ajv.compile<{ events: DeviceEvent[] }>(deviceEventsSchema);

/**
 * The bridges' door (docs/device-protocol.md): line, timestamp and signature are
 * checked over the raw bytes before anything is parsed or applied.
 */
export function deviceRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/v1/events', express.raw({ type: () => true, limit: deps.config.bodyLimitBytes }), async (req, res) => {
    const lineId = req.get('X-Senderz-Line');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const line = lineId && /^[0-9A-HJKMNP-TV-Z]{26}$/.test(lineId) ? await findPhoneLine(deps.db.app, lineId) : null;
    if (!line) {
      securityEvent('device_unknown_line', { lineId: lineId?.slice(0, 64) });
      throw new UnauthorizedError('Unknown line.', 'INVALID_SIGNATURE');
    }
    const problem = verifyDeviceSignature(
      decryptSecret(deps.config.encryptionKey, line.secret_encrypted),
      { timestamp: req.get('X-Senderz-Timestamp'), signature: req.get('X-Senderz-Signature') },
      raw,
      deps.config.device.timestampToleranceSeconds,
    );
    if (problem) {
      securityEvent('device_bad_signature', { lineId: line.id, problem });
      throw new UnauthorizedError(problem === 'stale' ? 'Stale timestamp.' : 'Bad signature.', 'INVALID_SIGNATURE');
    }
    if (!line.enabled) {
      securityEvent('device_line_disabled', { lineId: line.id });
      throw new ForbiddenError('This line is disabled; its events are not accepted.');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new AppError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
    }
    if (!validateEvents(parsed)) throw toValidationError(validateEvents.errors, 'device events');
    const events = parsed.events;
    const ids = new Set<string>();
    for (const [index, event] of events.entries()) {
      if (ids.has(event.id)) continue;
      ids.add(event.id);
      if (Number.isNaN(Date.parse(event.occurred_at))) throw toValidationError([{ instancePath: `/events/${index}/occurred_at`, keyword: 'format', params: { format: 'date-time' }, schemaPath: '', message: 'must be a date-time' }], 'device events');
    }

    const jobs = await applyDeviceEvents(deps.db.app, line, events, deps.log);
    await enqueueAll(deps.queues, jobs).catch((error: unknown) => deps.log.warn({ err: error }, 'enqueue failed; the outbox relay will retry'));
    res.status(202).json({ accepted: events.length });
  });
  return router;
}
