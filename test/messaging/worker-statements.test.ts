import { expect } from 'chai';
import crypto from 'node:crypto';
import { api, adminHeaders, appStatementsDuring, createTenant, harness, TestTenant } from '../helpers/harness';
import { createRouteStatements, RouteContext } from '../../shared/data/routes';
import { createDispatchStatements } from '../../shared/data/dispatches';
import { newId } from '../../shared/ids';

/**
 * The router's and the dispatcher's statements of one process go to
 * PostgreSQL together (shared/data/worker-statements.ts): reads with reads,
 * writes with writes, every item in its own tenant's scope.
 */
let counter = 0;

async function tenantWithOnlineLine(): Promise<{ tenant: TestTenant; lineId: string; lineNumber: string }> {
  counter += 1;
  const pool = `worker-statements-${process.pid}-${counter}`;
  const tenant = await createTenant({ pool });
  const lineNumber = `+1555810${String(1000 + counter)}`;
  const res = await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({ phone_number: lineNumber, bridge_url: 'http://127.0.0.1:9/nowhere', secret: crypto.randomBytes(32).toString('hex'), capabilities: { imessage: true, sms: true, rcs: false }, mode: 'pooled', pool });
  expect(res.status).to.equal(201);
  await harness().db.owner('phone_lines').where({ id: res.body.data.id }).update({ status: 'online', last_heartbeat_at: new Date() });
  return { tenant, lineId: res.body.data.id, lineNumber };
}

async function queuedMessage(tenant: TestTenant, to: string): Promise<string> {
  const res = await api().post('/v1/messages').set(tenant.auth).send({ to, body: 'hello', channel: 'sms', message_type: 'alert' });
  expect(res.status).to.equal(202);
  return res.body.data.message_id as string;
}

/** Counts the statements the worker group sends while `work` runs. */
async function countingStatements<T>(work: () => Promise<T>): Promise<{ result: T; statements: number }> {
  const { result, statements } = await appStatementsDuring(work);
  return { result, statements: statements.filter((sql) => sql.includes('senderz_worker_statements')).length };
}

describe('worker statements: the router and the dispatcher of a process share their statements', () => {
  it("when routing reads of two tenants go out in the same turn, then they share one statement and each sees only its own tenant's message", async () => {
    const a = await tenantWithOnlineLine();
    const b = await tenantWithOnlineLine();
    const messageA = await queuedMessage(a.tenant, '+15558201001');
    const messageB = await queuedMessage(b.tenant, '+15558201002');
    const routes = createRouteStatements(harness().db.app);
    const { result, statements } = await countingStatements(() =>
      Promise.all([routes.context(a.tenant.id, messageA), routes.context(b.tenant.id, messageB), routes.context(a.tenant.id, messageB), routes.context(b.tenant.id, messageA)]),
    );
    expect(statements).to.equal(1);
    const [ownA, ownB, crossA, crossB] = result;
    expect(ownA?.to_number).to.equal('+15558201001');
    expect(ownB?.to_number).to.equal('+15558201002');
    // Another tenant's message through a tenant's id: not found, as through the API.
    expect(crossA).to.equal(null);
    expect(crossB).to.equal(null);
  });

  it("when a push's accepted mark is recorded, then it waits for the process's next routing decision and rides with it, reads never wait for it, and another tenant's id never moves the dispatch", async () => {
    const a = await tenantWithOnlineLine();
    const b = await tenantWithOnlineLine();
    const message = await queuedMessage(a.tenant, '+15558202001');
    const other = await queuedMessage(b.tenant, '+15558202002');
    const routes = createRouteStatements(harness().db.app);
    const dispatches = createDispatchStatements(harness().db.app);
    const context = (await routes.context(a.tenant.id, message)) as RouteContext;
    const dispatchId = newId();
    const committed = await routes.commit(
      a.tenant.id,
      message,
      { action: 'dispatch', lineId: a.lineId, from: a.lineNumber, channel: 'sms', dispatchId, priority: 2 },
      { tenant: { plan: context.plan, limits: context.limits } },
    );
    expect(committed.outcome).to.equal('dispatch');
    const status = async () => (await harness().db.owner('dispatches').where({ id: dispatchId }).first('status')).status as string;
    expect(await status()).to.equal('pending');

    // Tenant B naming A's dispatch: its read finds nothing and its mark changes nothing.
    const foreign = await countingStatements(() => Promise.all([dispatches.context(b.tenant.id, dispatchId), dispatches.accepted(b.tenant.id, dispatchId)]));
    expect(foreign.result[0]).to.equal(null);
    expect(await status()).to.equal('pending');

    // A's mark, then B's routing decision a moment later: one statement carries both.
    const otherContext = (await routes.context(b.tenant.id, other)) as RouteContext;
    const otherDispatch = newId();
    const shared = await countingStatements(async () => {
      const mark = dispatches.accepted(a.tenant.id, dispatchId);
      // Two turns of the event loop: an eager call would have gone by now.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      const decision = routes.commit(
        b.tenant.id,
        other,
        { action: 'dispatch', lineId: b.lineId, from: b.lineNumber, channel: 'sms', dispatchId: otherDispatch, priority: 2 },
        { tenant: { plan: otherContext.plan, limits: otherContext.limits } },
      );
      return Promise.all([mark, decision]);
    });
    expect(shared.statements).to.equal(1);
    expect(shared.result[1].outcome).to.equal('dispatch');
    expect(await status()).to.equal('accepted');
    const otherRow = await harness().db.owner('dispatches').where({ id: otherDispatch }).first('tenant_id', 'status');
    expect(otherRow).to.deep.equal({ tenant_id: b.tenant.id, status: 'pending' });

    // A read never waits for a write: a routing read made while a mark lingers goes without it.
    const apart = await countingStatements(async () => {
      const mark = dispatches.accepted(a.tenant.id, otherDispatch);
      const read = routes.context(a.tenant.id, message);
      return Promise.all([mark, read]);
    });
    expect(apart.statements).to.equal(2);
    // Another tenant's mark, even riding in a shared statement, moves nothing.
    expect((await harness().db.owner('dispatches').where({ id: otherDispatch }).first('status')).status).to.equal('pending');

    // Alone, a mark goes by itself once it has waited its time.
    const lone = await countingStatements(() => dispatches.accepted(a.tenant.id, dispatchId));
    expect(lone.statements).to.equal(1);
  });
});
