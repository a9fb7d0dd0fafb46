import { Router, Request, Response } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { CONSENT_CSV_HEADER, consentCsvLine, forEachConsentBatch, getConsent, listConsent, presentConsent, recordConsent } from '../../shared/data/consent';
import { ValidationError } from '../../shared/errors';
import { consentFilterQuery, ConsentFilters, createConsentSchema, listConsentQuery } from '../../shared/schemas/consent';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseCreate = bodyValidator(createConsentSchema);
const parseList = queryValidator<ConsentFilters & { limit?: number; cursor?: string }>(listConsentQuery);
const parseExport = queryValidator<ConsentFilters>(consentFilterQuery);

/** Consent recorded with a time this far ahead of the server's clock is refused (clock skew allowed). */
const FUTURE_SKEW_MS = 5 * 60 * 1000;

/** The connecting address; an IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d. */
function requestIp(req: Request): string | null {
  const ip = req.ip ?? req.socket.remoteAddress ?? null;
  return ip ? ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1') : null;
}

/** Writes a chunk, waiting for the socket to drain; false when the client went away. */
function writeChunk(res: Response, chunk: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve(false);
    if (res.write(chunk)) return resolve(true);
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve(!res.destroyed);
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** The TCPA consent ledger: append, read, export. */
export function complianceRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/consent', async (req, res) => {
    const body = parseCreate(req);
    if (body.consented_at && Date.parse(body.consented_at) > Date.now() + FUTURE_SKEW_MS) {
      throw new ValidationError('Invalid request body: consented_at is in the future.', [{ path: 'consented_at', message: 'must not be in the future' }]);
    }
    const caller = req.caller!;
    const row = await withTenant(deps.db.app, caller.tenantId, (t) =>
      recordConsent(t, body, { apiKeyId: caller.keyId, ip: requestIp(req), userAgent: req.get('User-Agent')?.slice(0, 1000) ?? null }),
    );
    res.status(201).json({ data: presentConsent(row) });
  });

  router.get('/consent', async (req, res) => {
    const query = parseList(req);
    const page = pageFrom(query);
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listConsent(t, query, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentConsent, (row) => row.id));
  });

  // CSV of every matching entry, streamed through a cursor: flat memory for any size.
  router.get('/consent/export', async (req, res) => {
    const filters = parseExport(req);
    let started = false;
    const start = async () => {
      if (started) return true;
      started = true;
      res.status(200);
      res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="consent-${new Date().toISOString().slice(0, 10)}.csv"`, 'Cache-Control': 'no-store' });
      return writeChunk(res, CONSENT_CSV_HEADER);
    };
    try {
      await forEachConsentBatch(deps.db.app, req.caller!.tenantId, filters, async (rows) => {
        if (!(await start())) return false;
        return writeChunk(res, rows.map(consentCsvLine).join(''));
      });
      if (!started) await start();
      res.end();
    } catch (error) {
      // Before the first byte the error handler answers as usual; after it, the
      // only honest signal left is to cut the stream (the CSV is incomplete).
      if (!res.headersSent) throw error;
      deps.log.error({ err: error }, 'consent export failed mid-stream');
      res.destroy(error as Error);
    }
  });

  router.get('/consent/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getConsent(t, req.params.id));
    res.json({ data: presentConsent(row) });
  });

  return router;
}
