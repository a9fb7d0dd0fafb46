import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { createContact, createGroup, tableSnapshot } from './helpers';

describe('groups API', () => {
  let tenant: TestTenant;
  before(async () => {
    tenant = await createTenant();
  });

  it('when a group is created, read, renamed and listed, then it shows its member count', async () => {
    const created = await api().post('/v1/groups').set(tenant.auth).send({ name: 'VIPs', description: 'best customers' });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    expect(created.body.data).to.include({ name: 'VIPs', description: 'best customers', member_count: 0 });
    const id = created.body.data.id;

    const renamed = await api().patch(`/v1/groups/${id}`).set(tenant.auth).send({ name: 'Gold' });
    expect(renamed.status).to.equal(200);
    expect(renamed.body.data.name).to.equal('Gold');

    const contact = await createContact(tenant);
    await api().post(`/v1/groups/${id}/members`).set(tenant.auth).send({ contact_ids: [contact.id] });
    const read = await api().get(`/v1/groups/${id}`).set(tenant.auth);
    expect(read.body.data.member_count).to.equal(1);
    const list = await api().get('/v1/groups').set(tenant.auth);
    expect(list.body.data.find((group: { id: string }) => group.id === id).member_count).to.equal(1);
  });

  it('when a group name is taken, then creating or renaming to it is 409', async () => {
    await createGroup(tenant, 'taken');
    expect((await api().post('/v1/groups').set(tenant.auth).send({ name: 'taken' })).status).to.equal(409);
    const other = await createGroup(tenant, 'other');
    expect((await api().patch(`/v1/groups/${other}`).set(tenant.auth).send({ name: 'taken' })).status).to.equal(409);
  });

  it('when the body is invalid, then 400 names the field', async () => {
    expect((await api().post('/v1/groups').set(tenant.auth).send({})).body.details[0].path).to.equal('name');
    expect((await api().post('/v1/groups').set(tenant.auth).send({ name: 'x', members: [] })).body.details[0].path).to.equal('members');
    const group = await createGroup(tenant);
    const tooMany = Array.from({ length: 1001 }, () => '01HZZZZZZZZZZZZZZZZZZZZZZZ');
    const res = await api().post(`/v1/groups/${group}/members`).set(tenant.auth).send({ contact_ids: tooMany });
    expect(res.status).to.equal(400);
    expect(res.body.details[0].path).to.equal('contact_ids');
  });

  it('when members are added, listed and removed in bulk, then the group holds exactly those contacts', async () => {
    const group = await createGroup(tenant);
    const contacts = [];
    for (let i = 0; i < 5; i += 1) contacts.push(await createContact(tenant));
    const ids = contacts.map((contact) => contact.id);

    const added = await api().post(`/v1/groups/${group}/members`).set(tenant.auth).send({ contact_ids: [...ids, ids[0]] });
    expect(added.status, JSON.stringify(added.body)).to.equal(200);
    expect(added.body.data.added).to.equal(5);
    expect(added.body.data.group.member_count).to.equal(5);
    const again = await api().post(`/v1/groups/${group}/members`).set(tenant.auth).send({ contact_ids: ids.slice(0, 2) });
    expect(again.body.data.added).to.equal(0);

    const page1 = await api().get(`/v1/groups/${group}/members?limit=3`).set(tenant.auth);
    expect(page1.status).to.equal(200);
    expect(page1.body.data).to.have.length(3);
    const page2 = await api().get(`/v1/groups/${group}/members?limit=3&cursor=${page1.body.next_cursor}`).set(tenant.auth);
    expect(page2.body.next_cursor).to.equal(null);
    const listed = [...page1.body.data, ...page2.body.data].map((contact: { id: string; group_ids: string[] }) => {
      expect(contact.group_ids).to.include(group);
      return contact.id;
    });
    expect(listed.sort()).to.deep.equal([...ids].sort());

    const removed = await api().delete(`/v1/groups/${group}/members`).set(tenant.auth).send({ contact_ids: ids.slice(0, 2) });
    expect(removed.status, JSON.stringify(removed.body)).to.equal(200);
    expect(removed.body.data.removed).to.equal(2);
    const removedByPost = await api().post(`/v1/groups/${group}/members/remove`).set(tenant.auth).send({ contact_ids: [ids[2]] });
    expect(removedByPost.body.data.removed).to.equal(1);
    expect(removedByPost.body.data.group.member_count).to.equal(2);
  });

  it('when contact_ids include another tenant\'s contact or an unknown id, then 400 names it and nothing is added or removed', async () => {
    const other = await createTenant();
    const foreign = await createContact(other);
    const group = await createGroup(tenant);
    const mine = await createContact(tenant);
    await api().post(`/v1/groups/${group}/members`).set(tenant.auth).send({ contact_ids: [mine.id] });
    const before = await tableSnapshot('group_members', tenant.id);
    for (const bad of [foreign.id, '01HZZZZZZZZZZZZZZZZZZZZZZZ']) {
      const fresh = await createContact(tenant);
      const add = await api().post(`/v1/groups/${group}/members`).set(tenant.auth).send({ contact_ids: [fresh.id, bad] });
      expect(add.status, JSON.stringify(add.body)).to.equal(400);
      expect(add.body.error).to.contain(bad);
      expect(add.body.details).to.deep.equal([{ path: 'contact_ids.1', message: `names no contact of this account (${bad})` }]);
      expect(JSON.stringify(add.body)).not.to.contain(other.id);
      const remove = await api().delete(`/v1/groups/${group}/members`).set(tenant.auth).send({ contact_ids: [mine.id, bad] });
      expect(remove.status).to.equal(400);
    }
    expect(await tableSnapshot('group_members', tenant.id)).to.deep.equal(before);
    expect(await harness().db.owner('group_members').where({ contact_id: foreign.id })).to.have.length(0);
  });

  it('when a group is deleted, then its contacts remain', async () => {
    const group = await createGroup(tenant);
    const contact = await createContact(tenant, { group_ids: [group] });
    const deleted = await api().delete(`/v1/groups/${group}`).set(tenant.auth);
    expect(deleted.status).to.equal(200);
    expect((await api().get(`/v1/groups/${group}`).set(tenant.auth)).status).to.equal(404);
    const read = await api().get(`/v1/contacts/${contact.id}`).set(tenant.auth);
    expect(read.status).to.equal(200);
    expect(read.body.data.group_ids).to.deep.equal([]);
  });
});
