import { expect } from 'chai';
import { adminHeaders, api, createTenant } from '../helpers/harness';
import { logger } from '../../shared/logger';

/** Security events written while `fn` runs (securityEvent logs at warn with `security: true`). */
async function securityEvents(fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const seen: Record<string, unknown>[] = [];
  const original = logger.warn.bind(logger);
  logger.warn = ((fields: unknown, ...rest: unknown[]) => {
    if (fields && typeof fields === 'object' && (fields as { security?: boolean }).security) seen.push(fields as Record<string, unknown>);
    return (original as (...args: unknown[]) => void)(fields, ...rest);
  }) as typeof logger.warn;
  try {
    await fn();
  } finally {
    logger.warn = original;
  }
  return seen;
}

describe('assertTenantOwnership: probes across the boundary are logged', () => {
  it('when tenant B asks for tenant A\'s contact, then 404 as for a missing id, and a security event names both tenants', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const created = await api().post('/v1/contacts').set(a.auth).send({ phone_number: '+15552220001' });
    expect(created.status).to.equal(201);
    const id = created.body.data.id as string;
    let foreign: { status: number; body: unknown } | undefined;
    const events = await securityEvents(async () => {
      foreign = await api().get(`/v1/contacts/${id}`).set(b.auth);
    });
    expect(foreign!.status).to.equal(404);
    const probe = events.find((event) => event.event === 'tenant_ownership_mismatch');
    expect(probe).to.include({ tenantId: b.id, ownerTenantId: a.id, resource: 'contact', resourceId: id });
    expect(JSON.stringify(foreign!.body)).not.to.contain(a.id);
    const missing = await api().get('/v1/contacts/01JZZZZZZZZZZZZZZZZZZZZZZZ').set(b.auth);
    expect(missing.status).to.equal(404);
    expect((missing.body as { code: string }).code).to.equal((foreign!.body as { code: string }).code);
  });

  it('when tenant B asks for tenant A\'s message, then 404, and a security event names both tenants', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const line = await api()
      .post('/admin/phone-lines')
      .set(adminHeaders())
      .send({ phone_number: `+1555333${String(Date.now() % 10000).padStart(4, '0')}`, bridge_url: 'http://127.0.0.1:9/unused', secret: 's'.repeat(40), capabilities: { imessage: true, sms: true, rcs: false }, mode: 'dedicated', tenant_id: a.id });
    expect(line.status, JSON.stringify(line.body)).to.equal(201);
    const sent = await api().post('/v1/messages').set(a.auth).send({ to: '+15552220002', body: 'probe target' });
    expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
    const id = sent.body.data.message_id as string;
    let status = 0;
    const events = await securityEvents(async () => {
      status = (await api().get(`/v1/messages/${id}`).set(b.auth)).status;
    });
    expect(status).to.equal(404);
    expect(events.find((event) => event.event === 'tenant_ownership_mismatch')).to.include({ tenantId: b.id, ownerTenantId: a.id, resource: 'message', resourceId: id });
  });

  it('when tenant B asks for tenant A\'s contact import, then 404, and a security event names both tenants', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const started = await api().post('/v1/contacts/import').set(a.auth).send({ contacts: [{ phone_number: '+15552220003' }] });
    expect(started.status, JSON.stringify(started.body)).to.equal(202);
    const id = started.body.data.id as string;
    let status = 0;
    const events = await securityEvents(async () => {
      status = (await api().get(`/v1/contacts/imports/${id}`).set(b.auth)).status;
    });
    expect(status).to.equal(404);
    expect(events.find((event) => event.event === 'tenant_ownership_mismatch')).to.include({ tenantId: b.id, ownerTenantId: a.id, resource: 'import', resourceId: id });
    expect((await api().get(`/v1/contacts/imports/${id}`).set(a.auth)).status, 'the owner still reads it').to.equal(200);
  });

  it('when a tenant asks for an id that does not exist at all, then 404 and no security event', async () => {
    const b = await createTenant();
    const events = await securityEvents(async () => {
      expect((await api().get('/v1/contacts/01JZZZZZZZZZZZZZZZZZZZZZZZ').set(b.auth)).status).to.equal(404);
    });
    expect(events.filter((event) => event.event === 'tenant_ownership_mismatch')).to.have.length(0);
  });
});
