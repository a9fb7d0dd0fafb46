import { Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { getOptOut, listOptOuts, presentOptOut, recordOptIn, recordOptOut } from '../../shared/data/opt-outs';
import { emitEvent } from '../../shared/events';
import { enqueueAll, OutboxJob } from '../../shared/outbox';
import { ValidationError } from '../../shared/errors';
import { isE164 } from '../../shared/validation';
import { createOptOutSchema, listOptOutsQuery, ListOptOutsQuery } from '../../shared/schemas/opt-outs';
import { bodyValidator, queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseCreate = bodyValidator(createOptOutSchema);
const parseList = queryValidator<ListOptOutsQuery>(listOptOutsQuery);

/** The number in the path, URL-encoded E.164 (`%2B15551234567`; a literal `+` works too). */
function phoneParam(raw: string): string {
  if (!isE164(raw)) {
    throw new ValidationError('Invalid phone number in the path: use URL-encoded E.164, e.g. %2B15551234567.', [
      { path: 'phone', message: 'must be a phone number in E.164 format, e.g. +15551234567' },
    ]);
  }
  return raw;
}

/**
 * The opt-out registry. Manual changes emit the same events as keywords
 * (`opt_out.created`, `opt_out.removed`); nothing is ever deleted.
 */
export function optOutRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const query = parseList(req);
    const page = pageFrom(query);
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listOptOuts(t, { includeRemoved: query.include_removed === true }, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentOptOut, (row) => row.phone_number));
  });

  router.get('/:phone', async (req, res) => {
    const phone = phoneParam(req.params.phone);
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getOptOut(t, phone));
    res.json({ data: presentOptOut(row) });
  });

  // 201 when the number became opted out; 200 (and no event) when it already was.
  router.post('/', async (req, res) => {
    const body = parseCreate(req);
    const outcome = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const created = await recordOptOut(t, body.phone_number, 'api', null, body.reason ?? null);
      if (!created) return { row: await getOptOut(t, body.phone_number), jobs: [] as OutboxJob[], created: false };
      const job = await emitEvent(t, 'opt_out.created', { phone_number: body.phone_number, source: 'api', reason: body.reason ?? null });
      return { row: created, jobs: [job], created: true };
    });
    await enqueueAll(deps.queues, outcome.jobs).catch((error: unknown) => deps.log.warn({ err: error }, 'enqueue failed; the outbox relay will retry'));
    res.status(outcome.created ? 201 : 200).json({ data: presentOptOut(outcome.row) });
  });

  // Opting back in keeps the row (active: false, opted_back_in_at); 404 when the number never opted out.
  router.delete('/:phone', async (req, res) => {
    const phone = phoneParam(req.params.phone);
    const outcome = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => {
      const removed = await recordOptIn(t, phone);
      if (!removed) return { row: await getOptOut(t, phone), jobs: [] as OutboxJob[] };
      const job = await emitEvent(t, 'opt_out.removed', { phone_number: phone, source: 'api' });
      return { row: removed, jobs: [job] };
    });
    await enqueueAll(deps.queues, outcome.jobs).catch((error: unknown) => deps.log.warn({ err: error }, 'enqueue failed; the outbox relay will retry'));
    res.json({ data: presentOptOut(outcome.row) });
  });

  return router;
}
