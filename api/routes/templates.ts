import { Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { createTemplateSchema, listTemplatesQuery, TemplateType, updateTemplateSchema } from '../../shared/schemas/templates';
import { createTemplate, deleteTemplate, getTemplate, listTemplates, presentTemplate, updateTemplate } from '../../shared/data/templates';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseCreate = bodyValidator(createTemplateSchema);
const parseUpdate = bodyValidator(updateTemplateSchema);
const parseList = queryValidator<{ type?: TemplateType; limit?: number; cursor?: string }>(listTemplatesQuery);

export function templateRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const body = parseCreate(req);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => createTemplate(t, body));
    res.status(201).json({ data: presentTemplate(row) });
  });

  router.get('/', async (req, res) => {
    const query = parseList(req);
    const page = pageFrom(query);
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listTemplates(t, query, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentTemplate, (row) => row.id));
  });

  router.get('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getTemplate(t, req.params.id));
    res.json({ data: presentTemplate(row) });
  });

  router.patch('/:id', async (req, res) => {
    const body = parseUpdate(req);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => updateTemplate(t, req.params.id, body));
    res.json({ data: presentTemplate(row) });
  });

  router.delete('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => deleteTemplate(t, req.params.id));
    res.json({ data: presentTemplate(row) });
  });

  return router;
}
