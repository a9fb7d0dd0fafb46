import { Router, Request } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { getPersona, presentPersona, putPersona } from '../../shared/data/personas';
import { createSource, deleteSource, getSource, listSources, presentSource } from '../../shared/data/ai-sources';
import {
  CreateSourceBody,
  faqSourceSchema,
  previewSchema,
  putPersonaSchema,
  SourceType,
  sourceTypeSchema,
  textSourceSchema,
} from '../../shared/schemas/ai';
import { listQuery } from '../../shared/schemas/common';
import { ValidationError } from '../../shared/errors';
import { loadReplyContext } from '../../shared/ai/context';
import { composeReply, DEFAULT_PROVIDER_TIMEOUT_MS } from '../../shared/ai/responder';
import { webhookUrlProblem } from '../../shared/webhooks/ssrf';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parsePersona = bodyValidator(putPersonaSchema);
const parseSourceType = bodyValidator(sourceTypeSchema);
const parseTextSource = bodyValidator(textSourceSchema);
const parseFaqSource = bodyValidator(faqSourceSchema);
const parsePreview = bodyValidator(previewSchema);
const parseList = queryValidator<{ limit?: number; cursor?: string; type?: SourceType }>({
  ...listQuery,
  type: { type: 'string', enum: ['text', 'faq'] },
});

/** The shape is chosen by `type` first, so the errors name the fields of the shape the client meant. */
function parseSource(req: Request): CreateSourceBody {
  const { type } = parseSourceType(req);
  return type === 'faq' ? parseFaqSource(req) : parseTextSource(req);
}

/** AI persona, training sources and a preview of what auto-reply would answer (PRODUCT.md "AI personas"). */
export function aiRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { db, config } = deps;

  router.get('/persona', async (req, res) => {
    const row = await withTenant(db.app, req.caller!.tenantId, (t) => getPersona(t));
    res.json({ data: presentPersona(row) });
  });

  router.put('/persona', async (req, res) => {
    const body = parsePersona(req);
    // The same address policy as webhooks: hostnames are checked again on every connect.
    const problem = body.provider ? webhookUrlProblem(body.provider.base_url, { allowPrivateNetworks: config.webhookAllowPrivateNetworks }) : null;
    if (problem) throw new ValidationError(`Invalid request body: provider.base_url ${problem}.`, [{ path: 'provider.base_url', message: problem }]);
    const row = await withTenant(db.app, req.caller!.tenantId, (t) => putPersona(t, config.encryptionKey, body));
    res.json({ data: presentPersona(row) });
  });

  router.post('/persona/preview', async (req, res) => {
    const { message } = parsePreview(req);
    const context = await withTenant(db.app, req.caller!.tenantId, (t) => loadReplyContext(t, config.encryptionKey));
    // The provider call happens outside any transaction: it may take seconds.
    const composed = await composeReply(
      { ...context, message },
      { timeoutMs: DEFAULT_PROVIDER_TIMEOUT_MS, allowPrivateNetworks: config.webhookAllowPrivateNetworks },
    );
    res.json({ data: { ...composed, auto_reply_enabled: context.personaRow?.auto_reply_enabled ?? false } });
  });

  router.post('/sources', async (req, res) => {
    const body = parseSource(req);
    const row = await withTenant(db.app, req.caller!.tenantId, (t) => createSource(t, body));
    res.status(201).json({ data: presentSource(row) });
  });

  router.get('/sources', async (req, res) => {
    const query = parseList(req);
    const page = pageFrom(query);
    const rows = await withTenant(db.app, req.caller!.tenantId, (t) => listSources(t, { type: query.type }, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentSource, (row) => row.id));
  });

  router.get('/sources/:id', async (req, res) => {
    const row = await withTenant(db.app, req.caller!.tenantId, (t) => getSource(t, req.params.id));
    res.json({ data: presentSource(row) });
  });

  router.delete('/sources/:id', async (req, res) => {
    const row = await withTenant(db.app, req.caller!.tenantId, (t) => deleteSource(t, req.params.id));
    res.json({ data: { ...presentSource(row), deleted: true } });
  });

  return router;
}
