import { expect } from 'chai';
import { api, createTenant, eventually, harness } from '../helpers/harness';
import { fakeJob } from '../helpers/jobs';
import { subscribe } from '../helpers/subscriptions';
import { workerDeps } from '../helpers/platform';
import { createSendingHandlers } from '../../workers/sending';
import { startPool } from '../../workers/pools';
import { closeWorkers } from '../../workers/runtime';

async function advance(tenantId: string, messageId: string): Promise<unknown> {
  const handlers = createSendingHandlers(workerDeps());
  return handlers['sandbox-advance']({ tenantId, messageId }, fakeJob('sandbox-advance', {}));
}

describe('sandbox (tf_test_ keys)', () => {
  const cases: [string, string, string | null][] = [
    ['+15555550001', 'delivered', null],
    ['+15555550002', 'failed', 'carrier_error'],
    ['+15555550003', 'failed', 'opted_out'],
    ['+15555550004', 'failed', 'rate_limited'],
    ['+15551234567', 'delivered', null],
  ];
  for (const [to, status, reason] of cases) {
    it(`when a test key sends to ${to}, then it ends ${status}${reason ? ` (${reason})` : ''} without any device or line`, async () => {
      const tenant = await createTenant({ pool: 'sandbox-without-lines' });
      const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to, body: 'sandbox' });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      const id = res.body.data.message_id as string;
      expect(id).to.match(/^sb_[0-9A-HJKMNP-TV-Z]{26}$/);
      await advance(tenant.id, id);
      const message = (await api().get(`/v1/messages/${id}`).set(tenant.sandboxAuth)).body.data;
      expect(message).to.include({ status, reason, sandbox: true });
      expect(await harness().db.owner('dispatches').where({ tenant_id: tenant.id })).to.have.length(0);
      expect(await harness().db.owner('known_recipients').where({ tenant_id: tenant.id }), 'sandbox never counts as a contact').to.have.length(0);
    });
  }

  it('when sending to +15555550005, then it is sent at once and delivered about 5 s later', async () => {
    const tenant = await createTenant();
    const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550005', body: 'slow' });
    const id = res.body.data.message_id as string;
    await advance(tenant.id, id);
    expect((await harness().db.owner('messages').where({ id }).first()).status).to.equal('sent');
    const later = await harness().db.owner('outbox').where({ tenant_id: tenant.id, job_name: 'sandbox-advance', ref_id: `${id}_delivered` }).first();
    const delay = new Date(later.available_at).getTime() - Date.now();
    expect(delay).to.be.within(3500, 5100);
    await advance(tenant.id, id);
    expect((await harness().db.owner('messages').where({ id }).first()).status).to.equal('delivered');
  });

  it('when a sandbox send does not ask for webhooks, then no webhook work is recorded; with ?dispatch_webhook=true it is', async () => {
    const tenant = await createTenant();
    await subscribe(tenant.id, ['message.queued', 'message.sent', 'message.delivered']);
    const quiet = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'quiet' });
    await advance(tenant.id, quiet.body.data.message_id);
    expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks' })).to.have.length(0);
    const loud = await api().post('/v1/messages?dispatch_webhook=true').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'loud' });
    await advance(tenant.id, loud.body.data.message_id);
    const jobs = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks' });
    expect(jobs.map((job) => job.ref_id).sort()).to.deep.equal([1, 2, 3].map((n) => `${loud.body.data.message_id}_${n}`).sort());
  });

  it('when a sandbox message is processed by the running pool, then it is delivered end to end', async () => {
    const tenant = await createTenant();
    const worker = startPool('sending', workerDeps(), harness().workerRedis);
    try {
      const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', body: 'e2e' });
      await eventually(async () => (await api().get(`/v1/messages/${res.body.data.message_id}`).set(tenant.sandboxAuth)).body.data.status === 'delivered', 10000, 'sandbox delivered');
    } finally {
      await closeWorkers([worker], 5000);
    }
  });
});
