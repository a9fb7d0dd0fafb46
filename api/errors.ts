import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError } from '../shared/errors';
import { logger } from '../shared/logger';

interface BodyParserError {
  type?: string;
  status?: number;
}

/**
 * A database or Redis that cannot be reached right now (restart, failover, connections dropped):
 * PostgreSQL classes 08 (connection exception) and 57P01–57P03 (shutdown, cannot connect now),
 * too many connections, socket errors, a pool that could not hand out a connection in time, and
 * Redis connections that are closed.
 */
export function isBackendUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code))) return true;
  if (name === 'KnexTimeoutError' || name === 'MaxRetriesPerRequestError') return true;
  // knex puts the statement in front of the driver's message ("SELECT … - Connection terminated unexpectedly").
  return typeof message === 'string' && /(?:^|\s-\s)(Connection terminated|Connection is closed|Client has encountered a connection error)/.test(message);
}

/** Maps every error to the documented envelope; nothing internal leaks out. */
export const errorHandler: ErrorRequestHandler = (error, req, res, _next) => {
  void _next;
  if (res.headersSent) return;
  if (error instanceof AppError) {
    if (error.headers) res.set(error.headers);
    const body: Record<string, unknown> = { error: error.message, code: error.code };
    if (error.details) body.details = error.details;
    res.status(error.status).json(body);
    return;
  }
  const parserError = error as BodyParserError;
  if (parserError.type === 'entity.parse.failed') {
    res.status(400).json({ error: 'The request body is not valid JSON.', code: 'INVALID_JSON' });
    return;
  }
  if (parserError.type === 'entity.too.large') {
    res.status(413).json({ error: 'The request body is too large.', code: 'PAYLOAD_TOO_LARGE' });
    return;
  }
  if (parserError.type === 'encoding.unsupported' || parserError.type === 'charset.unsupported') {
    res.status(400).json({ error: 'Unsupported body encoding; send UTF-8 JSON.', code: 'INVALID_JSON' });
    return;
  }
  const httpStatus = (error as { status?: number; statusCode?: number }).status ?? (error as { statusCode?: number }).statusCode;
  if (error instanceof URIError || (httpStatus === 400 && /decode|URI/i.test(String((error as Error).message)))) {
    res.status(400).json({ error: 'The URL is not validly percent-encoded.', code: 'VALIDATION_ERROR', details: [{ path: '(url)', message: 'is not validly percent-encoded' }] });
    return;
  }
  const zlibCode = (error as { code?: unknown }).code;
  if ((parserError.type && httpStatus !== undefined && httpStatus >= 400 && httpStatus < 500) || (typeof zlibCode === 'string' && zlibCode.startsWith('Z_'))) {
    // Any other refusal by the body parser (bad Content-Encoding, aborted body…).
    res.status(400).json({ error: 'The request body could not be read; send UTF-8 JSON without a Content-Encoding.', code: 'INVALID_JSON' });
    return;
  }
  const pgCode = (error as { code?: string }).code;
  if (typeof pgCode === 'string' && pgCode.startsWith('22')) {
    // PostgreSQL "data exception": a NUL character, an out-of-range number, a bad date.
    res.status(400).json({ error: 'A value in the request cannot be stored (for example a NUL character or an out-of-range number).', code: 'VALIDATION_ERROR' });
    return;
  }
  if (pgCode === '23505') {
    res.status(409).json({ error: 'A record with these values already exists.', code: 'CONFLICT' });
    return;
  }
  if (pgCode === '23503') {
    res.status(409).json({ error: 'This record is still referenced by other records.', code: 'CONFLICT' });
    return;
  }
  if (isBackendUnavailable(error)) {
    // The outcome of a write cut off by a dropped connection is unknown: the client retries,
    // with its Idempotency-Key, and gets either the first answer or a fresh attempt.
    logger.warn({ err: error, reqId: req.id }, 'storage unavailable');
    res.set('Retry-After', '1');
    res.status(503).json({ error: `The service is briefly unavailable (request ${req.id}); retry shortly with the same Idempotency-Key.`, code: 'SERVICE_UNAVAILABLE' });
    return;
  }
  logger.error({ err: error, reqId: req.id }, 'unhandled error');
  res.status(500).json({ error: `Something went wrong on our side (request ${req.id}).`, code: 'INTERNAL' });
};

export const notFoundHandler: RequestHandler = (_req, res) => {
  res.status(404).json({ error: 'No such route.', code: 'NOT_FOUND' });
};
