import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { tenancyRows } from './matrix';
import './rows-foundation';
import './rows-messaging';
import './rows-content';
import './rows-agency';
import './rows-webhooks';
import './rows-compliance';

describe('tenancy matrix: tenant B never reaches tenant A\'s records', () => {
  it('when the matrix is loaded, then it has rows', () => {
    expect(tenancyRows.length).to.be.greaterThan(0);
  });

  for (const row of tenancyRows) {
    describe(row.resource, () => {
      for (const route of row.routes) {
        it(`when tenant B calls ${route.method.toUpperCase()} ${route.path(':id')} on A's id, then ${route.expect ?? 404} and nothing changes`, async () => {
          const a = await createTenant();
          const b = await createTenant();
          const id = await row.create(a);
          const owner = harness().db.owner;
          const before = await owner(row.table).where({ tenant_id: a.id, [row.idColumn ?? 'id']: id });
          expect(before, 'resource exists for A').to.have.length(1);

          const keyOf = (tenant: TestTenant) => (row.keys === 'sandbox' ? tenant.sandboxAuth : tenant.auth);
          let request = api()[route.method](route.path(id)).set(keyOf(b));
          if (route.body) request = request.send(route.body(id));
          const res = await request;
          expect(res.status, JSON.stringify(res.body)).to.equal(route.expect ?? 404);
          expect(res.body.code).to.be.a('string');
          expect(JSON.stringify(res.body)).not.to.contain(a.id);

          const after = await owner(row.table).where({ tenant_id: a.id, [row.idColumn ?? 'id']: id });
          expect(after).to.deep.equal(before);

          const own = await api().get(route.path(id)).set(keyOf(a));
          if (route.method === 'get') expect(own.status, 'owner still reads it').to.equal(200);
        });
      }
      if (row.list) {
        it(`when tenant B lists ${row.list}, then A's record is absent`, async () => {
          const a = await createTenant();
          const b = await createTenant();
          const id = await row.create(a);
          const keyOf = (tenant: TestTenant) => (row.keys === 'sandbox' ? tenant.sandboxAuth : tenant.auth);
          const res = await api().get(row.list!).set(keyOf(b));
          expect(res.status).to.equal(200);
          expect(JSON.stringify(res.body.data)).not.to.contain(id);
          const own = await api().get(row.list!).set(keyOf(a));
          expect(JSON.stringify(own.body.data)).to.contain(id);
        });
      }
    });
  }
});
