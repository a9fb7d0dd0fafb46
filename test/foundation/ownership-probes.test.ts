import { expect } from 'chai';
import { api, createTenant } from '../helpers/harness';
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

  it('when a tenant asks for an id that does not exist at all, then 404 and no security event', async () => {
    const b = await createTenant();
    const events = await securityEvents(async () => {
      expect((await api().get('/v1/contacts/01JZZZZZZZZZZZZZZZZZZZZZZZ').set(b.auth)).status).to.equal(404);
    });
    expect(events.filter((event) => event.event === 'tenant_ownership_mismatch')).to.have.length(0);
  });
});
