import type { RequestHandler } from 'express';
import { ForbiddenError } from '../../shared/errors';

/**
 * Test keys (`tf_test_…`) touch sandbox traffic only (PRODUCT.md §3). They may
 * read everything their tenant may read, and make exactly these writes, each
 * of which produces or steers sandbox traffic alone:
 * - POST /v1/messages: a sandbox message (synthetic delivery, no device);
 * - DELETE /v1/messages/:id: cancels a scheduled sandbox message (a test key
 *   never sees a live message: 404);
 * - POST /v1/campaigns and /v1/campaigns/:id/pause|resume|cancel: a sandbox
 *   campaign (the campaign routes refuse a test key on a live campaign);
 * - POST /v1/capabilities: answered synthetically for a test key;
 * - POST /v1/webhooks/:id/test: a ping marked sandbox;
 * - POST /v1/ai/persona/preview: a reply computed, nothing stored.
 * Every other write (keys, opt-outs, consent, webhooks, personas and sources,
 * contacts, groups, templates, subaccounts) changes live state: 403 FORBIDDEN.
 * The README lists the same table.
 */
const SANDBOX_WRITES: { method: string; path: RegExp }[] = [
  { method: 'POST', path: /^\/messages\/?$/ },
  { method: 'DELETE', path: /^\/messages\/[^/]+\/?$/ },
  { method: 'POST', path: /^\/campaigns\/?$/ },
  { method: 'POST', path: /^\/campaigns\/[^/]+\/(?:pause|resume|cancel)\/?$/ },
  { method: 'POST', path: /^\/capabilities\/?$/ },
  { method: 'POST', path: /^\/webhooks\/[^/]+\/test\/?$/ },
  { method: 'POST', path: /^\/ai\/persona\/preview\/?$/ },
];

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Mounted on /v1 after authentication: `req.path` is relative to /v1. */
export const testKeysTouchSandboxOnly: RequestHandler = (req, _res, next) => {
  if (!req.caller?.sandbox || READS.has(req.method)) return next();
  if (SANDBOX_WRITES.some((allowed) => allowed.method === req.method && allowed.path.test(req.path))) return next();
  next(new ForbiddenError('Test keys (tf_test_) may send sandbox traffic and read configuration, but not change live state; use a live key (tf_live_).'));
};
