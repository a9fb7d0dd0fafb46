import { Router } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { getOwnTenant } from '../../shared/data/tenants';
import { getBillingEvent, listBillingEvents, presentBillingEvent } from '../../shared/data/billing';
import { listUsageRecords, presentUsageRecord, usageSummary } from '../../shared/data/usage';
import { listBillingEventsQuery } from '../../shared/schemas/billing';
import { listQuery } from '../../shared/schemas/common';
import { queryValidator } from '../validate';
import { pageFrom, pageOf } from '../pagination';
import type { ApiDeps } from '../types';

const parseEvents = queryValidator<{ limit?: number; cursor?: string; type?: string }>(listBillingEventsQuery);
const parseRecords = queryValidator<{ limit?: number; cursor?: string }>(listQuery);
const parseUsage = queryValidator<Record<string, never>>({});

/** Usage of the current UTC month, monthly usage records and billing events, for the tenant and its biller. */
export function billingRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.get('/usage', async (req, res) => {
    parseUsage(req);
    const summary = await withTenant(deps.db.app, req.caller!.tenantId, async (t) => usageSummary(t, await getOwnTenant(t), new Date()));
    res.json({ data: summary });
  });

  router.get('/usage-records', async (req, res) => {
    const page = pageFrom(parseRecords(req));
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listUsageRecords(t, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentUsageRecord, (row) => row.period_start));
  });

  router.get('/events', async (req, res) => {
    const query = parseEvents(req);
    const page = pageFrom(query);
    const rows = await withTenant(deps.db.app, req.caller!.tenantId, (t) => listBillingEvents(t, query, page.limit, page.cursor));
    res.json(pageOf(rows, page, presentBillingEvent, (row) => row.id));
  });

  router.get('/events/:id', async (req, res) => {
    const row = await withTenant(deps.db.app, req.caller!.tenantId, (t) => getBillingEvent(t, req.params.id));
    res.json({ data: presentBillingEvent(row) });
  });

  return router;
}
