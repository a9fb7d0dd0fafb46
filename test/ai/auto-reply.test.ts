import { expect } from 'chai';
import { api, createTenant, harness, TestTenant } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { runThroughPool } from '../helpers/jobs';
import { withTenant } from '../../shared/db/tenant';
import { recordOptOut } from '../../shared/data/opt-outs';
import { createSendingHandlers } from '../../workers/sending';
import { createAutoReplyFollowUp } from '../../workers/sending/auto-reply';
import type { PhoneLineRow } from '../../shared/data/phone-lines';
import { addSources, dedicatedLine, inbound, putPersona, randomNumber, SHOP_FAQ } from './helpers';
import { startFakeProvider, FakeProvider } from './fake-provider';

interface Setup {
  tenant: TestTenant;
  line: PhoneLineRow;
}

async function tenantWithAutoReply(persona: object = {}): Promise<Setup> {
  const tenant = await createTenant();
  const line = await dedicatedLine(tenant.id);
  await addSources(tenant, SHOP_FAQ);
  await putPersona(tenant, { business_name: 'Maple & Thread', voice_handoff_number: '+15035550100', auto_reply_enabled: true, ...persona });
  return { tenant, line };
}

/** Outbound messages to a number, oldest first, with whether auto_reply_log names them as an auto-reply. */
async function outboundTo(tenantId: string, phone: string) {
  return harness()
    .db.owner('messages as m')
    .leftJoin('auto_reply_log as a', function () {
      this.on('a.tenant_id', 'm.tenant_id').andOn('a.reply_message_id', 'm.id');
    })
    .where({ 'm.tenant_id': tenantId, 'm.to_number': phone, 'm.direction': 'outbound' })
    .orderBy('m.id')
    .select('m.id', 'm.body', 'm.pinned_from', 'm.message_type', 'm.system_reply', 'm.status', 'a.message_id as answers');
}

async function logOf(tenantId: string, messageId: string) {
  return harness().db.owner('auto_reply_log').where({ tenant_id: tenantId, message_id: messageId }).first();
}

const handlers = () => createSendingHandlers(workerDeps());

async function processInbound(tenantId: string, messageId: string, sending = handlers()) {
  return sending['process-inbound']({ tenantId, messageId }, undefined as never);
}

describe('AI auto-reply on inbound messages', function () {
  this.timeout(20000);

  it('when an inbound question arrives and auto-reply is on, then one alert reply from the same line answers it from the FAQ', async () => {
    const { tenant, line } = await tenantWithAutoReply();
    const from = randomNumber();
    const id = await inbound(tenant.id, line, from, 'How long does shipping take?');
    await processInbound(tenant.id, id);
    const replies = await outboundTo(tenant.id, from);
    expect(replies).to.have.length(1);
    expect(replies[0]).to.include({ body: SHOP_FAQ[2].answer, pinned_from: line.phone_number, message_type: 'alert', system_reply: false, status: 'queued', answers: id });
    expect(await logOf(tenant.id, id)).to.include({ kind: 'auto_reply', status: 'replied', responder: 'offline', reply_message_id: replies[0].id });
    // The reply goes through the router like any send: its routing job is in the outbox.
    expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, job_name: 'route-message', ref_id: replies[0].id })).to.have.length(1);
  });

  it('when the same inbound job runs again, or twice at once, then only one reply is sent', async () => {
    const { tenant, line } = await tenantWithAutoReply();
    const from = randomNumber();
    const first = await inbound(tenant.id, line, from, 'What are your opening hours?');
    await processInbound(tenant.id, first);
    await processInbound(tenant.id, first);
    const second = await inbound(tenant.id, line, from, 'Do you ship internationally?');
    await Promise.all([processInbound(tenant.id, second), processInbound(tenant.id, second), processInbound(tenant.id, second)]);
    const replies = await outboundTo(tenant.id, from);
    expect(replies.map((reply) => reply.answers)).to.deep.equal([first, second]);
  });

  it('when a fourth message from one number arrives within the hour, then it gets no reply (loop guard)', async () => {
    const { tenant, line } = await tenantWithAutoReply();
    const from = randomNumber();
    const ids: string[] = [];
    for (const body of ['hours?', 'returns?', 'shipping?', 'tracking?']) {
      const id = await inbound(tenant.id, line, from, body);
      ids.push(id);
      await processInbound(tenant.id, id);
    }
    const replies = await outboundTo(tenant.id, from);
    expect(replies.map((reply) => reply.answers)).to.deep.equal(ids.slice(0, 3));
    expect(await logOf(tenant.id, ids[3])).to.include({ kind: 'auto_reply', status: 'skipped', reason: 'rate_limited', reply_message_id: null });
    // Another number still gets answers.
    const other = randomNumber();
    await processInbound(tenant.id, await inbound(tenant.id, line, other, 'hours?'));
    expect(await outboundTo(tenant.id, other)).to.have.length(1);
  });

  it('when the sender has opted out, then no auto-reply is sent', async () => {
    const { tenant, line } = await tenantWithAutoReply();
    const from = randomNumber();
    await withTenant(harness().db.app, tenant.id, (t) => recordOptOut(t, from, 'api', null));
    const id = await inbound(tenant.id, line, from, 'What are your opening hours?');
    await processInbound(tenant.id, id);
    expect(await outboundTo(tenant.id, from)).to.have.length(0);
    expect(await logOf(tenant.id, id)).to.include({ status: 'skipped', reason: 'opted_out' });
  });

  it('when STOP arrives, then the keyword confirmation is the only reply (no auto-reply), and later questions get none', async () => {
    const { tenant, line } = await tenantWithAutoReply();
    const from = randomNumber();
    await processInbound(tenant.id, await inbound(tenant.id, line, from, 'STOP'));
    const question = await inbound(tenant.id, line, from, 'What are your opening hours?');
    await processInbound(tenant.id, question);
    const replies = await outboundTo(tenant.id, from);
    expect(replies).to.have.length(1);
    expect(replies[0]).to.include({ system_reply: true, answers: null });
    expect(await logOf(tenant.id, question)).to.include({ reason: 'opted_out' });
  });

  it('when a person on the tenant\'s side messaged the number recently, then auto-reply pauses for it (manual takeover)', async () => {
    const { tenant, line } = await tenantWithAutoReply();
    const from = randomNumber();
    const manual = await api().post('/v1/messages').set(tenant.auth).send({ to: from, body: 'Hi, this is Sam from the shop.' });
    expect(manual.status, JSON.stringify(manual.body)).to.equal(202);
    const id = await inbound(tenant.id, line, from, 'What are your opening hours?');
    await processInbound(tenant.id, id);
    const replies = await outboundTo(tenant.id, from);
    expect(replies.map((reply) => reply.id)).to.deep.equal([manual.body.data.message_id]);
    expect(await logOf(tenant.id, id)).to.include({ status: 'skipped', reason: 'manual_takeover' });
    // Past the pause (here: a follow-up configured with no pause), replies resume.
    const resumed = createSendingHandlers(workerDeps(), { inboundFollowUps: [createAutoReplyFollowUp({ takeoverMinutes: 0 })] });
    const later = await inbound(tenant.id, line, from, 'Do you ship internationally?');
    await processInbound(tenant.id, later, resumed);
    expect((await outboundTo(tenant.id, from)).map((reply) => reply.answers)).to.deep.equal([null, later]);
  });

  it('when auto-reply is off or never configured, then nothing is sent and nothing is claimed', async () => {
    const { tenant, line } = await tenantWithAutoReply({ auto_reply_enabled: false });
    const from = randomNumber();
    const id = await inbound(tenant.id, line, from, 'What are your opening hours?');
    await processInbound(tenant.id, id);
    expect(await outboundTo(tenant.id, from)).to.have.length(0);
    expect(await logOf(tenant.id, id)).to.equal(undefined);
    const bare = await createTenant();
    const bareLine = await dedicatedLine(bare.id);
    await processInbound(bare.id, await inbound(bare.id, bareLine, from, 'hello?'));
    expect(await outboundTo(bare.id, from)).to.have.length(0);
  });

  it('when nothing matches, then the reply is the hand-off line', async () => {
    const { tenant, line } = await tenantWithAutoReply();
    const from = randomNumber();
    await processInbound(tenant.id, await inbound(tenant.id, line, from, 'Do you sell pizza?'));
    const [reply] = await outboundTo(tenant.id, from);
    expect(reply.body).to.contain('Maple & Thread').and.contain('+15035550100');
  });

  it('when a job names tenant B\'s inbound message under tenant A, then it fails terminally and nothing is sent', async () => {
    const a = await tenantWithAutoReply();
    const b = await tenantWithAutoReply();
    const from = randomNumber();
    const bMessage = await inbound(b.tenant.id, b.line, from, 'What are your opening hours?');
    const outcome = await runThroughPool('sending', handlers(), 'process-inbound', { tenantId: a.tenant.id, messageId: bMessage });
    expect(outcome.terminal, String(outcome.error)).to.equal(true);
    expect(await outboundTo(a.tenant.id, from)).to.have.length(0);
    expect(await outboundTo(b.tenant.id, from)).to.have.length(0);
    expect(await harness().db.owner('auto_reply_log').where({ message_id: bMessage })).to.have.length(0);
    // The follow-up itself, called with the foreign pair, refuses the same way.
    let refused: unknown;
    await createAutoReplyFollowUp()(workerDeps(), { tenantId: a.tenant.id, messageId: bMessage }).catch((error: unknown) => (refused = error));
    expect((refused as { code?: string })?.code).to.equal('NOT_FOUND');
  });

  describe('knowledge isolation: tenant B\'s sources never inform tenant A\'s replies', () => {
    const SECRET = 'zebra-platinum-42';
    let provider: FakeProvider;
    before(async () => {
      provider = await startFakeProvider();
    });
    after(async () => {
      await provider.stop();
    });

    async function twoTenants(personaA: object) {
      const a = await tenantWithAutoReply(personaA);
      const b = await tenantWithAutoReply();
      await addSources(b.tenant, [
        { type: 'faq', question: 'What is the staff discount code?', answer: `The staff discount code is ${SECRET}.` },
        { type: 'text', title: 'Staff discount code', content: `Staff discount code: ${SECRET}. Valid at every staff till.` },
      ]);
      return { a, b };
    }

    it('when A asks what only B\'s sources answer (offline responder), then A hands off and B answers', async () => {
      const { a, b } = await twoTenants({});
      const from = randomNumber();
      const question = 'What is the staff discount code?';
      await processInbound(a.tenant.id, await inbound(a.tenant.id, a.line, from, question));
      await processInbound(b.tenant.id, await inbound(b.tenant.id, b.line, from, question));
      const [replyA] = await outboundTo(a.tenant.id, from);
      const [replyB] = await outboundTo(b.tenant.id, from);
      expect(replyA.body).not.to.contain(SECRET);
      expect(replyA.body).to.contain('+15035550100');
      expect(replyB.body).to.contain(SECRET);
      const preview = await api().post('/v1/ai/persona/preview').set(a.tenant.auth).send({ message: question });
      expect(JSON.stringify(preview.body)).not.to.contain(SECRET);
    });

    it('when A uses a provider, then the context it is given holds A\'s sources and none of B\'s', async () => {
      const { a } = await twoTenants({ provider: { base_url: provider.baseUrl, model: 'tiny', api_key: 'sk-tenant-a' } });
      provider.mode = 'echo';
      provider.requests.length = 0;
      const from = randomNumber();
      const id = await inbound(a.tenant.id, a.line, from, 'What is the staff discount code? And how long does shipping take?');
      await processInbound(a.tenant.id, id);
      const [reply] = await outboundTo(a.tenant.id, from);
      expect(reply.body).to.match(/^ECHO /);
      expect(reply.body).to.contain('Standard shipping takes 3-5 business days');
      expect(reply.body).not.to.contain(SECRET);
      expect(JSON.stringify(provider.requests)).not.to.contain(SECRET);
      expect(provider.requests.map((request) => request.authorization)).to.deep.equal(['Bearer sk-tenant-a']);
      expect(await logOf(a.tenant.id, id)).to.include({ responder: 'provider' });
      const preview = await api().post('/v1/ai/persona/preview').set(a.tenant.auth).send({ message: 'staff discount code?' });
      expect(preview.body.data.responder).to.equal('provider');
      expect(JSON.stringify(preview.body)).not.to.contain(SECRET);
    });

    it('when A\'s provider times out, then the offline answer is sent instead, still without B\'s knowledge', async () => {
      const { a } = await twoTenants({ provider: { base_url: provider.baseUrl, model: 'tiny', api_key: 'sk-tenant-a' } });
      provider.mode = 'hang';
      const quick = createSendingHandlers(workerDeps(), { inboundFollowUps: [createAutoReplyFollowUp({ providerTimeoutMs: 300 })] });
      const from = randomNumber();
      const hours = await inbound(a.tenant.id, a.line, from, 'What are your opening hours?');
      await processInbound(a.tenant.id, hours, quick);
      const secret = await inbound(a.tenant.id, a.line, from, 'What is the staff discount code?');
      await processInbound(a.tenant.id, secret, quick);
      const replies = await outboundTo(a.tenant.id, from);
      expect(replies.map((reply) => reply.body)[0]).to.equal(SHOP_FAQ[0].answer);
      expect(replies[1].body).not.to.contain(SECRET);
      expect(await logOf(a.tenant.id, hours)).to.include({ responder: 'offline', status: 'replied' });
    });
  });
});
