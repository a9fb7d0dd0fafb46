import { expect } from 'chai';
import { createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startPlatform, RunningPlatform, workerDeps } from '../helpers/platform';
import { fakeJob, outcomeText } from '../helpers/jobs';
import { subscribe } from '../helpers/subscriptions';
import { createMaintenanceHandlers, probeLines, sweepLines } from '../../workers/maintenance';

let poolCounter = 0;
const owner = () => harness().db.owner;
const LINE_EVENTS = ['line.offline', 'line.online'];

async function lineEvents(tenantId: string) {
  return (await owner()('webhook_events').where({ tenant_id: tenantId }).whereLike('type', 'line.%').orderBy('created_at')).map((row) => row.payload);
}

async function makeSilent(lineId: string): Promise<void> {
  const window = harness().config.device.offlineAfterSeconds;
  await owner()('phone_lines').where({ id: lineId }).update({ last_heartbeat_at: new Date(Date.now() - (window + 10) * 1000) });
}

async function lineStatus(lineId: string): Promise<string> {
  return (await owner()('phone_lines').where({ id: lineId }).first()).status;
}

describe('line alerts (line.offline, line.online)', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: [] });
  });
  after(async () => {
    await platform.stop();
  });

  function newPool(): string {
    poolCounter += 1;
    return `alerts-${poolCounter}-${Date.now()}`;
  }

  it('when a pooled line stops and resumes heartbeating, then every subscribed tenant of its pool is told, each alone, once per change', async () => {
    const pool = newPool();
    const b = await createTenant({ pool });
    const c = await createTenant({ pool });
    const unsubscribed = await createTenant({ pool });
    const elsewhere = await createTenant({ pool: newPool() });
    for (const tenant of [b, c, elsewhere]) await subscribe(tenant.id, LINE_EVENTS);
    const line = await platform.addLine({ pool });
    await platform.addLine({ pool: (await owner()('tenants').where({ id: elsewhere.id }).first()).pool });

    await makeSilent(line.id);
    expect(await sweepLines(workerDeps())).to.include(line.id);
    expect(await sweepLines(workerDeps())).to.not.include(line.id);
    for (const tenant of [b, c]) {
      const events = await lineEvents(tenant.id);
      expect(events).to.have.length(1);
      expect(events[0]).to.include({ event: 'line.offline', tenant_id: tenant.id, line_id: line.id, phone_number: line.phoneNumber, status: 'offline', reason: 'heartbeat_missed' });
      expect(events[0].offline_at).to.be.a('string');
    }
    // No tenant learns who else uses the line.
    expect(JSON.stringify(await lineEvents(b.id))).to.not.contain(c.id);
    expect(JSON.stringify(await lineEvents(c.id))).to.not.contain(b.id);
    expect(await lineEvents(unsubscribed.id)).to.have.length(0);
    expect(await lineEvents(elsewhere.id)).to.have.length(0);
    // Each event has its own fan-out job in its own tenant's outbox.
    const outbox = await owner()('outbox').where({ queue: 'webhooks', job_name: 'fan-out-event' }).whereIn('tenant_id', [b.id, c.id]);
    expect(outbox.map((row) => row.tenant_id).sort()).to.deep.equal([b.id, c.id].sort());

    platform.simulator.heartbeat(line.id);
    await eventually(async () => (await lineStatus(line.id)) === 'online', 5000, 'line online');
    platform.simulator.heartbeat(line.id);
    await platform.simulator.whenIdle();
    for (const tenant of [b, c]) {
      expect((await lineEvents(tenant.id)).map((payload) => `${payload.event}:${payload.reason}`)).to.deep.equal(['line.offline:heartbeat_missed', 'line.online:heartbeat']);
    }
    expect(await lineEvents(elsewhere.id)).to.have.length(0);
  });

  it("when tenant A's dedicated line goes offline, then only A is told, never the other tenants of A's pool", async () => {
    const pool = newPool();
    const a = await createTenant({ pool });
    const neighbour = await createTenant({ pool });
    await subscribe(a.id, LINE_EVENTS);
    await subscribe(neighbour.id, LINE_EVENTS);
    const line = await platform.addLine({ tenantId: a.id, mode: 'dedicated' });
    await makeSilent(line.id);
    const outcome = outcomeText(await createMaintenanceHandlers(workerDeps())['sweep-lines']({} as never, fakeJob('sweep-lines', {})));
    expect(outcome).to.match(/^done: \d+ lines went offline$/);
    expect((await lineEvents(a.id)).map((payload) => payload.line_id)).to.deep.equal([line.id]);
    expect(await lineEvents(neighbour.id)).to.have.length(0);
  });

  it('when a bridge answers GET /v1/health unhealthy, then its line is offline at once and stays so, heartbeats or not, until a probe passes', async () => {
    const pool = newPool();
    const tenant: TestTenant = await createTenant({ pool });
    await subscribe(tenant.id, LINE_EVENTS);
    const line = await platform.addLine({ pool });

    platform.simulator.setLineOffline(line.id, true);
    const failed = await probeLines(workerDeps());
    expect(failed.offline).to.include(line.id);
    expect(await lineStatus(line.id)).to.equal('offline');
    expect((await lineEvents(tenant.id)).map((payload) => `${payload.event}:${payload.reason}`)).to.deep.equal(['line.offline:health_check_failed']);

    // The bridge heartbeats again, but the platform waits for a passing probe.
    platform.simulator.setLineOffline(line.id, false);
    await platform.simulator.whenIdle();
    expect(await lineStatus(line.id)).to.equal('offline');
    expect(await lineEvents(tenant.id)).to.have.length(1);

    const passed = await probeLines(workerDeps());
    expect(passed.online).to.include(line.id);
    expect(await lineStatus(line.id)).to.equal('online');
    expect((await lineEvents(tenant.id)).map((payload) => `${payload.event}:${payload.reason}`)).to.deep.equal(['line.offline:health_check_failed', 'line.online:health_check_passed']);
    expect((await probeLines(workerDeps())).online).to.not.include(line.id);
  });

  it('when a bridge does not answer the health probe, then its line goes offline', async () => {
    const pool = newPool();
    const tenant = await createTenant({ pool });
    await subscribe(tenant.id, ['line.offline']);
    const line = await platform.addLine({ pool });
    await owner()('phone_lines').where({ id: line.id }).update({ bridge_url: 'http://127.0.0.1:9/bridge' });
    const outcome = outcomeText(await createMaintenanceHandlers(workerDeps())['probe-lines']({} as never, fakeJob('probe-lines', {})));
    expect(outcome).to.match(/^done: \d+ lines probed, [1-9]\d* went offline, \d+ came back$/);
    expect(await lineStatus(line.id)).to.equal('offline');
    expect((await lineEvents(tenant.id)).map((payload) => payload.reason)).to.deep.equal(['health_check_failed']);
  });
});
