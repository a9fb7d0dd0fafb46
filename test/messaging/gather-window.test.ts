import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { addDedicatedLine } from '../helpers/device';
import { createDatabase, Database } from '../../shared/db';
import { acceptOutboundRow } from '../../shared/data/messages';
import { createRouteStatements } from '../../shared/data/routes';
import { newId } from '../../shared/ids';

/**
 * STATEMENT_GATHER_MS: the app pool's hot statements (accepts, the router's
 * and the dispatcher's statements) wait that long for company, so calls a
 * few milliseconds apart share one statement and one commit.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function tenantWithLine(): Promise<{ tenant: TestTenant }> {
  const tenant = await createTenant();
  await addDedicatedLine(tenant, '+1555831');
  return { tenant };
}

function acceptInput(tenantId: string, id: string, to: string) {
  return {
    tenantId, linePool: '', checkLines: false, checkOptOut: true, id, to, body: 'x', requestedChannel: 'auto', messageType: 'alert',
    pinnedFrom: null, campaignId: null, templateId: null, sandbox: false, dispatchWebhook: true, systemReply: false, jobName: 'route-message', priority: 1,
    blockedReason: null, statusCallback: null, clientReference: null, sendAt: null,
  };
}

/** Statements of `db`'s app pool whose text includes `name`, while `work` runs. */
async function statementsOf<T>(db: Database, name: string, work: () => Promise<T>): Promise<{ result: T; count: number }> {
  const seen: string[] = [];
  const onQuery = (query: { sql: string }) => seen.push(query.sql);
  db.app.on('query', onQuery);
  try {
    const result = await work();
    return { result, count: seen.filter((sql) => sql.includes(name)).length };
  } finally {
    db.app.off('query', onQuery);
  }
}

/** Two calls 10 ms apart, as two requests or jobs at 100 a second would be. */
async function spaced<T>(first: () => Promise<T>, second: () => Promise<T>): Promise<T[]> {
  const one = first();
  await sleep(10);
  return Promise.all([one, second()]);
}

describe('STATEMENT_GATHER_MS: hot statements wait for company', () => {
  const pools: Database[] = [];
  const pool = (gatherMs: number) => {
    const db = createDatabase(harness().config, { gatherMs });
    pools.push(db);
    return db;
  };
  after(async () => {
    await Promise.all(pools.map((db) => db.destroy()));
  });

  it('when two tenants accept 10 ms apart on a pool with a 40 ms window, then both go in one statement, each row its own tenant\'s; with no window each takes its own', async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    const gathered = pool(40);
    const [first, second] = [newId(), newId()];
    const shared = await statementsOf(gathered, 'senderz_accept_outbounds', () =>
      spaced(() => acceptOutboundRow(gathered.app, acceptInput(a.tenant.id, first, '+15558301001')), () => acceptOutboundRow(gathered.app, acceptInput(b.tenant.id, second, '+15558301002'))),
    );
    expect(shared.result.map((row) => row.status)).to.deep.equal(['queued', 'queued']);
    expect(shared.count).to.equal(1);
    const owners = await harness().db.owner('messages').whereIn('id', [first, second]).select('id', 'tenant_id');
    expect(Object.fromEntries(owners.map((row: { id: string; tenant_id: string }) => [row.id, row.tenant_id]))).to.deep.equal({ [first]: a.tenant.id, [second]: b.tenant.id });

    const eager = pool(0);
    const alone = await statementsOf(eager, 'senderz_accept_outbounds', () =>
      spaced(() => acceptOutboundRow(eager.app, acceptInput(a.tenant.id, newId(), '+15558301003')), () => acceptOutboundRow(eager.app, acceptInput(b.tenant.id, newId(), '+15558301004'))),
    );
    expect(alone.count).to.equal(2);
  });

  it("when routing reads of two tenants come 10 ms apart on a pool with a 40 ms window, then they share one statement and each sees only its own tenant's message", async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    const post = async (tenant: TestTenant, to: string) => (await api().post('/v1/messages').set(tenant.auth).send({ to, body: 'hello', channel: 'sms' })).body.data.message_id as string;
    const messageA = await post(a.tenant, '+15558302001');
    const messageB = await post(b.tenant, '+15558302002');
    const gathered = pool(40);
    const routes = createRouteStatements(gathered.app);
    const own = await statementsOf(gathered, 'senderz_worker_statements', () => spaced(() => routes.context(a.tenant.id, messageA), () => routes.context(b.tenant.id, messageB)));
    expect(own.count).to.equal(1);
    expect(own.result.map((context) => context?.to_number)).to.deep.equal(['+15558302001', '+15558302002']);
    // Another tenant's message through a tenant's id finds nothing, inside a shared statement too.
    const cross = await statementsOf(gathered, 'senderz_worker_statements', () => spaced(() => routes.context(a.tenant.id, messageB), () => routes.context(b.tenant.id, messageA)));
    expect(cross.count).to.equal(1);
    expect(cross.result).to.deep.equal([null, null]);

    const eager = createRouteStatements(pool(0).app);
    const alone = await statementsOf(pools[pools.length - 1], 'senderz_worker_statements', () => spaced(() => eager.context(a.tenant.id, messageA), () => eager.context(b.tenant.id, messageB)));
    expect(alone.count).to.equal(2);
  });
});
