import { Router } from 'express';
import {
  createPhoneLine,
  deletePhoneLine,
  getPhoneLine,
  listPhoneLines,
  presentPhoneLine,
  updatePhoneLine,
} from '../../../shared/data/phone-lines';
import { createPhoneLineSchema, updatePhoneLineSchema } from '../../../shared/schemas/admin';
import { listQuery } from '../../../shared/schemas/common';
import { bodyValidator, queryValidator } from '../../validate';
import { pageFrom, pageOf } from '../../pagination';
import type { ApiDeps } from '../../types';

const parseCreate = bodyValidator(createPhoneLineSchema);
const parseUpdate = bodyValidator(updatePhoneLineSchema);
const parseList = queryValidator<{ limit?: number; cursor?: string }>(listQuery);

export function adminPhoneLineRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const row = await createPhoneLine(deps.db.owner, deps.config.encryptionKey, parseCreate(req));
    deps.log.info({ lineId: row.id, audit: 'phone_line.created', mode: row.mode }, 'phone line registered');
    res.status(201).json({ data: presentPhoneLine(row) });
  });
  router.get('/', async (req, res) => {
    const page = pageFrom(parseList(req));
    const rows = await listPhoneLines(deps.db.owner, page.limit, page.cursor);
    res.json(pageOf(rows, page, presentPhoneLine, (row) => row.id));
  });
  router.get('/:id', async (req, res) => {
    res.json({ data: presentPhoneLine(await getPhoneLine(deps.db.owner, req.params.id)) });
  });
  router.patch('/:id', async (req, res) => {
    const row = await updatePhoneLine(deps.db.owner, deps.config.encryptionKey, req.params.id, parseUpdate(req));
    deps.log.info({ lineId: row.id, audit: 'phone_line.updated' }, 'phone line updated');
    res.json({ data: presentPhoneLine(row) });
  });
  router.delete('/:id', async (req, res) => {
    await deletePhoneLine(deps.db.owner, req.params.id);
    deps.log.info({ lineId: req.params.id, audit: 'phone_line.deleted' }, 'phone line deleted');
    res.json({ data: { id: req.params.id, deleted: true } });
  });
  return router;
}
