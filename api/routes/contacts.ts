import express, { RequestHandler, Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { ValidationError } from '../../shared/errors';
import { enqueueAll } from '../../shared/outbox';
import { listQuery } from '../../shared/schemas/common';
import {
  ContactFilters,
  createContactSchema,
  importContactsSchema,
  importCsvQuery,
  listContactsQuery,
  updateContactSchema,
} from '../../shared/schemas/contacts';
import { createContact, deleteContact, getContact, groupIdsOf, listContacts, presentContact, updateContact } from '../../shared/data/contacts';
import { createImport, getImport, listImports, presentImport, rowsFromCsv } from '../../shared/data/imports';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseCreate = bodyValidator(createContactSchema);
const parseUpdate = bodyValidator(updateContactSchema);
const parseImport = bodyValidator(importContactsSchema);
const parseCsvQuery = queryValidator<{ update_existing?: boolean; group_id?: string }>(importCsvQuery);
const parseNoQuery = queryValidator<Record<string, never>>({});
const parseList = queryValidator<ContactFilters & { limit?: number; cursor?: string }>(listContactsQuery);
const parsePage = queryValidator<{ limit?: number; cursor?: string }>(listQuery);

/** An import of 10,000 rows is larger than the API's usual JSON limit. */
export const IMPORT_BODY_LIMIT = '5mb';

/**
 * Body parsing for `POST /v1/contacts/import` (JSON or `text/csv`, up to 5 MB),
 * mounted before the API's general JSON parser so that the upload is parsed
 * once, under this route's own limit, and before the Idempotency-Key check
 * hashes the body.
 */
export function contactImportBodyParser(): RequestHandler {
  const json = express.json({ limit: IMPORT_BODY_LIMIT, strict: false, type: ['application/json', 'application/*+json'] });
  const csv = express.text({ type: 'text/csv', limit: IMPORT_BODY_LIMIT });
  return (req, res, next) => {
    if (req.method !== 'POST' || req.path !== '/contacts/import') {
      next();
      return;
    }
    json(req, res, (error?: unknown) => (error ? next(error) : csv(req, res, next)));
  };
}

export function contactRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const body = parseCreate(req);
    const data = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const row = await createContact(t, body);
      return presentContact(row, (await groupIdsOf(t, [row.id])).get(row.id));
    });
    res.status(201).json({ data });
  });

  router.get('/', async (req, res) => {
    const query = parseList(req);
    if (query.phone_prefix) query.phone_prefix = `+${query.phone_prefix.replace(/^[+ ]/, '')}`;
    const page = pageFrom(query);
    const result = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const rows = await listContacts(t, query, page.limit, page.cursor);
      const groups = await groupIdsOf(t, rows.map((row) => row.id));
      return pageOf(rows, page, (row) => presentContact(row, groups.get(row.id)), (row) => row.id);
    });
    res.json(result);
  });

  router.post('/import', async (req, res) => {
    let input: { format: 'json' | 'csv'; rows: unknown[]; updateExisting: boolean; groupId: string | null };
    if (req.is('text/csv')) {
      const query = parseCsvQuery(req);
      if (typeof req.body !== 'string') throw new ValidationError('The CSV upload is empty.', [{ path: '(body)', message: 'is required' }]);
      input = { format: 'csv', rows: rowsFromCsv(req.body), updateExisting: query.update_existing ?? false, groupId: query.group_id ?? null };
    } else {
      parseNoQuery(req);
      // A bare JSON array is accepted as the list of contacts.
      if (Array.isArray(req.body)) req.body = { contacts: req.body };
      const body = parseImport(req);
      input = { format: 'json', rows: body.contacts, updateExisting: body.update_existing ?? false, groupId: body.group_id ?? null };
    }
    const { row, jobs } = await withTenant(deps.db.app, req.caller!.tenantId, (t) => createImport(t, input));
    await enqueueAll(deps.queues, jobs).catch((error: unknown) => deps.log.warn({ err: error, importId: row.id }, 'enqueue failed; the outbox relay will retry'));
    res.status(202).json({ data: presentImport(row) });
  });

  router.get('/imports', async (req, res) => {
    const page = pageFrom(parsePage(req));
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listImports(t, page.limit, page.cursor));
    res.json(pageOf(rows, page, (row) => presentImport(row, { withErrors: false }), (row) => row.id));
  });

  router.get('/imports/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getImport(t, req.params.id));
    res.json({ data: presentImport(row) });
  });

  router.get('/:id', async (req, res) => {
    const data = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const row = await getContact(t, req.params.id);
      return presentContact(row, (await groupIdsOf(t, [row.id])).get(row.id));
    });
    res.json({ data });
  });

  router.patch('/:id', async (req, res) => {
    const body = parseUpdate(req);
    const data = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const row = await updateContact(t, req.params.id, body);
      return presentContact(row, (await groupIdsOf(t, [row.id])).get(row.id));
    });
    res.json({ data });
  });

  router.delete('/:id', async (req, res) => {
    const data = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const groups = await groupIdsOf(t, [req.params.id]);
      return presentContact(await deleteContact(t, req.params.id), groups.get(req.params.id));
    });
    res.json({ data });
  });

  return router;
}
