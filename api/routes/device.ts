import express, { Router } from 'express';
import { verifyDeviceSignature } from '../../shared/device/signing';
import { applyDeviceEvents, applyStatusReportsAt, onlyStatusReports } from '../../shared/device/events';
import { createLineCache, KnownLine } from '../../shared/device/line-cache';
import { AppError, ForbiddenError, UnauthorizedError } from '../../shared/errors';
import { securityEvent } from '../../shared/db/tenant';
import { enqueueAll, OutboxJob } from '../../shared/outbox';
import { deviceEventsSchema, DeviceEvent } from '../../shared/schemas/device';
import { ajv, toValidationError } from '../../shared/validation';
import type { ApiDeps } from '../types';

const validateEvents = ajv.compile<{ events: DeviceEvent[] }>(deviceEventsSchema);

/**
 * The bridges' door (docs/device-protocol.md): line, timestamp and signature are
 * checked over the raw bytes before anything is parsed or applied.
 */
/** The body's events, or the 400 that names what is wrong with it. */
function parseEvents(raw: Buffer): DeviceEvent[] {
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
  return events;
}

export function deviceRoutes(deps: ApiDeps): Router {
  const router = Router();
  const lines = createLineCache(deps.db.app, deps.config.encryptionKey);
  const timestamp = (req: express.Request) => ({ timestamp: req.get('X-Senderz-Timestamp'), signature: req.get('X-Senderz-Signature') });
  /** What is wrong with a post signed for this line, if anything. */
  const check = (known: KnownLine | null, req: express.Request, raw: Buffer) => {
    if (!known) return 'unknown' as const;
    const problem = verifyDeviceSignature(known.secret, timestamp(req), raw, deps.config.device.timestampToleranceSeconds);
    if (problem) return problem;
    return known.line.enabled ? null : ('disabled' as const);
  };
  /** The line, read again from PostgreSQL, or the request refused as before any line was kept. */
  const readAgain = async (lineId: string, req: express.Request, raw: Buffer): Promise<KnownLine> => {
    const known = await lines.load(lineId);
    const problem = check(known, req, raw);
    if (!known || problem === 'unknown') {
      securityEvent('device_unknown_line', { lineId: lineId.slice(0, 64) });
      throw new UnauthorizedError('Unknown line.', 'INVALID_SIGNATURE');
    }
    if (problem === 'disabled') {
      securityEvent('device_line_disabled', { lineId: known.line.id });
      throw new ForbiddenError('This line is disabled; its events are not accepted.');
    }
    if (problem) {
      securityEvent('device_bad_signature', { lineId: known.line.id, problem });
      throw new UnauthorizedError(problem === 'stale' ? 'Stale timestamp.' : 'Bad signature.', 'INVALID_SIGNATURE');
    }
    return known;
  };

  router.post('/v1/events', express.raw({ type: () => true, limit: deps.config.bodyLimitBytes }), async (req, res) => {
    const lineId = req.get('X-Senderz-Line');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!lineId || !/^[0-9A-HJKMNP-TV-Z]{26}$/.test(lineId)) {
      securityEvent('device_unknown_line', { lineId: lineId?.slice(0, 64) });
      throw new UnauthorizedError('Unknown line.', 'INVALID_SIGNATURE');
    }
    // A kept line that fails a check may have changed since (a new secret, enabled again): read it again before refusing.
    const kept = lines.peek(lineId);
    let known = kept && !check(kept, req, raw) ? kept : await readAgain(lineId, req, raw);
    let events: DeviceEvent[];
    try {
      events = parseEvents(raw);
    } catch (error) {
      // Refuse a bad body only once the line is known to still accept this signature (else 401/403 as without a kept row).
      if (!known.fresh) await readAgain(lineId, req, raw);
      throw error;
    }

    let jobs: OutboxJob[] | null = null;
    if (onlyStatusReports(events)) {
      // One statement that applies nothing if the line moved from the row the signature was checked against.
      jobs = await applyStatusReportsAt(deps.db.app, known.line, known.version, events, deps.log);
    }
    if (!jobs) {
      // Inbound messages and heartbeats act on the line's mode, owner and number: never on a kept row.
      if (!known.fresh || onlyStatusReports(events)) known = await readAgain(lineId, req, raw);
      jobs = await applyDeviceEvents(deps.db.app, known.line, events, deps.log);
    }
    await enqueueAll(deps.queues, jobs).catch((error: unknown) => deps.log.warn({ err: error }, 'enqueue failed; the outbox relay will retry'));
    res.status(202).json({ accepted: events.length });
  });
  return router;
}
