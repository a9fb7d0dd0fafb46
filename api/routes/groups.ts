import { Request, Response, Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { listQuery } from '../../shared/schemas/common';
import { createGroupSchema, groupMembersSchema, updateGroupSchema } from '../../shared/schemas/groups';
import { addMembers, createGroup, deleteGroup, getGroup, listGroups, listMembers, presentGroup, removeMembers, updateGroup } from '../../shared/data/groups';
import { groupIdsOf, presentContact } from '../../shared/data/contacts';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseCreate = bodyValidator(createGroupSchema);
const parseUpdate = bodyValidator(updateGroupSchema);
const parseMembers = bodyValidator(groupMembersSchema);
const parsePage = queryValidator<{ limit?: number; cursor?: string }>(listQuery);

export function groupRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/', async (req, res) => {
    const body = parseCreate(req);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => createGroup(t, body));
    res.status(201).json({ data: presentGroup(row) });
  });

  router.get('/', async (req, res) => {
    const page = pageFrom(parsePage(req));
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listGroups(t, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentGroup, (row) => row.id));
  });

  router.get('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getGroup(t, req.params.id));
    res.json({ data: presentGroup(row) });
  });

  router.patch('/:id', async (req, res) => {
    const body = parseUpdate(req);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => updateGroup(t, req.params.id, body));
    res.json({ data: presentGroup(row) });
  });

  router.delete('/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => deleteGroup(t, req.params.id));
    res.json({ data: presentGroup(row) });
  });

  router.get('/:id/members', async (req, res) => {
    const page = pageFrom(parsePage(req));
    const result = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const rows = await listMembers(t, req.params.id, page.limit, page.cursor);
      const groups = await groupIdsOf(t, rows.map((row) => row.id));
      return pageOf(rows, page, (row) => presentContact(row, groups.get(row.id)), (row) => row.id);
    });
    res.json(result);
  });

  router.post('/:id/members', async (req, res) => {
    const body = parseMembers(req);
    const { added, group } = await withTenant(deps.db.app, req.caller!.tenantId, (t) => addMembers(t, req.params.id, body.contact_ids));
    res.json({ data: { group: presentGroup(group), added } });
  });

  const remove = async (req: Request<{ id: string }>, res: Response) => {
    const body = parseMembers(req);
    const { removed, group } = await withTenant(deps.db.app, req.caller!.tenantId, (t) => removeMembers(t, req.params.id, body.contact_ids));
    res.json({ data: { group: presentGroup(group), removed } });
  };
  router.delete('/:id/members', remove);
  // Some HTTP clients cannot send a body with DELETE.
  router.post('/:id/members/remove', remove);

  return router;
}
