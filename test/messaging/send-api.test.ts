import { expect } from 'chai';
import { api, adminHeaders, appStatementsDuring, createTenant, harness, TestTenant } from '../helpers/harness';
import { withTenant } from '../../shared/db/tenant';
import { recordOptOut } from '../../shared/data/opt-outs';
import { newId } from '../../shared/ids';
import { acceptOutboundRow } from '../../shared/data/messages';
import crypto from 'node:crypto';
import { subscribe } from '../helpers/subscriptions';

let poolCounter = 0;

/** A tenant in a pool of its own with one (offline) line, so sends are accepted. */
async function tenantWithLine(): Promise<TestTenant & { lineNumber: string }> {
  poolCounter += 1;
  const pool = `send-${process.pid}-${poolCounter}`;
  const tenant = await createTenant({ pool });
  const lineNumber = `+1555800${String(1000 + poolCounter)}`;
  const res = await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({ phone_number: lineNumber, bridge_url: 'http://127.0.0.1:9/nowhere', secret: crypto.randomBytes(32).toString('hex'), capabilities: { imessage: true, sms: true, rcs: false }, mode: 'pooled', pool });
  expect(res.status).to.equal(201);
  return { ...tenant, lineNumber };
}

async function rowCount(tenantId: string, table = 'messages'): Promise<number> {
  return Number((await harness().db.owner(table).where({ tenant_id: tenantId }).count({ n: '*' }))[0].n);
}

describe('POST /v1/messages', () => {
  it('when a valid message is sent, then 202 with the documented fields and GET answers at once with status queued', async () => {
    const a = await tenantWithLine();
    const res = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', body: 'hello' });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data).to.have.all.keys('message_id', 'status', 'from', 'channel', 'estimated_delivery_ms', 'client_reference', 'send_at');
    expect(res.body.data.status).to.equal('queued');
    expect(res.body.data).to.include({ client_reference: null, send_at: null });
    expect(res.body.data.channel).to.equal('auto');
    expect(res.body.data.message_id).to.match(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const got = await api().get(`/v1/messages/${res.body.data.message_id}`).set(a.auth);
    expect(got.status).to.equal(200);
    expect(got.body.data).to.include({ id: res.body.data.message_id, direction: 'outbound', to: '+15551234568', body: 'hello', message_type: 'alert', sandbox: false });
    for (const field of ['from', 'channel', 'status', 'reason', 'campaign_id', 'created_at', 'updated_at', 'sent_at', 'delivered_at', 'read_at']) {
      expect(got.body.data).to.have.property(field);
    }
    const events = await api().get(`/v1/messages/${res.body.data.message_id}/events`).set(a.auth);
    expect(events.body.data).to.have.length(1);
    expect(events.body.data[0]).to.include({ sequence: 1, status: 'queued' });
  });

  it('when the message and its intent are accepted, then the outbox holds the routing work in the same commit', async () => {
    const a = await tenantWithLine();
    const res = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', body: 'durable' });
    const outbox = await harness().db.owner('outbox').where({ tenant_id: a.id, queue: 'sending', job_name: 'route-message', ref_id: res.body.data.message_id });
    expect(outbox).to.have.length(1);
    expect(outbox[0].payload).to.deep.equal({ tenantId: a.id, messageId: res.body.data.message_id });
  });

  const invalid: [string, object, string][] = [
    ['a number that is not E.164', { to: '5551234567', body: 'x' }, 'to'],
    ['a number with letters', { to: '+1555CALLNOW', body: 'x' }, 'to'],
    ['a body over 1600 characters', { to: '+15551234568', body: 'x'.repeat(1601) }, 'body'],
    ['an empty body', { to: '+15551234568', body: '' }, 'body'],
    ['both body and template', { to: '+15551234568', body: 'x', template: 't' }, 'template'],
    ['neither body nor template', { to: '+15551234568' }, 'body'],
    ['an unknown channel', { to: '+15551234568', body: 'x', channel: 'fax' }, 'channel'],
    ['a server-owned field (status)', { to: '+15551234568', body: 'x', status: 'delivered' }, 'status'],
    ['a server-owned field (tenant_id)', { to: '+15551234568', body: 'x', tenant_id: newId() }, 'tenant_id'],
    ['a bad from_number', { to: '+15551234568', body: 'x', from_number: '12' }, 'from_number'],
  ];
  for (const [what, body, field] of invalid) {
    it(`when the body has ${what}, then 400 VALIDATION_ERROR naming ${field} and nothing is stored`, async () => {
      const a = await tenantWithLine();
      const res = await api().post('/v1/messages').set(a.auth).send(body);
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(res.body.details.map((detail: { path: string }) => detail.path)).to.include(field);
      expect(await rowCount(a.id)).to.equal(0);
    });
  }

  it('when the template does not exist, then 400 INVALID_TEMPLATE', async () => {
    const a = await tenantWithLine();
    const res = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', template: 'nope' });
    expect(res.status).to.equal(400);
    expect(res.body.code).to.equal('INVALID_TEMPLATE');
  });

  it('when a template variable is missing, then 400 MISSING_TEMPLATE_VAR naming it; with it, the body is rendered', async () => {
    const a = await tenantWithLine();
    await withTenant(harness().db.app, a.id, (t) => t.insert('templates', { id: newId(), name: 'otp', type: 'otp', channel: 'both', body: 'Your code is {{code}}, {{name}}', variables: ['code', 'name'] }));
    const missing = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', template: 'otp', data: { code: '1234' } });
    expect(missing.status).to.equal(400);
    expect(missing.body.code).to.equal('MISSING_TEMPLATE_VAR');
    expect(missing.body.error).to.contain('name');
    const ok = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', template: 'otp', data: { code: '1234', name: 'Ana' } });
    expect(ok.status).to.equal(202);
    const got = await api().get(`/v1/messages/${ok.body.data.message_id}`).set(a.auth);
    expect(got.body.data.body).to.equal('Your code is 1234, Ana');
    expect(got.body.data.message_type).to.equal('otp');
  });

  it('when another tenant has a template of that name, then it is not found for this tenant', async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    await withTenant(harness().db.app, b.id, (t) => t.insert('templates', { id: newId(), name: 'b-only', type: 'alert', channel: 'both', body: 'B says hi', variables: [] }));
    const res = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', template: 'b-only' });
    expect(res.status).to.equal(400);
    expect(res.body.code).to.equal('INVALID_TEMPLATE');
  });

  it('when the recipient opted out, then 403 OPTED_OUT and the attempt is recorded as a blocked message', async () => {
    const a = await tenantWithLine();
    await withTenant(harness().db.app, a.id, (t) => recordOptOut(t, '+15551230000', 'manual', null));
    const res = await api().post('/v1/messages').set(a.auth).send({ to: '+15551230000', body: 'hi' });
    expect(res.status).to.equal(403);
    expect(res.body.code).to.equal('OPTED_OUT');
    const rows = await harness().db.owner('messages').where({ tenant_id: a.id });
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ status: 'blocked', reason: 'opted_out' });
    expect(await harness().db.owner('outbox').where({ tenant_id: a.id, queue: 'sending' })).to.have.length(0);
  });

  it('when tenant B opted a number out, then tenant A may still message it', async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    await withTenant(harness().db.app, b.id, (t) => recordOptOut(t, '+15551230002', 'manual', null));
    const res = await api().post('/v1/messages').set(a.auth).send({ to: '+15551230002', body: 'hi' });
    expect(res.status).to.equal(202);
  });

  it('when the tenant has no usable line at all, then 503 NO_PHONE_AVAILABLE and nothing is stored', async () => {
    const lonely = await createTenant({ pool: `empty-${process.pid}` });
    const res = await api().post('/v1/messages').set(lonely.auth).send({ to: '+15551234568', body: 'hi' });
    expect(res.status).to.equal(503);
    expect(res.body.code).to.equal('NO_PHONE_AVAILABLE');
    expect(await rowCount(lonely.id)).to.equal(0);
  });

  it('when from_number is a line of another pool or tenant, then 400 naming from_number', async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    const res = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', body: 'hi', from_number: b.lineNumber });
    expect(res.status).to.equal(400);
    expect(res.body.details[0].path).to.equal('from_number');
    const own = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', body: 'hi', from_number: a.lineNumber });
    expect(own.status).to.equal(202);
    expect(own.body.data.from).to.equal(a.lineNumber);
  });

  it('when the same Idempotency-Key is sent twice, then one message exists and the same id is returned', async () => {
    const a = await tenantWithLine();
    const first = await api().post('/v1/messages').set(a.auth).set('Idempotency-Key', 'once').send({ to: '+15551234568', body: 'hi' });
    const second = await api().post('/v1/messages').set(a.auth).set('Idempotency-Key', 'once').send({ to: '+15551234568', body: 'hi' });
    expect(second.status).to.equal(202);
    expect(second.body.data.message_id).to.equal(first.body.data.message_id);
    // The replay is the first answer, whole: every field, dates as the same ISO strings.
    expect(second.body).to.deep.equal(first.body);
    expect(second.headers['content-type']).to.equal(first.headers['content-type']);
    expect(second.headers['idempotent-replayed']).to.equal('true');
    expect(await rowCount(a.id)).to.equal(1);
  });
});

describe('POST /v1/messages: concurrent requests share their accept statement', () => {
  it('when two tenants send at the same moment, then their accepts go to PostgreSQL together and each message is its own tenant\'s, visible only through its own key', async () => {
    const a = await tenantWithLine();
    const b = await tenantWithLine();
    const { result: answers, statements: sent } = await appStatementsDuring(() =>
      Promise.all(
        Array.from({ length: 20 }, async (_, index) => {
          const tenant = index % 2 === 0 ? a : b;
          const res = await api().post('/v1/messages').set(tenant.auth).send({ to: `+1555712${String(1000 + index)}`, body: `hello ${index}` });
          return { status: res.status, body: res.body as { data: { message_id: string; status: string } }, tenant };
        }),
      ),
    );
    const statements = sent.filter((sql) => sql.includes('senderz_accept_outbound'));
    expect(answers.map((answer) => answer.status)).to.deep.equal(Array(20).fill(202));
    expect(statements.length, 'accept statements for 20 requests').to.be.within(1, 19);
    for (const answer of answers) {
      const row = await harness().db.owner('messages').where({ id: answer.body.data.message_id }).first();
      expect(row.tenant_id).to.equal(answer.tenant.id);
      expect(row.status).to.equal('queued');
      const other = answer.tenant === a ? b : a;
      expect((await api().get(`/v1/messages/${answer.body.data.message_id}`).set(answer.tenant.auth)).status).to.equal(200);
      expect((await api().get(`/v1/messages/${answer.body.data.message_id}`).set(other.auth)).status).to.equal(404);
    }
    expect(await rowCount(a.id)).to.equal(10);
    expect(await rowCount(b.id)).to.equal(10);
    expect(await rowCount(a.id, 'outbox')).to.be.at.least(10);
  });

  it('when one accept of a shared statement fails, then only its caller gets the error and the others are stored once', async () => {
    const a = await tenantWithLine();
    const input = (id: string) => ({
      tenantId: a.id, linePool: '', checkLines: false, checkOptOut: true, id, to: '+15557130000', body: 'x', requestedChannel: 'auto', messageType: 'alert',
      pinnedFrom: null, campaignId: null, templateId: null, sandbox: false, dispatchWebhook: true, systemReply: false, jobName: 'route-message', priority: 1,
      blockedReason: null, statusCallback: null, clientReference: null, sendAt: null,
    });
    const first = newId();
    const second = newId();
    // The same id twice in one statement: the second breaks the batch, which is then retried item by item.
    const outcomes = await Promise.allSettled([acceptOutboundRow(harness().db.app, input(first)), acceptOutboundRow(harness().db.app, input(first)), acceptOutboundRow(harness().db.app, input(second))]);
    expect(outcomes.map((outcome) => outcome.status).sort()).to.deep.equal(['fulfilled', 'fulfilled', 'rejected']);
    expect(await harness().db.owner('messages').where({ tenant_id: a.id }).whereIn('id', [first, second]).pluck('id').then((ids: string[]) => ids.sort())).to.deep.equal([first, second].sort());
    expect(await rowCount(a.id, 'message_events')).to.equal(2);
  });

  it('when a body holds a NUL character, then that request is 400 VALIDATION_ERROR and stores nothing, and a request sharing its statement is accepted', async () => {
    const a = await tenantWithLine();
    const [bad, good] = await Promise.all([
      api().post('/v1/messages').set(a.auth).send({ to: '+15557140000', body: 'a\u0000b' }),
      api().post('/v1/messages').set(a.auth).send({ to: '+15557140001', body: 'fine' }),
    ]);
    expect(bad.status, JSON.stringify(bad.body)).to.equal(400);
    expect(bad.body.code).to.equal('VALIDATION_ERROR');
    expect(good.status, JSON.stringify(good.body)).to.equal(202);
    expect(await harness().db.owner('messages').where({ tenant_id: a.id }).pluck('to_number')).to.deep.equal(['+15557140001']);
  });
});

describe('GET /v1/messages', () => {
  it('when filtering by status, direction, to and time, then only matching messages come back, newest first, paginated', async () => {
    const a = await tenantWithLine();
    const ids: string[] = [];
    for (const to of ['+15551230010', '+15551230012', '+15551230010']) {
      ids.push((await api().post('/v1/messages').set(a.auth).send({ to, body: 'x' })).body.data.message_id);
    }
    const byTo = await api().get('/v1/messages?to=%2B15551230010').set(a.auth);
    expect(byTo.body.data.map((m: { id: string }) => m.id)).to.deep.equal([ids[2], ids[0]]);
    const page1 = await api().get('/v1/messages?limit=2').set(a.auth);
    expect(page1.body.data).to.have.length(2);
    const page2 = await api().get(`/v1/messages?limit=2&cursor=${page1.body.next_cursor}`).set(a.auth);
    expect(page2.body.data.map((m: { id: string }) => m.id)).to.deep.equal([ids[0]]);
    expect(page2.body.next_cursor).to.equal(null);
    expect((await api().get('/v1/messages?status=delivered').set(a.auth)).body.data).to.have.length(0);
    expect((await api().get('/v1/messages?status=queued&direction=outbound').set(a.auth)).body.data).to.have.length(3);
    const future = new Date(Date.now() + 60000).toISOString();
    expect((await api().get(`/v1/messages?created_after=${encodeURIComponent(future)}`).set(a.auth)).body.data).to.have.length(0);
    expect((await api().get('/v1/messages?status=bogus').set(a.auth)).status).to.equal(400);
  });

  it('when a live key lists, then sandbox messages are not included (and the reverse)', async () => {
    const a = await tenantWithLine();
    const live = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', body: 'live' });
    const test = await api().post('/v1/messages').set(a.sandboxAuth).send({ to: '+15555550001', body: 'test' });
    const liveList = await api().get('/v1/messages').set(a.auth);
    expect(liveList.body.data.map((m: { id: string }) => m.id)).to.deep.equal([live.body.data.message_id]);
    const testList = await api().get('/v1/messages').set(a.sandboxAuth);
    expect(testList.body.data.map((m: { id: string }) => m.id)).to.deep.equal([test.body.data.message_id]);
    expect((await api().get(`/v1/messages/${test.body.data.message_id}`).set(a.auth)).status).to.equal(404);
  });
});

describe('webhook work on accept', () => {
  it('when the tenant has no endpoint for message.queued, then no webhook job is recorded; with one, exactly one is', async () => {
    const a = await tenantWithLine();
    const quiet = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', body: 'quiet' });
    expect(await harness().db.owner('outbox').where({ tenant_id: a.id, queue: 'webhooks' })).to.have.length(0);
    await subscribe(a.id, ['message.queued']);
    const loud = await api().post('/v1/messages').set(a.auth).send({ to: '+15551234568', body: 'loud' });
    const jobs = await harness().db.owner('outbox').where({ tenant_id: a.id, queue: 'webhooks' });
    expect(jobs.map((job) => job.ref_id)).to.deep.equal([`${loud.body.data.message_id}_1`]);
    expect(jobs[0].payload).to.deep.equal({ tenantId: a.id, messageId: loud.body.data.message_id, sequence: 1 });
    void quiet;
  });
});
