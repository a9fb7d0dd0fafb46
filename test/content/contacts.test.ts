import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { createContact, createGroup, tableSnapshot, testPhone } from './helpers';

describe('contacts API', () => {
  let tenant: TestTenant;
  before(async () => {
    tenant = await createTenant();
  });

  it('when a contact is created, then it is returned with its fields and can be read, updated and deleted', async () => {
    const phone = testPhone();
    const created = await api()
      .post('/v1/contacts')
      .set(tenant.auth)
      .send({ phone_number: phone, name: 'Ada Lovelace', email: 'ada@example.com', metadata: { plan: 'gold', visits: 3, vip: true } });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const contact = created.body.data;
    expect(contact).to.include({ phone_number: phone, name: 'Ada Lovelace', email: 'ada@example.com' });
    expect(contact.metadata).to.deep.equal({ plan: 'gold', visits: 3, vip: true });
    expect(contact.group_ids).to.deep.equal([]);
    expect(contact).not.to.have.property('tenant_id');

    const read = await api().get(`/v1/contacts/${contact.id}`).set(tenant.auth);
    expect(read.status).to.equal(200);
    expect(read.body.data.id).to.equal(contact.id);

    const patched = await api().patch(`/v1/contacts/${contact.id}`).set(tenant.auth).send({ name: 'Ada King', email: null, metadata: { plan: 'silver' } });
    expect(patched.status, JSON.stringify(patched.body)).to.equal(200);
    expect(patched.body.data).to.include({ name: 'Ada King', email: null, phone_number: phone });
    expect(patched.body.data.metadata).to.deep.equal({ plan: 'silver' });

    const deleted = await api().delete(`/v1/contacts/${contact.id}`).set(tenant.auth);
    expect(deleted.status).to.equal(200);
    expect((await api().get(`/v1/contacts/${contact.id}`).set(tenant.auth)).status).to.equal(404);
  });

  it('when a phone number is already a contact of the tenant, then creating or patching to it is 409 CONFLICT', async () => {
    const first = await createContact(tenant);
    const again = await api().post('/v1/contacts').set(tenant.auth).send({ phone_number: first.phone_number });
    expect(again.status).to.equal(409);
    expect(again.body.code).to.equal('CONFLICT');
    const other = await createContact(tenant);
    const patched = await api().patch(`/v1/contacts/${other.id}`).set(tenant.auth).send({ phone_number: first.phone_number });
    expect(patched.status).to.equal(409);
  });

  it('when another tenant has the same phone number, then both tenants may keep it as a contact', async () => {
    const other = await createTenant();
    const mine = await createContact(tenant);
    const res = await api().post('/v1/contacts').set(other.auth).send({ phone_number: mine.phone_number });
    expect(res.status).to.equal(201);
  });

  it('when the body is invalid, then 400 VALIDATION_ERROR names the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ phone_number: '5551234567' }, 'phone_number'],
      [{ phone_number: '+1 555 123 4567' }, 'phone_number'],
      [{ name: 'no phone' }, 'phone_number'],
      [{ phone_number: testPhone(), email: 'not-an-email' }, 'email'],
      [{ phone_number: testPhone(), metadata: { nested: { a: 1 } } }, 'metadata.nested'],
      [{ phone_number: testPhone(), metadata: 'flat' }, 'metadata'],
      [{ phone_number: testPhone(), metadata: Object.fromEntries(Array.from({ length: 51 }, (_v, i) => [`k${i}`, i])) }, 'metadata'],
      [{ phone_number: testPhone(), metadata: Object.fromEntries(Array.from({ length: 20 }, (_v, i) => [`k${i}`, 'x'.repeat(1000)])) }, 'metadata'],
      [{ phone_number: testPhone(), tenant_id: 'someone-else' }, 'tenant_id'],
      [{ phone_number: testPhone(), group_ids: ['not-a-ulid'] }, 'group_ids.0'],
    ];
    for (const [body, field] of cases) {
      const res = await api().post('/v1/contacts').set(tenant.auth).send(body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(res.body.details.map((detail: { path: string }) => detail.path), JSON.stringify(res.body)).to.include(field);
    }
  });

  it('when group_ids name the tenant\'s groups, then the contact is a member of each', async () => {
    const a = await createGroup(tenant);
    const b = await createGroup(tenant);
    const res = await api().post('/v1/contacts').set(tenant.auth).send({ phone_number: testPhone(), group_ids: [a, b] });
    expect(res.status).to.equal(201);
    expect([...res.body.data.group_ids].sort()).to.deep.equal([a, b].sort());
    const patched = await api().patch(`/v1/contacts/${res.body.data.id}`).set(tenant.auth).send({ group_ids: [b] });
    expect(patched.body.data.group_ids).to.deep.equal([b]);
  });

  it('when group_ids name another tenant\'s group or an unknown id, then 400 names it and no contact is created', async () => {
    const other = await createTenant();
    const foreign = await createGroup(other);
    const own = await createGroup(tenant);
    const before = await tableSnapshot('contacts', tenant.id);
    const unknown = '01HZZZZZZZZZZZZZZZZZZZZZZZ';
    for (const bad of [foreign, unknown]) {
      const res = await api().post('/v1/contacts').set(tenant.auth).send({ phone_number: testPhone(), group_ids: [own, bad] });
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(res.body.error).to.contain(bad);
      expect(res.body.details[0].path).to.equal('group_ids.1');
      expect(JSON.stringify(res.body)).not.to.contain(other.id);
    }
    expect(await tableSnapshot('contacts', tenant.id)).to.deep.equal(before);
    expect(await harness().db.owner('group_members').where({ tenant_id: other.id })).to.have.length(0);
  });

  it('when the list is searched by name, phone prefix or group, then only matching contacts come back', async () => {
    const t = await createTenant();
    const group = await createGroup(t);
    await createContact(t, { phone_number: '+15553330001', name: 'Grace Hopper', group_ids: [group] });
    await createContact(t, { phone_number: '+15553330002', name: 'grace kelly' });
    await createContact(t, { phone_number: '+442071234567', name: 'Alan Turing' });
    await createContact(t, { phone_number: '+15553330003', name: '100% Sure_thing' });

    const names = async (query: string) => {
      const res = await api().get(`/v1/contacts?${query}`).set(t.auth);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return res.body.data.map((contact: { name: string }) => contact.name).sort();
    };
    expect(await names('search=GRACE')).to.deep.equal(['Grace Hopper', 'grace kelly']);
    expect(await names('search=%25')).to.deep.equal(['100% Sure_thing']);
    expect(await names('search=e_t')).to.deep.equal(['100% Sure_thing']);
    expect(await names('phone_prefix=%2B1555333')).to.deep.equal(['100% Sure_thing', 'Grace Hopper', 'grace kelly']);
    // An unencoded '+' arrives as a space: still read as '+'.
    expect(await names('phone_prefix=+44')).to.deep.equal(['Alan Turing']);
    expect(await names(`group_id=${group}`)).to.deep.equal(['Grace Hopper']);
    expect(await names(`group_id=${group}&search=kelly`)).to.deep.equal([]);
    const bad = await api().get('/v1/contacts?phone_prefix=abc').set(t.auth);
    expect(bad.status).to.equal(400);
  });

  it('when there are more contacts than the limit, then the cursor walks every page once', async () => {
    const t = await createTenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await createContact(t)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    type Page = { status: number; body: { data: { id: string }[]; next_cursor: string | null } };
    do {
      const res: Page = await api().get(`/v1/contacts?limit=2${cursor ? `&cursor=${cursor}` : ''}`).set(t.auth);
      expect(res.status).to.equal(200);
      expect(res.body.data.length).to.be.at.most(2);
      seen.push(...res.body.data.map((contact: { id: string }) => contact.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen).to.deep.equal([...ids].reverse());
  });
});
