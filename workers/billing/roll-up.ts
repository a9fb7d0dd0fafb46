import { withTenant } from '../../shared/db/tenant';
import { getOwnTenant } from '../../shared/data/tenants';
import { rollUpUsage, UsageRecordRow } from '../../shared/data/usage';
import { recordBillingEvent } from '../../shared/data/billing';
import { jobId } from '../../shared/queues';
import { nextUtcMonth, startOfUtcMonth, utcMonth } from '../../shared/compliance/calendar';
import type { WorkerDeps } from '../deps';

/**
 * `billing/roll-up-usage {tenantId, periodStart}`: computes the tenant's
 * totals for one UTC month into `usage_records` (an upsert, so a re-run or a
 * later refresh just rewrites the same row). Once the month is over, the
 * first roll-up also records a `usage.period_closed` billing event (once per
 * period, by dedupe key) carrying the final totals for the external biller.
 */
export function createUsageRollUp(deps: WorkerDeps, clock: () => Date = () => new Date()) {
  return async function rollUpUsageJob(payload: { tenantId: string; periodStart: string }): Promise<string> {
    const periodStart = new Date(`${payload.periodStart}T00:00:00.000Z`);
    const row = await withTenant(deps.db.app, payload.tenantId, async (t) => {
      const tenant = await getOwnTenant(t);
      const record: UsageRecordRow = await rollUpUsage(t, tenant, periodStart);
      if (nextUtcMonth(periodStart).getTime() <= clock().getTime()) {
        await recordBillingEvent(t, 'usage.period_closed', { period_start: payload.periodStart, ...record.totals }, `usage.period_closed:${payload.periodStart}`);
      }
      return record;
    });
    return `rolled up ${row.period_start}`;
  };
}

/**
 * The daily maintenance tick (cross-tenant, owner pool): one billing job per
 * tenant for the current month (usage to date) and for the previous month
 * (its final totals; repeated daily, so a lost job is made good the next
 * day). Job ids are deterministic per tenant, period and day: two ticks or
 * two schedulers enqueue each roll-up once.
 */
export async function enqueueUsageRollUps(deps: WorkerDeps, now: Date = new Date()): Promise<number> {
  const current = utcMonth(now);
  const previous = utcMonth(new Date(startOfUtcMonth(now).getTime() - 1));
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  let enqueued = 0;
  let after = '';
  for (;;) {
    const tenants = (await deps.db.owner('tenants').where('id', '>', after).orderBy('id').limit(500).select('id')) as { id: string }[];
    if (tenants.length === 0) break;
    await Promise.all(
      tenants.flatMap((tenant) =>
        [previous, current].map((periodStart) =>
          deps.queues.add('billing', 'roll-up-usage', { tenantId: tenant.id, periodStart }, { jobId: jobId('roll-up-usage', tenant.id, periodStart.replace(/-/g, ''), day) }),
        ),
      ),
    );
    enqueued += tenants.length * 2;
    after = tenants[tenants.length - 1].id;
  }
  return enqueued;
}
