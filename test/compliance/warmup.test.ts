import { expect } from 'chai';
import { createTenant, harness } from '../helpers/harness';
import { startPlatform, RunningPlatform, workerDeps } from '../helpers/platform';
import { fakeJob, outcomeText } from '../helpers/jobs';
import { takeWarmupCount, warmupCap, WARMUP_DAILY_CAPS } from '../../shared/compliance/warmup';
import { createDispatchHandlers } from '../../workers/dispatch';
import { fictionalNumber, messageRow, routeAt, send, tenantWithOfflineLine, uniqueName, dropLeftoverWork, trackTenant } from './helpers';

const DAY = 24 * 3600 * 1000;

describe('line warm-up caps', () => {
  after(dropLeftoverWork);

  it('when a line warms up, then its daily cap is 50, 100, 200, 400, 800 on days 1–5 (UTC days) and none from day 6 or without warm-up', () => {
    const started = new Date('2026-03-10T23:59:00Z');
    const line = { warmup: true, warmup_started_at: started };
    expect(WARMUP_DAILY_CAPS).to.deep.equal([50, 100, 200, 400, 800]);
    expect(warmupCap(line, new Date('2026-03-10T23:59:30Z'))).to.equal(50);
    expect(warmupCap(line, new Date('2026-03-11T00:00:00Z'))).to.equal(100);
    expect(warmupCap(line, new Date('2026-03-12T12:00:00Z'))).to.equal(200);
    expect(warmupCap(line, new Date('2026-03-13T12:00:00Z'))).to.equal(400);
    expect(warmupCap(line, new Date('2026-03-14T12:00:00Z'))).to.equal(800);
    expect(warmupCap(line, new Date('2026-03-15T00:00:00Z'))).to.equal(null);
    expect(warmupCap({ warmup: false, warmup_started_at: started }, new Date('2026-03-10T23:59:30Z'))).to.equal(null);
  });

  it('when 70 dispatches race for a day-1 line, then exactly 50 get a slot, and the next day starts fresh', async () => {
    const { lineId } = await tenantWithOfflineLine();
    const now = new Date();
    const line = { id: lineId, warmup: true, warmup_started_at: now };
    const taken = await Promise.all(Array.from({ length: 70 }, () => takeWarmupCount(harness().db.app, line, now)));
    expect(taken.filter(Boolean)).to.have.length(50);
    const row = await harness().db.owner('line_daily_sends').where({ line_id: lineId }).first();
    expect(row.sends).to.equal(50);
    expect(await takeWarmupCount(harness().db.app, line, new Date(now.getTime() + DAY))).to.equal(true);
  });

  describe('at dispatch', function () {
    this.timeout(20000);
    let platform: RunningPlatform;
    before(async () => {
      platform = await startPlatform({ pools: [] });
    });
    after(async () => {
      await platform.stop();
    });

    async function dispatchOne(warmupStartedAt: Date, sentToday: number) {
      const pool = uniqueName('warm');
      const tenant = await createTenant({ pool });
      trackTenant(tenant.id);
      const line = await platform.addLine({ pool, maxPerMinute: null });
      await harness().db.owner('phone_lines').where({ id: line.id }).update({ warmup: true, warmup_started_at: warmupStartedAt });
      if (sentToday > 0) await harness().db.owner('line_daily_sends').insert({ line_id: line.id, day: new Date().toISOString().slice(0, 10), sends: sentToday });
      const id = await send(tenant, fictionalNumber());
      expect(await routeAt(tenant.id, id, new Date())).to.equal(`done: dispatching on ${line.id}`);
      const dispatch = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).first();
      const payload = { tenantId: tenant.id, messageId: id, dispatchId: dispatch.id };
      const result = outcomeText(await createDispatchHandlers(workerDeps())['dispatch-message'](payload, fakeJob('dispatch-message', payload)));
      return { tenant, line, id, dispatch, result };
    }

    it('when a day-1 line already sent 50 today, then the next message is held on the line with reason warming_limit until the next UTC day', async () => {
      const { tenant, id, dispatch, result } = await dispatchOne(new Date(), 50);
      expect(result).to.equal('deferred: line busy');
      const row = await messageRow(tenant.id, id);
      expect(row).to.include({ status: 'sending', reason: 'warming_limit' });
      const midnight = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1));
      expect(row.release_at.toISOString()).to.equal(midnight.toISOString());
      const held = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, id: dispatch.id }).first();
      expect(held).to.include({ status: 'pending' });
      expect(held.available_at.toISOString()).to.equal(midnight.toISOString());
      expect(platform.simulator.sends().filter((sent) => sent.message_id === id)).to.have.length(0);
    });

    it('when the line is on day 1 with room left, or past its warm-up, then the message goes out', async () => {
      const fresh = await dispatchOne(new Date(), 49);
      expect(fresh.result).to.equal('done: accepted by bridge');
      const row = await harness().db.owner('line_daily_sends').where({ line_id: fresh.line.id }).first();
      expect(row.sends).to.equal(50);
      const seasoned = await dispatchOne(new Date(Date.now() - 6 * DAY), 5000);
      expect(seasoned.result).to.equal('done: accepted by bridge');
    });
  });
});
