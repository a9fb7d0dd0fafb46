import { withTenant } from '../../shared/db/tenant';
import { getOwnTenant } from '../../shared/data/tenants';
import { rollUpUsage, UsageRecordRow } from '../../shared/data/usage';
import { recordBillingEvent } from '../../shared/data/billing';
import { nextUtcMonth } from '../../shared/compliance/calendar';
import type { WorkerDeps } from '../deps';
import { done, JobOutcome } from '../runtime';

/**
 * `billing/roll-up-usage {tenantId, periodStart}`: computes the tenant's
 * totals for one UTC month into `usage_records` (an upsert, so a re-run or a
 * later refresh just rewrites the same row). Once the month is over, the
 * first roll-up also records a `usage.period_closed` billing event (once per
 * period, by dedupe key) carrying the final totals for the external biller.
 */
export function createUsageRollUp(deps: WorkerDeps, clock: () => Date = () => new Date()) {
  return async function rollUpUsageJob(payload: { tenantId: string; periodStart: string }): Promise<JobOutcome> {
    const periodStart = new Date(`${payload.periodStart}T00:00:00.000Z`);
    const row = await withTenant(deps.db.app, payload.tenantId, async (t) => {
      const tenant = await getOwnTenant(t);
      const record: UsageRecordRow = await rollUpUsage(t, tenant, periodStart);
      if (nextUtcMonth(periodStart).getTime() <= clock().getTime()) {
        await recordBillingEvent(t, 'usage.period_closed', { period_start: payload.periodStart, ...record.totals }, `usage.period_closed:${payload.periodStart}`);
      }
      return record;
    });
    return done(`rolled up ${row.period_start}`);
  };
}
