import { expect } from 'chai';
import { api, createTenant, harness } from '../helpers/harness';
import { withTenant } from '../../shared/db/tenant';
import { fictionalNumber, messageRow, routeAt, send, tenantWithOfflineLine, dropLeftoverWork } from './helpers';

const path = (phone: string) => `/v1/opt-outs/${encodeURIComponent(phone)}`;

async function events(tenantId: string, type: string) {
  return harness().db.owner('webhook_events').where({ tenant_id: tenantId, type });
}

describe('opt-out registry API', () => {
  after(dropLeftoverWork);

  it('when a number is opted out by POST, then 201 with the record, opt_out.created is emitted, and a second POST answers 200 without a new event', async () => {
    const tenant = await createTenant();
    const phone = fictionalNumber();
    const created = await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone, reason: 'asked by phone' });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    expect(created.body.data).to.include({ phone_number: phone, active: true, source: 'api', keyword: null, reason: 'asked by phone', opted_back_in_at: null });
    expect(Object.keys(created.body.data).sort()).to.deep.equal(
      ['active', 'created_at', 'keyword', 'opted_back_in_at', 'opted_out_at', 'phone_number', 'reason', 'source', 'updated_at'].sort(),
    );
    const emitted = await events(tenant.id, 'opt_out.created');
    expect(emitted).to.have.length(1);
    expect(emitted[0].payload).to.include({ phone_number: phone, source: 'api', reason: 'asked by phone' });
    const fanOut = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', job_name: 'fan-out-event', ref_id: emitted[0].id });
    expect(fanOut).to.have.length(1);

    const again = await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone });
    expect(again.status).to.equal(200);
    expect(again.body.data.reason).to.equal('asked by phone');
    expect(await events(tenant.id, 'opt_out.created')).to.have.length(1);
  });

  it('when the body is wrong, then 400 VALIDATION_ERROR names the field', async () => {
    const tenant = await createTenant();
    for (const [body, field] of [
      [{ phone_number: '5551234' }, 'phone_number'],
      [{}, 'phone_number'],
      [{ phone_number: '+15551234567', active: false }, 'active'],
      [{ phone_number: '+15551234567', reason: '' }, 'reason'],
    ] as [object, string][]) {
      const res = await api().post('/v1/opt-outs').set(tenant.auth).send(body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(res.body.details.map((detail: { path: string }) => detail.path)).to.include(field);
    }
  });

  it('when one number is read, then URL-encoded and literal + both work, a number that never opted out is 404 and a malformed one 400', async () => {
    const tenant = await createTenant();
    const phone = fictionalNumber();
    await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone });
    const encoded = await api().get(path(phone)).set(tenant.auth);
    expect(encoded.status).to.equal(200);
    expect(encoded.body.data.phone_number).to.equal(phone);
    expect((await api().get(`/v1/opt-outs/${phone}`).set(tenant.auth)).status).to.equal(200);
    const missing = await api().get(path(fictionalNumber())).set(tenant.auth);
    expect(missing.status).to.equal(404);
    expect(missing.body.code).to.equal('NOT_FOUND');
    expect((await api().get('/v1/opt-outs/not-a-number').set(tenant.auth)).status).to.equal(400);
  });

  it('when a number is opted back in by DELETE, then the record stays (active false, opted_back_in_at), opt_out.removed is emitted and sends work again', async () => {
    const { tenant } = await tenantWithOfflineLine();
    const phone = fictionalNumber();
    await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone });
    expect((await api().post('/v1/messages').set(tenant.auth).send({ to: phone, body: 'x' })).status).to.equal(403);

    const removed = await api().delete(path(phone)).set(tenant.auth);
    expect(removed.status).to.equal(200);
    expect(removed.body.data.active).to.equal(false);
    expect(removed.body.data.opted_back_in_at).to.be.a('string');
    expect(await events(tenant.id, 'opt_out.removed')).to.have.length(1);
    expect(await harness().db.owner('opt_outs').where({ tenant_id: tenant.id, phone_number: phone })).to.have.length(1);
    // Still readable: opt-outs are never deleted.
    expect((await api().get(path(phone)).set(tenant.auth)).body.data.active).to.equal(false);
    expect((await api().delete(path(phone)).set(tenant.auth)).status, 'repeat: same record').to.equal(200);
    expect(await events(tenant.id, 'opt_out.removed')).to.have.length(1);
    expect((await api().delete(path(fictionalNumber())).set(tenant.auth)).status).to.equal(404);
    expect((await api().post('/v1/messages').set(tenant.auth).send({ to: phone, body: 'x' })).status).to.equal(202);

    // Opting out again re-activates the same row.
    const again = await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone });
    expect(again.status).to.equal(201);
    expect(again.body.data).to.include({ active: true, opted_back_in_at: null });
  });

  it('when the registry is listed, then active numbers come by default, removed ones with include_removed=true, in pages', async () => {
    const tenant = await createTenant();
    const phones = [fictionalNumber(), fictionalNumber(), fictionalNumber()];
    for (const phone of phones) await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone });
    await api().delete(path(phones[1])).set(tenant.auth);

    const active = await api().get('/v1/opt-outs').set(tenant.auth);
    expect(active.status).to.equal(200);
    expect(active.body.data.map((row: { phone_number: string }) => row.phone_number)).to.deep.equal([phones[0], phones[2]]);
    expect(active.body.next_cursor).to.equal(null);

    const all = await api().get('/v1/opt-outs?include_removed=true&limit=2').set(tenant.auth);
    expect(all.body.data.map((row: { phone_number: string }) => row.phone_number)).to.deep.equal([phones[0], phones[1]]);
    const next = await api().get(`/v1/opt-outs?include_removed=true&limit=2&cursor=${all.body.next_cursor}`).set(tenant.auth);
    expect(next.body.data.map((row: { phone_number: string }) => row.phone_number)).to.deep.equal([phones[2]]);
    expect(next.body.next_cursor).to.equal(null);
    expect((await api().get('/v1/opt-outs?active=false').set(tenant.auth)).status).to.equal(400);
  });

  it('when tenant A has an opt-out for a number, then tenant B can still message it (API and router) and does not see the record', async () => {
    const a = await tenantWithOfflineLine();
    const b = await tenantWithOfflineLine();
    const phone = fictionalNumber();
    await api().post('/v1/opt-outs').set(a.tenant.auth).send({ phone_number: phone });
    expect((await api().get(path(phone)).set(b.tenant.auth)).status).to.equal(404);
    expect((await api().get('/v1/opt-outs').set(b.tenant.auth)).body.data).to.deep.equal([]);
    const id = await send(b.tenant, phone);
    expect(await routeAt(b.tenant.id, id, new Date())).to.equal('deferred: waiting for a line');
    expect((await messageRow(b.tenant.id, id)).status).to.equal('queued');
    // A's own send is refused at the API and recorded as blocked.
    const refused = await api().post('/v1/messages').set(a.tenant.auth).send({ to: phone, body: 'x' });
    expect(refused.status).to.equal(403);
  });

  it('when a manual opt-out lands after a message was accepted, then the router blocks it with reason opted_out', async () => {
    const { tenant } = await tenantWithOfflineLine();
    const phone = fictionalNumber();
    const id = await send(tenant, phone);
    await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone });
    expect(await routeAt(tenant.id, id, new Date())).to.equal('done: blocked: opted_out');
    expect(await messageRow(tenant.id, id)).to.include({ status: 'blocked', reason: 'opted_out' });
  });

  it('when a read-only key tries to change the registry, then 403 and nothing changes', async () => {
    const tenant = await createTenant();
    const key = await api().post('/v1/api-keys').set(tenant.auth).send({ name: 'ro', permissions: 'read_only' });
    const readOnly = { Authorization: `Bearer ${key.body.data.key}` };
    const phone = fictionalNumber();
    expect((await api().post('/v1/opt-outs').set(readOnly).send({ phone_number: phone })).status).to.equal(403);
    expect((await api().get('/v1/opt-outs').set(readOnly)).status).to.equal(200);
    expect(await harness().db.owner('opt_outs').where({ tenant_id: tenant.id })).to.have.length(0);
  });

  it('when anyone tries to delete an opt-out row while its tenant exists, then the database refuses; deleting the tenant takes them along', async () => {
    const tenant = await createTenant();
    const phone = fictionalNumber();
    await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: phone });
    const codeOf = async (work: () => Promise<unknown>) => {
      try {
        await work();
        return 'ok';
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    expect(await codeOf(() => withTenant(harness().db.app, tenant.id, (t) => t.from('opt_outs').where({ phone_number: phone }).delete())), 'app role').to.equal('42501');
    expect(await codeOf(() => harness().db.owner('opt_outs').where({ tenant_id: tenant.id }).delete()), 'owner').to.equal('42501');
    expect(await harness().db.owner('opt_outs').where({ tenant_id: tenant.id })).to.have.length(1);

    const gone = await createTenant();
    await api().post('/v1/opt-outs').set(gone.auth).send({ phone_number: phone });
    expect(await codeOf(() => harness().db.owner('tenants').where({ id: gone.id }).delete())).to.equal('ok');
    expect(await harness().db.owner('opt_outs').where({ tenant_id: gone.id })).to.have.length(0);
  });
});
