import { expect } from 'chai';
import { createTenant, harness } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { fakeJob, outcomeText } from '../helpers/jobs';
import { BODY_RETENTION_DAYS, createMaintenanceHandlers } from '../../workers/maintenance';
import { fictionalNumber, send, tenantWithOfflineLine, dropLeftoverWork } from './helpers';

const DAY = 24 * 3600 * 1000;
const owner = () => harness().db.owner;

/** A maintenance tick's outcome, and the count at the head of its detail (how much it did). */
async function runMaintenance(job: 'purge-bodies' | 'sweep-lines' | 'expire-idempotency-keys') {
  const text = outcomeText(await createMaintenanceHandlers(workerDeps())[job]({} as never, fakeJob(job, {})));
  return { text, count: Number(/\d+/.exec(text)?.[0]) };
}

describe('scheduled maintenance (retention, line sweep, idempotency expiry)', () => {
  after(dropLeftoverWork);

  it(`when a message is older than ${BODY_RETENTION_DAYS} days, then the purge clears its body and keeps its metadata; younger bodies stay`, async () => {
    const { tenant } = await tenantWithOfflineLine();
    const old = await send(tenant, fictionalNumber());
    const almost = await send(tenant, fictionalNumber());
    const fresh = await send(tenant, fictionalNumber());
    await owner()('messages').where({ tenant_id: tenant.id, id: old }).update({ created_at: new Date(Date.now() - (BODY_RETENTION_DAYS + 1) * DAY) });
    await owner()('messages').where({ tenant_id: tenant.id, id: almost }).update({ created_at: new Date(Date.now() - (BODY_RETENTION_DAYS - 1) * DAY) });

    const purged = await runMaintenance('purge-bodies');
    expect(purged.text).to.match(/^done: purged \d+ message bodies and \d+ attachments$/);
    expect(purged.count).to.be.at.least(1);
    const rows = await owner()('messages').where({ tenant_id: tenant.id }).whereIn('id', [old, almost, fresh]);
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(old)).to.include({ body: null, status: 'queued' });
    expect(byId.get(old).body_purged_at).to.be.instanceOf(Date);
    expect(byId.get(old).to_number).to.match(/^\+1555/);
    expect(byId.get(almost)).to.include({ body: 'hello', body_purged_at: null });
    expect(byId.get(fresh)).to.include({ body: 'hello', body_purged_at: null });
    // Idempotent: a second run finds nothing left to purge.
    expect((await runMaintenance('purge-bodies')).text).to.equal('done: purged 0 message bodies and 0 attachments');
  });

  it('when an online line has sent no heartbeat for longer than the window, then the sweep marks it offline and leaves fresh lines alone', async () => {
    const stale = await tenantWithOfflineLine();
    const live = await tenantWithOfflineLine();
    const window = harness().config.device.offlineAfterSeconds;
    await owner()('phone_lines').where({ id: stale.lineId }).update({ status: 'online', last_heartbeat_at: new Date(Date.now() - (window + 10) * 1000) });
    await owner()('phone_lines').where({ id: live.lineId }).update({ status: 'online', last_heartbeat_at: new Date() });
    const swept = await runMaintenance('sweep-lines');
    expect(swept.text).to.match(/^done: \d+ lines went offline$/);
    expect(swept.count).to.be.at.least(1);
    expect((await owner()('phone_lines').where({ id: stale.lineId }).first()).status).to.equal('offline');
    expect((await owner()('phone_lines').where({ id: live.lineId }).first()).status).to.equal('online');
  });

  it('when idempotency keys and device event ids are past their retention, then the expiry deletes them and keeps the rest', async () => {
    const tenant = await createTenant();
    const { lineId } = await tenantWithOfflineLine();
    await owner()('idempotency_keys').insert([
      { tenant_id: tenant.id, key: 'expired', request_hash: 'h1', state: 'done', expires_at: new Date(Date.now() - 1000) },
      { tenant_id: tenant.id, key: 'current', request_hash: 'h2', state: 'done', expires_at: new Date(Date.now() + DAY) },
    ]);
    await owner()('device_events_seen').insert([
      { line_id: lineId, event_id: 'evt_old', received_at: new Date(Date.now() - 8 * DAY) },
      { line_id: lineId, event_id: 'evt_new', received_at: new Date() },
    ]);
    const result = await runMaintenance('expire-idempotency-keys');
    expect(result.text).to.match(/^done: expired \d+ idempotency keys and \d+ device event ids$/);
    expect(result.count).to.be.at.least(1);
    expect((await owner()('idempotency_keys').where({ tenant_id: tenant.id })).map((row) => row.key)).to.deep.equal(['current']);
    expect((await owner()('device_events_seen').where({ line_id: lineId })).map((row) => row.event_id)).to.deep.equal(['evt_new']);
  });
});
