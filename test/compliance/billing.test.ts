import { expect } from 'chai';
import { adminHeaders, api, createTenant, deleteRedisPrefix, eventually, harness } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { runThroughPool } from '../helpers/jobs';
import { createBillingHandlers } from '../../workers/billing';
import { enqueueUsageRollUps } from '../../shared/data/usage';
import { createMaintenanceHandlers } from '../../workers/maintenance';
import { SCHEDULE, tickJobId } from '../../workers/schedule';
import { createQueues } from '../../shared/queues';
import { fictionalNumber, routeAt, send, tenantWithOfflineLine, uniqueName, dropLeftoverWork } from './helpers';

const owner = () => harness().db.owner;

async function setStatus(tenantId: string, id: string, changes: Record<string, unknown>) {
  await owner()('messages').where({ tenant_id: tenantId, id }).update(changes);
}

function monthBounds(at = new Date()) {
  return {
    start: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1)).toISOString(),
    end: new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)).toISOString(),
  };
}

describe('usage and billing', () => {
  after(dropLeftoverWork);

  describe('GET /v1/billing/usage', () => {
    it('when the tenant has traffic this month, then the usage has exactly the documented shape, counts live outbound only, and shows the plan limits', async () => {
      const { tenant } = await tenantWithOfflineLine();
      const now = new Date();
      const ids = [];
      for (let i = 0; i < 4; i += 1) ids.push(await send(tenant, fictionalNumber()));
      for (const id of ids.slice(0, 2)) await routeAt(tenant.id, id, now);
      await setStatus(tenant.id, ids[0], { status: 'sent', sent_at: now, channel: 'imessage' });
      await setStatus(tenant.id, ids[1], { status: 'delivered', sent_at: now, delivered_at: now, channel: 'sms' });
      await setStatus(tenant.id, ids[2], { status: 'failed', reason: 'carrier_error', failed_at: now });
      const blockedTo = fictionalNumber();
      await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: blockedTo });
      expect((await api().post('/v1/messages').set(tenant.auth).send({ to: blockedTo, body: 'x' })).status).to.equal(403);
      // Sandbox traffic never counts.
      expect((await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'sandbox' })).status).to.equal(202);

      const res = await api().get('/v1/billing/usage').set(tenant.auth);
      expect(res.status).to.equal(200);
      const { start, end } = monthBounds(now);
      expect(res.body).to.deep.equal({
        data: {
          plan: 'trial',
          period_start: start,
          period_end: end,
          new_contacts: { used_today: 2, limit_today: 10, used_this_month: 2, limit_this_month: 250 },
          messages: { sent: 2, delivered: 1, failed: 1, blocked: 1 },
          channels: { imessage: 1, sms: 1, rcs: 0 },
        },
      });
      expect((await api().get('/v1/billing/usage?month=2026-01').set(tenant.auth)).status).to.equal(400);
    });

    it('when limits are unlimited or the plan is larger, then the limits follow (null = unlimited)', async () => {
      const open = await createTenant({ limits: { new_contacts_per_day: null, new_contacts_per_month: null } });
      const openUsage = await api().get('/v1/billing/usage').set(open.auth);
      expect(openUsage.body.data.new_contacts).to.deep.equal({ used_today: 0, limit_today: null, used_this_month: 0, limit_this_month: null });
      const scale = await createTenant({ plan: 'scale' });
      const scaleUsage = await api().get('/v1/billing/usage').set(scale.sandboxAuth);
      expect(scaleUsage.body.data).to.include({ plan: 'scale' });
      expect(scaleUsage.body.data.new_contacts).to.include({ limit_today: 500, limit_this_month: 10000 });
      const growth = await createTenant({ plan: 'growth', limits: { new_contacts_per_day: 75 } });
      expect((await api().get('/v1/billing/usage').set(growth.auth)).body.data.new_contacts).to.include({ limit_today: 75, limit_this_month: 1250 });
    });

    it('when tenant A has traffic, then tenant B\'s usage does not show it', async () => {
      const a = await tenantWithOfflineLine();
      const b = await createTenant();
      await routeAt(a.tenant.id, await send(a.tenant, fictionalNumber()), new Date());
      const usage = await api().get('/v1/billing/usage').set(b.auth);
      expect(usage.body.data.new_contacts.used_today).to.equal(0);
      expect(usage.body.data.messages).to.deep.equal({ sent: 0, delivered: 0, failed: 0, blocked: 0 });
    });
  });

  describe('billing events', () => {
    it('when the operator changes the plan, then a plan.changed event is listed for the tenant (and nothing when the plan stays)', async () => {
      const tenant = await createTenant();
      expect((await api().patch(`/admin/tenants/${tenant.id}`).set(adminHeaders()).send({ plan: 'growth' })).status).to.equal(200);
      await api().patch(`/admin/tenants/${tenant.id}`).set(adminHeaders()).send({ plan: 'growth' });
      await api().patch(`/admin/tenants/${tenant.id}`).set(adminHeaders()).send({ name: 'renamed' });
      await api().patch(`/admin/tenants/${tenant.id}`).set(adminHeaders()).send({ plan: 'scale' });
      const list = await api().get('/v1/billing/events').set(tenant.auth);
      expect(list.status).to.equal(200);
      expect(list.body.data.map((event: { type: string; data: unknown }) => [event.type, event.data])).to.deep.equal([
        ['plan.changed', { from: 'growth', to: 'scale' }],
        ['plan.changed', { from: 'trial', to: 'growth' }],
      ]);
      const page = await api().get('/v1/billing/events?limit=1').set(tenant.auth);
      expect(page.body.data).to.have.length(1);
      const next = await api().get(`/v1/billing/events?limit=1&cursor=${page.body.next_cursor}`).set(tenant.auth);
      expect(next.body.data[0].data).to.deep.equal({ from: 'trial', to: 'growth' });
      const one = await api().get(`/v1/billing/events/${page.body.data[0].id}`).set(tenant.auth);
      expect(one.status).to.equal(200);
      expect(Object.keys(one.body.data).sort()).to.deep.equal(['created_at', 'data', 'id', 'type']);
      expect((await api().get('/v1/billing/events?type=usage.period_closed').set(tenant.auth)).body.data).to.deep.equal([]);
      expect((await api().get('/v1/billing/events?type=nonsense').set(tenant.auth)).status).to.equal(400);
    });

    it('when the daily new-contact cap is reached, then one new_contacts.daily_cap_reached event is listed however many messages wait', async () => {
      const { tenant } = await tenantWithOfflineLine({ limits: { new_contacts_per_day: 1 } });
      const now = new Date();
      for (let i = 0; i < 4; i += 1) await routeAt(tenant.id, await send(tenant, fictionalNumber()), now);
      const events = await api().get('/v1/billing/events?type=new_contacts.daily_cap_reached').set(tenant.auth);
      expect(events.body.data).to.have.length(1);
      expect(events.body.data[0].data).to.deep.equal({ day: now.toISOString().slice(0, 10), limit: 1 });
    });
  });

  describe('monthly usage records (billing/roll-up-usage)', () => {
    const handlers = () => createBillingHandlers(workerDeps());

    it('when a past month is rolled up, then its totals are stored, listed, and one usage.period_closed event carries them (a re-run changes nothing else)', async () => {
      const { tenant } = await tenantWithOfflineLine();
      const october = new Date('2026-10-15T12:00:00Z');
      const ids = [await send(tenant, fictionalNumber()), await send(tenant, fictionalNumber()), await send(tenant, fictionalNumber())];
      await routeAt(tenant.id, ids[0], october);
      await setStatus(tenant.id, ids[0], { created_at: october, status: 'delivered', sent_at: october, delivered_at: october, channel: 'imessage' });
      await setStatus(tenant.id, ids[1], { created_at: october, status: 'blocked', reason: 'quiet_hours' });
      // ids[2] stays in the current month.

      for (let run = 0; run < 2; run += 1) {
        const outcome = await runThroughPool('billing', handlers(), 'roll-up-usage', { tenantId: tenant.id, periodStart: '2026-10-01' });
        expect(outcome.error, outcome.error?.message).to.equal(undefined);
      }
      const record = await owner()('usage_records').where({ tenant_id: tenant.id, period_start: '2026-10-01' }).first();
      expect(record.totals).to.deep.include({
        plan: 'trial',
        period_end: '2026-11-01T00:00:00.000Z',
        messages: { sent: 1, delivered: 1, failed: 0, blocked: 1, pending: 0 },
        channels: { imessage: 1, sms: 0, rcs: 0 },
        inbound: 0,
        new_contacts: 1,
      });
      const closed = await api().get('/v1/billing/events?type=usage.period_closed').set(tenant.auth);
      expect(closed.body.data).to.have.length(1);
      expect(closed.body.data[0].data).to.include({ period_start: '2026-10-01', new_contacts: 1 });

      const listed = await api().get('/v1/billing/usage-records').set(tenant.auth);
      expect(listed.status).to.equal(200);
      expect(listed.body.data.map((row: { period_start: string }) => row.period_start)).to.deep.equal(['2026-10-01']);
      expect(listed.body.data[0].messages.sent).to.equal(1);
    });

    it('when the current month is rolled up, then API calls are counted per live key and no period_closed event is recorded yet', async () => {
      const tenant = await createTenant();
      for (let i = 0; i < 3; i += 1) await api().get('/v1/opt-outs').set(tenant.auth);
      await api().get('/v1/opt-outs').set(tenant.sandboxAuth);
      // The authenticator batches call counts; a timer flush may be writing them already.
      await harness().api.auth.flush();
      await eventually(async () => {
        const row = await owner()('api_call_counts').where({ tenant_id: tenant.id, api_key_id: tenant.keyId }).sum({ calls: 'calls' }).first();
        return Number(row?.calls ?? 0) >= 3;
      }, 10000, 'call counts written');
      const periodStart = `${new Date().toISOString().slice(0, 7)}-01`;
      const outcome = await runThroughPool('billing', handlers(), 'roll-up-usage', { tenantId: tenant.id, periodStart });
      expect(outcome.error).to.equal(undefined);
      const record = await owner()('usage_records').where({ tenant_id: tenant.id, period_start: periodStart }).first();
      expect(record.totals.api_calls.by_key[tenant.keyId]).to.be.at.least(3);
      expect(Object.keys(record.totals.api_calls.by_key)).to.deep.equal([tenant.keyId]);
      expect(await owner()('billing_events').where({ tenant_id: tenant.id, type: 'usage.period_closed' })).to.have.length(0);
    });

    it('when a roll-up job names an unknown tenant or a bad period, then it fails terminally and writes nothing; tenant B\'s traffic never enters A\'s record', async () => {
      const a = await tenantWithOfflineLine();
      const b = await tenantWithOfflineLine();
      await send(b.tenant, fictionalNumber());
      await send(b.tenant, fictionalNumber());
      await send(a.tenant, fictionalNumber());
      const periodStart = `${new Date().toISOString().slice(0, 7)}-01`;
      await runThroughPool('billing', handlers(), 'roll-up-usage', { tenantId: a.tenant.id, periodStart });
      const record = await owner()('usage_records').where({ tenant_id: a.tenant.id, period_start: periodStart }).first();
      expect(record.totals.messages.pending).to.equal(1);

      const unknown = await runThroughPool('billing', handlers(), 'roll-up-usage', { tenantId: '01JZZZZZZZZZZZZZZZZZZZZZZZ', periodStart });
      expect(unknown.terminal).to.equal(true);
      expect(await owner()('usage_records').where({ tenant_id: '01JZZZZZZZZZZZZZZZZZZZZZZZ' })).to.have.length(0);
      const badPeriod = await runThroughPool('billing', handlers(), 'roll-up-usage', { tenantId: a.tenant.id, periodStart: '2026-10-15' });
      expect(badPeriod.terminal).to.equal(true);
      const extra = await runThroughPool('billing', handlers(), 'roll-up-usage', { tenantId: a.tenant.id, periodStart, messageId: 'x' });
      expect(extra.terminal).to.equal(true);
    });

    it('when the daily tick runs twice, then each tenant gets one roll-up job per period (current and previous month), with deterministic ids', async () => {
      const tenant = await createTenant();
      const prefix = uniqueName('cmp_rollup');
      const queues = createQueues(harness().redis, prefix);
      try {
        const deps = { ...workerDeps(), queues };
        const at = new Date('2026-12-01T00:05:00Z');
        const first = await enqueueUsageRollUps(deps, at);
        await enqueueUsageRollUps(deps, at);
        const jobs = await queues.get('billing').getJobs(['waiting', 'prioritized']);
        expect(jobs).to.have.length(first);
        const mine = jobs.filter((job) => job.data.tenantId === tenant.id).map((job) => [job.id, job.data.periodStart]).sort();
        expect(mine).to.deep.equal([
          [`roll-up-usage__${tenant.id}__20261101__20261201`, '2026-11-01'],
          [`roll-up-usage__${tenant.id}__20261201__20261201`, '2026-12-01'],
        ]);
      } finally {
        await queues.close();
        await deleteRedisPrefix(harness().redis, prefix);
      }
    });

    it('when the scheduler is read, then a daily roll-up tick exists and the maintenance pool handles it', () => {
      const tick = SCHEDULE.find((entry) => entry.job === 'roll-up-usage');
      expect(tick).to.include({ cron: '0 5 0 * * *', slotSeconds: 86400 });
      expect(tickJobId(tick!, new Date('2026-12-01T00:05:00Z'))).to.equal(tickJobId(tick!, new Date('2026-12-01T00:05:01Z')));
      expect(createMaintenanceHandlers(workerDeps())['roll-up-usage']).to.be.a('function');
    });
  });
});
