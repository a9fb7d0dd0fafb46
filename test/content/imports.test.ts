import { expect } from 'chai';
import type { Knex } from 'knex';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { createContactImporter } from '../../workers/campaigns/import-contacts';
import { createContact, createGroup, leaveNoWorkBehind, runCampaignJob, tableSnapshot } from './helpers';

async function importJson(tenant: TestTenant, body: unknown) {
  return api().post('/v1/contacts/import').set(tenant.auth).send(body as object);
}

async function importCsv(tenant: TestTenant, csv: string, query = '') {
  return api().post(`/v1/contacts/import${query}`).set(tenant.auth).set('Content-Type', 'text/csv').send(csv);
}

async function readImport(tenant: TestTenant, id: string) {
  const res = await api().get(`/v1/contacts/imports/${id}`).set(tenant.auth);
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.data;
}

async function contactsOf(tenantId: string) {
  return harness().db.owner('contacts').where({ tenant_id: tenantId }).orderBy('phone_number').select('phone_number', 'name', 'email', 'metadata');
}

describe('contact imports', () => {
  leaveNoWorkBehind();
  it('when a JSON import has bad rows, then the good rows are created and each bad row is reported with its row number, field and reason', async () => {
    const tenant = await createTenant();
    await createContact(tenant, { phone_number: '+15554440009', name: 'Existing' });
    const res = await importJson(tenant, {
      contacts: [
        { phone_number: '+15554440001', name: 'Ann', email: 'ann@example.com', metadata: { tier: 'gold' } },
        { phone_number: 'not a number', name: 'Bad phone' },
        { phone_number: '+15554440002', email: 'nope' },
        { phone_number: '+1 (555) 444-0003', name: 'Formatted' },
        { phone_number: '+15554440001', name: 'Ann again' },
        { name: 'No phone' },
        { phone_number: '+15554440004', favourite: 'blue' },
        { phone_number: '+15554440009', name: 'Already there' },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data).to.include({ status: 'queued', format: 'json' });
    expect(res.body.data.progress).to.deep.equal({ processed: 0, total: 8 });

    const outcome = await runCampaignJob('import-contacts', { tenantId: tenant.id, importId: res.body.data.id });
    expect(outcome.error, String(outcome.error)).to.equal(undefined);

    const report = await readImport(tenant, res.body.data.id);
    expect(report).to.include({ status: 'completed', created: 2, updated: 0, failed: 6 });
    expect(report.progress).to.deep.equal({ processed: 8, total: 8 });
    expect(report.completed_at).to.be.a('string');
    const errors = report.errors as { row: number; field: string; reason: string }[];
    expect(errors.map((error) => [error.row, error.field])).to.deep.equal([
      [2, 'phone_number'],
      [3, 'email'],
      [5, 'phone_number'],
      [6, 'phone_number'],
      [7, 'favourite'],
      [8, 'phone_number'],
    ]);
    expect(errors[2].reason).to.equal('duplicate of row 1 in this import');
    expect(errors[5].reason).to.contain('already exists');

    expect(await contactsOf(tenant.id)).to.deep.equal([
      { phone_number: '+15554440001', name: 'Ann', email: 'ann@example.com', metadata: { tier: 'gold' } },
      { phone_number: '+15554440003', name: 'Formatted', email: null, metadata: {} },
      { phone_number: '+15554440009', name: 'Existing', email: null, metadata: {} },
    ]);
  });

  it('when a CSV is uploaded with update_existing and a group, then extra columns become metadata, existing contacts are updated and all join the group', async () => {
    const tenant = await createTenant();
    const group = await createGroup(tenant);
    await createContact(tenant, { phone_number: '+15554450001', name: 'Old name', email: 'keep@example.com', metadata: { since: '2020' } });
    const csv = ['Phone Number,Name,Email,Plan,Favourite-Colour', '+15554450001,New name,,gold,', '"+1 555 445 0002",Bob,bob@example.com,silver,blue', ''].join('\r\n');
    const res = await importCsv(tenant, csv, `?update_existing=true&group_id=${group}`);
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data).to.include({ format: 'csv', update_existing: true, group_id: group });

    await runCampaignJob('import-contacts', { tenantId: tenant.id, importId: res.body.data.id });
    const report = await readImport(tenant, res.body.data.id);
    expect(report).to.include({ status: 'completed', created: 1, updated: 1, failed: 0 });
    expect(report.errors).to.deep.equal([]);
    expect(await contactsOf(tenant.id)).to.deep.equal([
      { phone_number: '+15554450001', name: 'New name', email: 'keep@example.com', metadata: { since: '2020', plan: 'gold' } },
      { phone_number: '+15554450002', name: 'Bob', email: 'bob@example.com', metadata: { plan: 'silver', favourite_colour: 'blue' } },
    ]);
    const members = await api().get(`/v1/groups/${group}/members`).set(tenant.auth);
    expect(members.body.data).to.have.length(2);
  });

  it('when the same import job runs again, then nothing changes: no new contacts, counts and errors unchanged', async () => {
    const tenant = await createTenant();
    const rows = Array.from({ length: 30 }, (_v, i) => ({ phone_number: `+1555446${String(i).padStart(4, '0')}`, name: `Row ${i}` }));
    rows.push({ phone_number: 'bad', name: 'bad' });
    const res = await importJson(tenant, { contacts: rows });
    const payload = { tenantId: tenant.id, importId: res.body.data.id };
    await runCampaignJob('import-contacts', payload);
    const first = await readImport(tenant, res.body.data.id);
    const contacts = await tableSnapshot('contacts', tenant.id);

    const again = await runCampaignJob('import-contacts', payload);
    expect(again.result).to.equal('skipped: already completed');
    expect(await readImport(tenant, res.body.data.id)).to.deep.equal(first);
    expect(await tableSnapshot('contacts', tenant.id)).to.deep.equal(contacts);
    expect(first).to.include({ created: 30, failed: 1 });
  });

  it('when an import crashes between chunks and is re-run, then it resumes after the last committed chunk and the result equals a clean run', async () => {
    const tenant = await createTenant();
    const rows = Array.from({ length: 1200 }, (_v, i) => ({ phone_number: `+1555447${String(i).padStart(4, '0')}` }));
    rows[700] = { phone_number: rows[10].phone_number };
    const res = await importJson(tenant, { contacts: rows });
    const payload = { tenantId: tenant.id, importId: res.body.data.id };

    // A database that fails the third transaction: load, chunk 1, then the crash.
    const real = harness().db.app;
    let transactions = 0;
    const crashing = {
      transaction: (fn: (trx: Knex.Transaction) => Promise<unknown>) => {
        transactions += 1;
        return transactions === 3 ? Promise.reject(new Error('simulated crash')) : real.transaction(fn);
      },
    } as unknown as Knex;
    const deps = workerDeps();
    const crashed = createContactImporter({ ...deps, db: { ...deps.db, app: crashing } }, { chunkSize: 500 });
    let error: Error | undefined;
    try {
      await crashed(payload);
    } catch (caught) {
      error = caught as Error;
    }
    expect(error?.message).to.equal('simulated crash');
    const midway = await readImport(tenant, res.body.data.id);
    expect(midway).to.include({ status: 'processing', created: 500 });
    expect(midway.progress).to.deep.equal({ processed: 500, total: 1200 });

    await createContactImporter(deps, { chunkSize: 500 })(payload);
    const report = await readImport(tenant, res.body.data.id);
    expect(report).to.include({ status: 'completed', created: 1199, updated: 0, failed: 1 });
    expect(report.errors).to.deep.equal([{ row: 701, field: 'phone_number', reason: 'duplicate of row 11 in this import' }]);
    expect(await harness().db.owner('contacts').where({ tenant_id: tenant.id }).count('* as n').first()).to.deep.equal({ n: 1199 });
  });

  it('when the upload itself is wrong, then 400 and no import is recorded', async () => {
    const tenant = await createTenant();
    const other = await createTenant();
    const foreignGroup = await createGroup(other);
    const before = await tableSnapshot('contact_imports', tenant.id);
    const cases = [
      await importJson(tenant, { contacts: [] }),
      await importJson(tenant, { contacts: Array.from({ length: 10001 }, () => ({ phone_number: '+15550000000' })) }),
      await importJson(tenant, { contacts: ['+15550000000'] }),
      await importJson(tenant, { contacts: [{ phone_number: '+15550000000' }], group_id: foreignGroup }),
      await importJson(tenant, { contacts: [{ phone_number: '+15550000000' }], tenant_id: other.id }),
      await importCsv(tenant, 'name,email\nAnn,ann@example.com\n'),
      await importCsv(tenant, 'phone_number,bad column!\n+15550000000,x\n'),
      await importCsv(tenant, 'phone_number,name\n"+15550000000,unterminated\n'),
      await importCsv(tenant, 'phone_number\n+15550000000\n', `?group_id=${foreignGroup}`),
    ];
    for (const res of cases) {
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(JSON.stringify(res.body)).not.to.contain(other.id);
    }
    expect(cases[3].body.error).to.contain(foreignGroup);
    expect(await tableSnapshot('contact_imports', tenant.id)).to.deep.equal(before);
  });

  it('when a JSON import is larger than the usual 1 MB body limit, then it is accepted up to 5 MB', async () => {
    const tenant = await createTenant();
    const rows = Array.from({ length: 10000 }, (_v, i) => ({ phone_number: `+1555448${String(i).padStart(4, '0')}`, name: `Contact number ${i} with a long name`, email: `contact${i}@example.com` }));
    expect(JSON.stringify({ contacts: rows }).length).to.be.greaterThan(1024 * 1024);
    const res = await importJson(tenant, { contacts: rows });
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).to.equal(202);
    expect(res.body.data.progress.total).to.equal(10000);
  });

  it('when the same Idempotency-Key comes with a different CSV, then 409 IDEMPOTENCY_CONFLICT (the CSV is part of the request hash)', async () => {
    const tenant = await createTenant();
    const first = await api().post('/v1/contacts/import').set(tenant.auth).set('Idempotency-Key', 'csv-1').set('Content-Type', 'text/csv').send('phone_number\n+15554490001\n');
    expect(first.status).to.equal(202);
    const replay = await api().post('/v1/contacts/import').set(tenant.auth).set('Idempotency-Key', 'csv-1').set('Content-Type', 'text/csv').send('phone_number\n+15554490001\n');
    expect(replay.status).to.equal(202);
    expect(replay.body.data.id).to.equal(first.body.data.id);
    const other = await api().post('/v1/contacts/import').set(tenant.auth).set('Idempotency-Key', 'csv-1').set('Content-Type', 'text/csv').send('phone_number\n+15554490002\n');
    expect(other.status).to.equal(409);
    expect(other.body.code).to.equal('IDEMPOTENCY_CONFLICT');
  });

  it('when tenant B\'s import id arrives in an import job for tenant A, then the job fails terminally and nothing changes', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const res = await importJson(b, { contacts: [{ phone_number: '+15554500001' }] });
    const beforeA = await tableSnapshot('contacts', a.id);
    const beforeB = await tableSnapshot('contact_imports', b.id);
    const outcome = await runCampaignJob('import-contacts', { tenantId: a.id, importId: res.body.data.id });
    expect(outcome.terminal, String(outcome.error)).to.equal(true);
    expect(await tableSnapshot('contacts', a.id)).to.deep.equal(beforeA);
    expect(await tableSnapshot('contacts', b.id)).to.deep.equal([]);
    expect(await tableSnapshot('contact_imports', b.id)).to.deep.equal(beforeB);
    expect((await runCampaignJob('import-contacts', { tenantId: a.id, importId: 'bad id!' })).terminal).to.equal(true);
  });

  it('when imports are listed, then they show progress without their errors', async () => {
    const tenant = await createTenant();
    const res = await importJson(tenant, [{ phone_number: '+15554510001' }]);
    expect(res.status).to.equal(202);
    const list = await api().get('/v1/contacts/imports').set(tenant.auth);
    expect(list.status).to.equal(200);
    expect(list.body.data).to.have.length(1);
    expect(list.body.data[0]).not.to.have.property('errors');
    expect(list.body.data[0].progress).to.deep.equal({ processed: 0, total: 1 });
  });
});
