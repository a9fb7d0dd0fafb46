import { expect } from 'chai';
import { harness, createTenant } from '../helpers/harness';
import { withTenant } from '../../shared/db/tenant';
import { assertRowLevelSecurity } from '../../shared/db';
import { newId } from '../../shared/ids';

async function insertContactAsOwner(tenantId: string, phone: string): Promise<string> {
  const id = newId();
  await harness().db.owner('contacts').insert({ tenant_id: tenantId, id, phone_number: phone });
  return id;
}

describe('row-level security (the second wall)', () => {
  it('when the runtime role connects, then it is not a superuser, cannot bypass RLS and passes the boot check', async () => {
    const { app } = harness().db;
    const role = (await app.raw('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user')).rows[0];
    expect(role).to.deep.equal({ rolsuper: false, rolbypassrls: false });
    await assertRowLevelSecurity(app);
  });

  it('when a deliberately unscoped query runs on the tenant path, then only the current tenant\'s rows come back', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const aContact = await insertContactAsOwner(a.id, '+15550100001');
    const bContact = await insertContactAsOwner(b.id, '+15550100002');
    const seen = await withTenant(harness().db.app, a.id, async (t) => (await t.trx('contacts').select('id')).map((row) => row.id));
    expect(seen).to.include(aContact);
    expect(seen).not.to.include(bContact);
  });

  it('when no tenant is set, then tenant tables return nothing (fail closed)', async () => {
    const a = await createTenant();
    await insertContactAsOwner(a.id, '+15550100003');
    const rows = await harness().db.app('contacts').select('id');
    expect(rows).to.have.length(0);
    const keys = await harness().db.app('api_keys').select('id');
    expect(keys).to.have.length(0);
  });

  it('when a pooled connection ran a tenant transaction before, then a later query without a tenant still sees nothing', async () => {
    const a = await createTenant();
    await insertContactAsOwner(a.id, '+15550100004');
    const { app } = harness().db;
    await withTenant(app, a.id, async (t) => t.trx('contacts').select('id'));
    for (let i = 0; i < 5; i += 1) expect(await app('contacts').select('id')).to.have.length(0);
  });

  it('when a write names another tenant\'s id on the tenant path, then the database refuses it', async () => {
    const a = await createTenant();
    const b = await createTenant();
    let error: { code?: string; message?: string } | null = null;
    try {
      await withTenant(harness().db.app, a.id, async (t) => t.trx('contacts').insert({ tenant_id: b.id, id: newId(), phone_number: '+15550100005' }));
    } catch (caught) {
      error = caught as { code?: string };
    }
    expect(error?.code).to.equal('42501'); // insufficient_privilege: new row violates row-level security policy
    expect(await harness().db.owner('contacts').where({ tenant_id: b.id })).to.have.length(0);
  });

  it('when an update on the tenant path tries to move a row to another tenant, then the database refuses it', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const id = await insertContactAsOwner(a.id, '+15550100006');
    let code: string | undefined;
    try {
      await withTenant(harness().db.app, a.id, async (t) => t.trx('contacts').where({ id }).update({ tenant_id: b.id }));
    } catch (caught) {
      code = (caught as { code?: string }).code;
    }
    expect(code).to.equal('42501');
    expect((await harness().db.owner('contacts').where({ id }).first()).tenant_id).to.equal(a.id);
  });

  it('when the policy is deliberately broken, then the same unscoped query leaks (so the tests above can fail)', async () => {
    const a = await createTenant();
    const b = await createTenant();
    await insertContactAsOwner(a.id, '+15550100007');
    const bContact = await insertContactAsOwner(b.id, '+15550100008');
    const { owner, app } = harness().db;
    const role = harness().config.appDatabaseRole;
    const trx = await owner.transaction();
    try {
      await trx.raw('ALTER POLICY tenant_isolation ON contacts USING (true)');
      await trx.raw('SET LOCAL ROLE ??', [role]);
      await trx.raw("SELECT set_config('app.tenant_id', ?, true)", [a.id]);
      const leaked = (await trx('contacts').select('id')).map((row) => row.id);
      expect(leaked).to.include(bContact);
    } finally {
      await trx.rollback();
    }
    const safe = await withTenant(app, a.id, async (t) => (await t.trx('contacts').select('id')).map((row) => row.id));
    expect(safe).not.to.include(bContact);
  });

  it('when RLS is turned off on a tenant table, then the boot check refuses to start', async () => {
    const { owner } = harness().db;
    const trx = await owner.transaction();
    try {
      await trx.raw('ALTER TABLE messages NO FORCE ROW LEVEL SECURITY');
      await trx.raw('SET LOCAL ROLE ??', [harness().config.appDatabaseRole]);
      let message = '';
      try {
        await assertRowLevelSecurity(trx);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).to.contain('messages');
    } finally {
      await trx.rollback();
    }
  });

  it('when the runtime role is a superuser, then the boot check refuses to start', async () => {
    let message = '';
    try {
      await assertRowLevelSecurity(harness().db.owner);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).to.match(/superuser|BYPASSRLS|owner|row-level/);
  });

  it('when a child row points at another tenant\'s parent, then the composite foreign key refuses it even on the owner path', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const contactId = await insertContactAsOwner(a.id, '+15550100009');
    const groupId = newId();
    await harness().db.owner('contact_groups').insert({ tenant_id: b.id, id: groupId, name: 'g' });
    let code: string | undefined;
    try {
      await harness().db.owner('group_members').insert({ tenant_id: b.id, group_id: groupId, contact_id: contactId });
    } catch (error) {
      code = (error as { code?: string }).code;
    }
    expect(code).to.equal('23503');
  });

  it('when the app role tries to change the consent ledger, then PostgreSQL refuses (append-only)', async () => {
    const a = await createTenant();
    const id = newId();
    await withTenant(harness().db.app, a.id, (t) =>
      t.insert('consent_logs', { id, phone_number: '+15550100010', consent_type: 'express', consent_source: 'web', consented_at: new Date() }),
    );
    let code: string | undefined;
    try {
      await withTenant(harness().db.app, a.id, (t) => t.from('consent_logs').where({ id }).update({ consent_source: 'forged' }));
    } catch (error) {
      code = (error as { code?: string }).code;
    }
    expect(code).to.equal('42501');
  });

  it('when the app role tries to change a line beyond its heartbeat columns, then PostgreSQL refuses; the heartbeat columns it may write', async () => {
    const owner = harness().db.owner;
    const id = newId();
    await owner('phone_lines').insert({ id, phone_number: `+1555010${String(Date.now() % 10000).padStart(4, '0')}`, bridge_url: 'http://127.0.0.1:9/x', secret_encrypted: 'x', capabilities: JSON.stringify({ imessage: true, sms: true, rcs: false }), mode: 'pooled', pool: 'rls-lines' });
    const refused = async (change: Record<string, unknown>) => {
      try {
        await harness().db.app('phone_lines').where({ id }).update(change);
        return null;
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    expect(await refused({ bridge_url: 'http://attacker.example/' })).to.equal('42501');
    expect(await refused({ mode: 'dedicated' })).to.equal('42501');
    expect(await refused({ enabled: true })).to.equal('42501');
    expect(await refused({ status: 'online', last_heartbeat_at: new Date(), health: JSON.stringify({ battery: 50 }) })).to.equal(null);
    let deleted: string | undefined;
    await harness().db.app('phone_lines').where({ id }).delete().catch((error: { code?: string }) => (deleted = error.code));
    expect(deleted).to.equal('42501');
    expect((await owner('phone_lines').where({ id }).first()).bridge_url).to.equal('http://127.0.0.1:9/x');
  });

  it('when a lookup that crosses tenants is called inside the hot statements, then it runs with its owner\'s rights, a fixed search_path, no grant to PUBLIC, and in PL/pgSQL (a SQL one is planned again on every call)', async () => {
    const rows = await harness().db.owner.raw(`
      SELECT p.proname, l.lanname, p.prosecdef, p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can
        FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public' AND p.proname IN ('senderz_lines_held_by_others', 'senderz_dispatch_owner', 'senderz_conversation_owner')
       ORDER BY p.proname`);
    expect(rows.rows).to.deep.equal(
      ['senderz_conversation_owner', 'senderz_dispatch_owner', 'senderz_lines_held_by_others'].map((proname) => ({ proname, lanname: 'plpgsql', prosecdef: true, proconfig: ['search_path=public'], public_can: false })),
    );
  });
});
