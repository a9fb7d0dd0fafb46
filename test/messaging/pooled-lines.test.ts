import { expect } from 'chai';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startPlatform, RunningPlatform, TestLine, disableAllLines } from '../helpers/platform';
import { fakeJob, outcomeText, runThroughPool } from '../helpers/jobs';
import { createSendingHandlers } from '../../workers/sending';
import { createDispatchHandlers } from '../../workers/dispatch';

let poolCounter = 0;
let numberCounter = 0;
const recipient = () => `+1555310${String(1000 + (numberCounter += 1))}`;

async function send(tenant: TestTenant, body: object): Promise<string> {
  const res = await api().post('/v1/messages').set(tenant.auth).send(body);
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.data.message_id as string;
}

async function inboundOwners(from: string): Promise<string[]> {
  const rows = await harness().db.owner('messages').where({ direction: 'inbound', from_number: from }).select('tenant_id', 'to_number');
  return rows.map((row) => `${row.tenant_id}@${row.to_number}`);
}

const unlimited = { new_contacts_per_day: null, new_contacts_per_month: null, messages_per_day: null };

describe('pooled lines: one tenant per recipient per line, fair shares, transactional reserve', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  const route = async (tenant: TestTenant, messageId: string) =>
    outcomeText(await createSendingHandlers(platform.deps)['route-message']({ tenantId: tenant.id, messageId }, fakeJob('route-message', { tenantId: tenant.id, messageId })));

  before(async () => {
    await disableAllLines();
    // Routing is driven by the tests; pushes and device reports run for real.
    platform = await startPlatform({ pools: ['dispatch'] });
  });
  after(async () => {
    await platform.stop();
  });

  async function poolOf(lineCount: number, tenants: number, lineOptions: { maxPerMinute?: number | null; warmup?: boolean } = {}) {
    poolCounter += 1;
    const pool = `pooled-${poolCounter}`;
    const lines: TestLine[] = [];
    for (let i = 0; i < lineCount; i += 1) lines.push(await platform.addLine({ pool, ...lineOptions }));
    const members: TestTenant[] = [];
    for (let i = 0; i < tenants; i += 1) members.push(await createTenant({ pool, plan: 'scale', limits: unlimited }));
    return { pool, lines, tenants: members };
  }

  it('when three tenants share one pooled line, then only the first holds a recipient, the others wait and never send from that line, and the reply goes to the holder', async () => {
    const { lines, tenants } = await poolOf(1, 3);
    const [line] = lines;
    const [c, d, e] = tenants;
    const number = recipient();
    const fromC = await send(c, { to: number, body: 'Your PIN is 4821' });
    expect(await route(c, fromC)).to.equal(`done: dispatching on ${line.id}`);
    const fromD = await send(d, { to: number, body: 'reply with your PIN' });
    expect(await route(d, fromD)).to.equal('deferred: waiting for a line');
    // The line is free for everyone else's other recipients.
    const fromE = await send(e, { to: recipient(), body: 'hello' });
    expect(await route(e, fromE)).to.equal(`done: dispatching on ${line.id}`);

    await eventually(async () => platform.simulator.sends().some((sent) => sent.message_id === fromC), 10000, 'C pushed');
    platform.simulator.inbound({ line_id: line.id, from: number, body: '4821' });
    await eventually(async () => (await inboundOwners(number)).length === 1, 10000, 'inbound stored');
    expect(await inboundOwners(number)).to.deep.equal([`${c.id}@${line.phoneNumber}`]);
    expect(platform.simulator.sends().filter((sent) => sent.message_id === fromD)).to.have.length(0);
    const waiting = await harness().db.owner('messages').where({ tenant_id: d.id, id: fromD }).first();
    expect(waiting).to.include({ status: 'queued', line_id: null });
    expect(await harness().db.owner('dispatches').where({ tenant_id: d.id }).select('id')).to.have.length(0);
  });

  it('when three tenants share two pooled lines, then the second tenant gets the other line, the third waits, and each reply goes to the tenant holding that line', async () => {
    const { lines, tenants } = await poolOf(2, 3);
    const [c, d, e] = tenants;
    const number = recipient();
    const fromC = await send(c, { to: number, body: 'from C' });
    const routedC = (await route(c, fromC)) as string;
    const lineOfC = lines.find((line) => routedC === `done: dispatching on ${line.id}`)!;
    expect(lineOfC, routedC).to.not.equal(undefined);
    const lineOfD = lines.find((line) => line !== lineOfC)!;
    const fromD = await send(d, { to: number, body: 'from D' });
    expect(await route(d, fromD)).to.equal(`done: dispatching on ${lineOfD.id}`);
    const fromE = await send(e, { to: number, body: 'from E' });
    expect(await route(e, fromE)).to.equal('deferred: waiting for a line');

    platform.simulator.inbound({ line_id: lineOfC.id, from: number, body: 'STOP' });
    platform.simulator.inbound({ line_id: lineOfD.id, from: number, body: 'hi D' });
    await eventually(async () => (await inboundOwners(number)).length === 2, 10000, 'both inbound stored');
    expect((await inboundOwners(number)).sort()).to.deep.equal([`${c.id}@${lineOfC.phoneNumber}`, `${d.id}@${lineOfD.phoneNumber}`].sort());
  });

  it('when a conversation has been silent for more than 30 days, then another tenant may take the recipient on that line', async () => {
    const { lines, tenants } = await poolOf(1, 2);
    const [c, d] = tenants;
    const number = recipient();
    expect(await route(c, await send(c, { to: number, body: 'old' }))).to.equal(`done: dispatching on ${lines[0].id}`);
    const fromD = await send(d, { to: number, body: 'new' });
    expect(await route(d, fromD)).to.equal('deferred: waiting for a line');
    await harness().db.owner('conversations').where({ tenant_id: c.id, phone_number: number }).update({ last_outbound_at: new Date(Date.now() - 31 * 86400000), last_inbound_at: null });
    expect(await route(d, fromD)).to.equal(`done: dispatching on ${lines[0].id}`);
  });
});

describe('line capacity: fair shares of a pooled line, reserve for OTP and alerts', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  // No pool runs here: each test routes and dispatches by hand, so every slot taken is one the test asked for.
  before(async () => {
    await disableAllLines();
    platform = await startPlatform({ pools: [] });
  });
  after(async () => {
    await platform.stop();
  });

  async function poolOf(tenants: number, lineOptions: { maxPerMinute?: number | null; warmup?: boolean }) {
    poolCounter += 1;
    const pool = `shares-${poolCounter}`;
    await platform.addLine({ pool, ...lineOptions });
    const members: TestTenant[] = [];
    for (let i = 0; i < tenants; i += 1) members.push(await createTenant({ pool, plan: 'scale', limits: unlimited }));
    return members;
  }

  async function sendAndDispatch(tenant: TestTenant, body: object): Promise<string> {
    const id = await send(tenant, body);
    await createSendingHandlers(platform.deps)['route-message']({ tenantId: tenant.id, messageId: id }, fakeJob('route-message', {}));
    const row = await harness().db.owner('dispatches').where({ tenant_id: tenant.id, message_id: id }).first();
    const handlers = createDispatchHandlers(platform.deps);
    return (await runThroughPool('dispatch', handlers, 'dispatch-message', { tenantId: tenant.id, messageId: id, dispatchId: row.id })).result as string;
  }

  /** Per-minute windows are clock minutes: start a test early enough in one. */
  async function startOfAMinute(): Promise<void> {
    if (new Date().getSeconds() > 45) await new Promise((resolve) => setTimeout(resolve, (61 - new Date().getSeconds()) * 1000));
  }

  it('when one tenant spends its per-minute share of a pooled line, then its next send waits while another tenant\'s OTP goes out at once', async () => {
    const [x, y] = await poolOf(2, { maxPerMinute: 10 });
    await startOfAMinute();
    const results: string[] = [];
    for (let i = 0; i < 6; i += 1) results.push(await sendAndDispatch(x, { to: recipient(), body: `alert ${i}` }));
    // Alone on the line, a tenant gets half of it: 5 of the 10 per minute.
    expect(results).to.deep.equal([...Array(5).fill('done: accepted by bridge'), 'deferred: line busy']);
    expect(await sendAndDispatch(y, { to: recipient(), body: 'code 1234', message_type: 'otp' })).to.equal('done: accepted by bridge');
  });

  it('when one tenant spends its warm-up share of a pooled line for the day, then another tenant\'s OTP still goes out the same day', async function () {
    this.timeout(60000);
    const [x, y] = await poolOf(2, { maxPerMinute: null, warmup: true });
    const results: string[] = [];
    for (let i = 0; i < 26; i += 1) results.push(await sendAndDispatch(x, { to: recipient(), body: `promo ${i}`, message_type: 'alert' }));
    // Day 1 of warm-up is 50 sends: alone, X may use half of them.
    expect(results.filter((result) => result === 'done: accepted by bridge')).to.have.length(25);
    expect(results[25]).to.equal('deferred: line busy');
    expect(await sendAndDispatch(y, { to: recipient(), body: 'code 9876', message_type: 'otp' })).to.equal('done: accepted by bridge');
  });

  it('when marketing fills a line\'s minute, then an OTP on the same line still goes out (a tenth of every cap is kept for OTP and alerts)', async () => {
    poolCounter += 1;
    const tenant = await createTenant({ pool: `dedicated-${poolCounter}`, plan: 'scale', limits: unlimited });
    await platform.addLine({ tenantId: tenant.id, maxPerMinute: 10 });
    await startOfAMinute();
    const results: string[] = [];
    for (let i = 0; i < 10; i += 1) results.push(await sendAndDispatch(tenant, { to: recipient(), body: `sale ${i}`, message_type: 'marketing' }));
    expect(results).to.deep.equal([...Array(9).fill('done: accepted by bridge'), 'deferred: line busy']);
    expect(await sendAndDispatch(tenant, { to: recipient(), body: 'code 5555', message_type: 'otp' })).to.equal('done: accepted by bridge');
  });
});
