import { expect } from 'chai';
import { harness } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { fakeJob, outcomeText, runThroughPool } from '../helpers/jobs';
import { subscribe } from '../helpers/subscriptions';
import { createMaintenanceHandlers, checkUsageAlerts } from '../../workers/maintenance';
import { createStoredEventFanOut } from '../../workers/webhooks/fan-out';
import { fictionalNumber, routeAt, send, tenantWithOfflineLine, dropLeftoverWork } from './helpers';

const DAY1 = new Date('2026-04-14T10:00:00Z');
const DAY2 = new Date('2026-04-15T10:00:00Z');

async function usageEvents(tenantId: string) {
  return (await harness().db.owner('webhook_events').where({ tenant_id: tenantId }).whereLike('type', 'usage.%').orderBy('created_at')).map((row) => row.payload);
}

describe('usage alerts (usage.cap_approaching, usage.cap_reached)', () => {
  after(dropLeftoverWork);

  it('when new contacts reach 80 % and then 100 % of the daily cap, then each alert is recorded once for the day, and again the next day', async () => {
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 5, new_contacts_per_month: null } });
    await subscribe(tenant.id, ['usage.cap_approaching', 'usage.cap_reached']);
    const deps = workerDeps();
    for (let i = 0; i < 3; i += 1) await routeAt(tenant.id, await send(tenant, fictionalNumber()), DAY1);
    expect(await checkUsageAlerts(deps, DAY1)).to.equal(0);
    expect(await usageEvents(tenant.id)).to.have.length(0);

    await routeAt(tenant.id, await send(tenant, fictionalNumber()), DAY1);
    await checkUsageAlerts(deps, DAY1);
    await checkUsageAlerts(deps, DAY1);
    const approaching = await usageEvents(tenant.id);
    expect(approaching).to.have.length(1);
    expect(approaching[0]).to.include({ event: 'usage.cap_approaching', tenant_id: tenant.id, cap: 'new_contacts_per_day', used: 4, limit: 5, period_start: '2026-04-14' });
    expect(approaching[0].cap_approaching_at).to.be.a('string');

    // The fifth takes the last slot, the sixth waits for tomorrow: one cap_reached, however often the sweep runs.
    await routeAt(tenant.id, await send(tenant, fictionalNumber()), DAY1);
    expect(await routeAt(tenant.id, await send(tenant, fictionalNumber()), DAY1)).to.equal('deferred: daily_limit');
    await Promise.all([checkUsageAlerts(deps, DAY1), checkUsageAlerts(deps, DAY1)]);
    const all = await usageEvents(tenant.id);
    expect(all.map((payload) => payload.event)).to.deep.equal(['usage.cap_approaching', 'usage.cap_reached']);
    expect(all[1]).to.include({ cap: 'new_contacts_per_day', used: 5, limit: 5 });

    // A new UTC day is a new period.
    for (let i = 0; i < 4; i += 1) await routeAt(tenant.id, await send(tenant, fictionalNumber()), DAY2);
    await checkUsageAlerts(deps, DAY2);
    const next = await usageEvents(tenant.id);
    expect(next).to.have.length(3);
    expect(next[2]).to.include({ event: 'usage.cap_approaching', period_start: '2026-04-15' });

    // The recorded event fans out to the subscribed endpoint.
    const event = await harness().db.owner('webhook_events').where({ tenant_id: tenant.id, type: 'usage.cap_reached' }).first();
    const fanOut = await createStoredEventFanOut(deps)({ tenantId: tenant.id, eventId: event.id });
    expect(outcomeText(fanOut)).to.equal('done: 1 deliveries');
  });

  it('when one tenant reaches its monthly cap, then only that tenant gets the alert; a tenant without a subscription gets nothing', async () => {
    const a = await tenantWithOfflineLine({ limits: { new_contacts_per_day: null, new_contacts_per_month: 2 } });
    const b = await tenantWithOfflineLine({ limits: { new_contacts_per_day: null, new_contacts_per_month: 2 } });
    const quiet = await tenantWithOfflineLine({ limits: { new_contacts_per_day: null, new_contacts_per_month: 2 } });
    await subscribe(a.tenant.id, ['usage.cap_reached']);
    await subscribe(b.tenant.id, ['usage.cap_approaching', 'usage.cap_reached']);
    for (let i = 0; i < 2; i += 1) {
      await routeAt(a.tenant.id, await send(a.tenant, fictionalNumber()), DAY1);
      await routeAt(quiet.tenant.id, await send(quiet.tenant, fictionalNumber()), DAY1);
    }
    const handlers = createMaintenanceHandlers(workerDeps());
    // The scheduled job runs for the current day; this one is pinned to DAY1 to match the routes above.
    await checkUsageAlerts(workerDeps(), DAY1);
    expect(outcomeText(await handlers['check-usage-alerts']({} as never, fakeJob('check-usage-alerts', {})))).to.match(/^done: \d+ usage alerts recorded$/);
    const forA = await usageEvents(a.tenant.id);
    // A listens for cap_reached only: cap_approaching is not recorded for it.
    expect(forA.map((payload) => `${payload.event}:${payload.cap}:${payload.used}/${payload.limit}`)).to.deep.equal(['usage.cap_reached:new_contacts_per_month:2/2']);
    expect(forA.every((payload) => payload.tenant_id === a.tenant.id && payload.period_start === '2026-04-01')).to.equal(true);
    expect(await usageEvents(b.tenant.id)).to.have.length(0);
    expect(await usageEvents(quiet.tenant.id)).to.have.length(0);
    const bOutbox = await harness().db.owner('outbox').where({ tenant_id: b.tenant.id, queue: 'webhooks' });
    expect(bOutbox).to.have.length(0);
  });

  it("when a usage-alert or probe job carries a tenant id (tenant B's or any), then it fails terminally before any work", async () => {
    const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 1 } });
    await subscribe(tenant.id, ['usage.cap_reached']);
    await routeAt(tenant.id, await send(tenant, fictionalNumber()), new Date());
    const handlers = createMaintenanceHandlers(workerDeps());
    for (const job of ['check-usage-alerts', 'probe-lines'] as const) {
      const outcome = await runThroughPool('maintenance', handlers, job, { tenantId: tenant.id });
      expect(outcome.terminal, `${job}: ${String(outcome.error)}`).to.equal(true);
    }
    expect(await usageEvents(tenant.id)).to.have.length(0);
  });
});
