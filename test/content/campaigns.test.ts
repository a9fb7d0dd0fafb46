import { expect } from 'chai';
import { adminHeaders, api, appStatementsDuring, createTenant, harness, TestTenant } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { createSendingHandlers } from '../../workers/sending';
import { FAN_OUT_CHUNK, FAN_OUT_WINDOW } from '../../workers/campaigns/fan-out';
import { nextCheckDelayMs } from '../../workers/campaigns/completion';
import { messagePriority } from '../../shared/messages/priority';
import { withTenant } from '../../shared/db/tenant';
import { getCampaign } from '../../shared/data/campaigns';
import { dropLeftoverWork, routeAt, tenantWithOfflineLine } from '../compliance/helpers';
import {
  createContact,
  createGroup,
  createSandboxCampaign,
  createTemplate,
  fanOutFully,
  leaveNoWorkBehind,
  pendingChunkIds,
  runCampaignJob,
  runJobOf,
  tableSnapshot,
  testPhone,
} from './helpers';

const owner = () => harness().db.owner;

async function campaignOf(tenant: TestTenant, id: string) {
  const res = await api().get(`/v1/campaigns/${id}`).set(tenant.sandboxAuth);
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.data;
}

async function messagesOf(tenantId: string, campaignId: string) {
  return owner()('messages').where({ tenant_id: tenantId, campaign_id: campaignId }).orderBy('to_number');
}

function phones(count: number): string[] {
  return Array.from({ length: count }, () => testPhone());
}

describe('campaigns API: create and validate', () => {
  leaveNoWorkBehind();
  let tenant: TestTenant;
  before(async () => {
    tenant = await createTenant();
  });

  it('when a campaign is created, then 202 returns it queued with its recipient total, and duplicates are collapsed', async () => {
    const contact = await createContact(tenant, { name: 'Ann' });
    const other = testPhone();
    const res = await api()
      .post('/v1/campaigns')
      .set(tenant.sandboxAuth)
      .send({ name: 'Spring sale', body: 'Hi {{name}}', recipients: [contact.id, contact.phone_number, other, other] });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data).to.include({ name: 'Spring sale', status: 'queued', total: 2, fanned_out: 0, message_type: 'marketing', channel: 'auto', sandbox: true });
    expect(res.body.data.counts).to.deep.equal({ total: 2, queued: 0, sent: 0, delivered: 0, failed: 0, blocked: 0 });
    const recipients = await owner()('campaign_recipients').where({ tenant_id: tenant.id, campaign_id: res.body.data.id }).orderBy('position');
    expect(recipients.map((row: { phone_number: string; contact_id: string | null }) => [row.phone_number, row.contact_id])).to.deep.equal([
      [contact.phone_number, contact.id],
      [other, null],
    ]);
    const launch = await owner()('outbox').where({ tenant_id: tenant.id, job_name: 'launch-campaign', ref_id: res.body.data.id });
    expect(launch).to.have.length(1);
    expect(await owner()('messages').where({ tenant_id: tenant.id, campaign_id: res.body.data.id })).to.have.length(0);
  });

  it('when an E.164 recipient is one of the tenant\'s contacts, then it is linked to the contact', async () => {
    const contact = await createContact(tenant);
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: [contact.phone_number] });
    const [row] = await owner()('campaign_recipients').where({ tenant_id: tenant.id, campaign_id: id });
    expect(row.contact_id).to.equal(contact.id);
  });

  it('when the body is malformed, then 400 names the field and nothing is stored', async () => {
    const template = await createTemplate(tenant);
    const before = await tableSnapshot('campaigns', tenant.id);
    const cases: [Record<string, unknown>, string, string?][] = [
      [{ recipients: [testPhone()] }, 'body'],
      [{ body: 'x', template: template.id, recipients: [testPhone()] }, 'template'],
      [{ body: 'x' }, 'recipients'],
      [{ body: 'x', recipients: [testPhone()], group_id: '01HZZZZZZZZZZZZZZZZZZZZZZZ' }, 'group_id'],
      [{ body: 'x', recipients: [] }, 'recipients'],
      [{ body: 'x', recipients: [testPhone(), '5551234'] }, 'recipients.1'],
      [{ body: 'x', recipients: Array.from({ length: 10001 }, (_v, i) => `+1555${String(i).padStart(7, '0')}`) }, 'recipients'],
      [{ body: 'x', recipients: [testPhone()], scheduled_at: 'tomorrow' }, 'scheduled_at'],
      [{ body: 'x', recipients: [testPhone()], scheduled_at: new Date(Date.now() + 400 * 86400000).toISOString() }, 'scheduled_at'],
      [{ body: 'x', recipients: [testPhone()], status: 'completed' }, 'status'],
      [{ body: 'x', recipients: [testPhone()], message_type: 'spam' }, 'message_type'],
    ];
    for (const [body, field] of cases) {
      const res = await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'bad', ...body });
      expect(res.status, JSON.stringify(body).slice(0, 200)).to.equal(400);
      expect(res.body.code).to.equal('VALIDATION_ERROR');
      expect(res.body.details[0].path, JSON.stringify(res.body).slice(0, 300)).to.equal(field);
    }
    expect(await tableSnapshot('campaigns', tenant.id)).to.deep.equal(before);
  });

  it('when the template is unknown or another tenant\'s, then 400 INVALID_TEMPLATE; when the group is empty, then 400', async () => {
    const other = await createTenant();
    const foreign = await createTemplate(other);
    for (const template of ['no such template', foreign.id, foreign.name]) {
      const res = await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'c', template, recipients: [testPhone()] });
      expect(res.status).to.equal(400);
      expect(res.body.code).to.equal('INVALID_TEMPLATE');
    }
    const empty = await createGroup(tenant);
    const res = await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'c', body: 'x', group_id: empty });
    expect(res.status).to.equal(400);
    expect(res.body.details[0].path).to.equal('group_id');
  });

  it('when recipients or group_id name another tenant\'s records, then 400 names the id and no campaign, recipient or message exists', async () => {
    const other = await createTenant();
    const foreignContact = await createContact(other);
    const foreignGroup = await createGroup(other);
    await api().post(`/v1/groups/${foreignGroup}/members`).set(other.auth).send({ contact_ids: [foreignContact.id] });
    const mine = await createContact(tenant);
    const before = await Promise.all(['campaigns', 'campaign_recipients', 'messages'].map((table) => tableSnapshot(table, tenant.id)));
    const otherBefore = await Promise.all(['campaigns', 'messages'].map((table) => tableSnapshot(table, other.id)));

    const byContact = await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'c', body: 'x', recipients: [mine.id, testPhone(), foreignContact.id] });
    expect(byContact.status).to.equal(400);
    expect(byContact.body.error).to.contain(foreignContact.id);
    expect(byContact.body.details).to.deep.equal([{ path: 'recipients.2', message: `names no contact of this account (${foreignContact.id})` }]);
    expect(JSON.stringify(byContact.body)).not.to.contain(foreignContact.phone_number);

    const byGroup = await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'c', body: 'x', group_id: foreignGroup });
    expect(byGroup.status).to.equal(400);
    expect(byGroup.body.error).to.contain(foreignGroup);

    for (const res of [byContact, byGroup]) expect(JSON.stringify(res.body)).not.to.contain(other.id);
    expect(await Promise.all(['campaigns', 'campaign_recipients', 'messages'].map((table) => tableSnapshot(table, tenant.id)))).to.deep.equal(before);
    expect(await Promise.all(['campaigns', 'messages'].map((table) => tableSnapshot(table, other.id)))).to.deep.equal(otherBefore);
  });

  it('when a live key has no phone line, then an immediate campaign is 503 NO_PHONE_AVAILABLE and a scheduled one is accepted', async () => {
    const lonely = await createTenant({ pool: `no-lines-${Date.now()}` });
    const now = await api().post('/v1/campaigns').set(lonely.auth).send({ name: 'c', body: 'x', recipients: [testPhone()] });
    expect(now.status).to.equal(503);
    expect(now.body.code).to.equal('NO_PHONE_AVAILABLE');
    const later = await api()
      .post('/v1/campaigns')
      .set(lonely.auth)
      .send({ name: 'c', body: 'x', recipients: [testPhone()], scheduled_at: new Date(Date.now() + 3600000).toISOString() });
    expect(later.status, JSON.stringify(later.body)).to.equal(202);
    expect(later.body.data.status).to.equal('scheduled');
    expect(later.body.data.sandbox).to.equal(false);
  });

  it('when a campaign names a group, then every member is a recipient, with template channel and data', async () => {
    const group = await createGroup(tenant);
    for (let i = 0; i < 3; i += 1) await createContact(tenant, { group_ids: [group] });
    const template = await createTemplate(tenant, { channel: 'sms', body: 'Promo {{code}}' });
    const res = await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'g', template: template.name, data: { code: 'X1' }, group_id: group });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    expect(res.body.data).to.include({ total: 3, channel: 'sms', template_id: template.id, group_id: group, body: 'Promo {{code}}' });
    expect(res.body.data.data).to.deep.equal({ code: 'X1' });
  });

  it('when campaigns are listed, then each carries counts and ?status= filters', async () => {
    const t = await createTenant();
    const a = await createSandboxCampaign(t, { body: 'x', recipients: [testPhone()] });
    const b = await createSandboxCampaign(t, { body: 'x', recipients: [testPhone()] });
    await api().post(`/v1/campaigns/${a}/pause`).set(t.sandboxAuth);
    const all = await api().get('/v1/campaigns').set(t.sandboxAuth);
    expect(all.body.data.map((campaign: { id: string }) => campaign.id)).to.deep.equal([b, a]);
    expect(all.body.data[0].counts.total).to.equal(1);
    const paused = await api().get('/v1/campaigns?status=paused').set(t.sandboxAuth);
    expect(paused.body.data.map((campaign: { id: string }) => campaign.id)).to.deep.equal([a]);
  });
});

describe('campaign jobs: launch, fan-out, render', () => {
  leaveNoWorkBehind();
  it('when a campaign fans out, then each recipient gets exactly one message rendered from data, contact fields and metadata, at bulk priority', async () => {
    const tenant = await createTenant();
    const ann = await createContact(tenant, { name: 'Ann', email: 'ann@example.com', metadata: { plan: 'gold' } });
    const noName = await createContact(tenant, { metadata: { plan: 'silver' } });
    const stranger = testPhone();
    const id = await createSandboxCampaign(tenant, {
      body: 'Hi {{name}} ({{phone_number}}), {{plan}}/{{metadata.plan}} {{promo}}',
      data: { promo: 'SAVE10', name: 'there' },
      recipients: [ann.id, noName.id, stranger],
      message_type: 'marketing',
    });
    await fanOutFully(tenant.id, id);

    const messages = await messagesOf(tenant.id, id);
    const byPhone = new Map(messages.map((message: { to_number: string }) => [message.to_number, message]));
    expect(messages).to.have.length(3);
    expect(byPhone.get(ann.phone_number)).to.include({ body: `Hi Ann (${ann.phone_number}), gold/gold SAVE10`, status: 'queued', message_type: 'marketing', sandbox: true });
    expect(byPhone.get(noName.phone_number)).to.include({ body: `Hi there (${noName.phone_number}), silver/silver SAVE10`, status: 'queued' });
    // No contact: {{plan}} is missing, so this recipient's message is blocked, not the whole campaign.
    expect(byPhone.get(stranger)).to.include({ status: 'blocked', reason: 'missing_template_var' });

    const recipients = await owner()('campaign_recipients').where({ tenant_id: tenant.id, campaign_id: id });
    expect(recipients.every((row: { message_id: string | null }) => row.message_id !== null)).to.equal(true);
    const jobs = await owner()('outbox').where({ tenant_id: tenant.id, queue: 'sending' }).whereIn('ref_id', messages.map((message: { id: string }) => message.id));
    expect(jobs).to.have.length(2);
    for (const job of jobs) expect(job.priority).to.equal(messagePriority('marketing', true));

    const campaign = await campaignOf(tenant, id);
    expect(campaign).to.include({ status: 'sending', fanned_out: 3, total: 3 });
    expect(campaign.launched_at).to.be.a('string');
    expect(campaign.counts).to.deep.equal({ total: 3, queued: 2, sent: 0, delivered: 0, failed: 0, blocked: 1 });
  });

  it('when a recipient has opted out, then its campaign message is blocked (opted_out) exactly as a single send, and the router does not route it', async () => {
    const pool = `p-content-optout-${Date.now()}`;
    const tenant = await createTenant({ pool });
    // A line the tenant may use (never online here: the router must decide before choosing one).
    const line = await api()
      .post('/admin/phone-lines')
      .set(adminHeaders())
      .send({ phone_number: testPhone(), bridge_url: 'http://127.0.0.1:9/none', secret: 'x'.repeat(40), capabilities: { imessage: true, sms: true, rcs: false }, mode: 'pooled', pool });
    expect(line.status, JSON.stringify(line.body)).to.equal(201);
    const [stop, go] = [testPhone(), testPhone()];
    expect((await api().post('/v1/opt-outs').set(tenant.auth).send({ phone_number: stop })).status).to.equal(201);
    const created = await api().post('/v1/campaigns').set(tenant.auth).send({ name: 'c', body: 'x', recipients: [stop, go], message_type: 'alert' });
    expect(created.status, JSON.stringify(created.body)).to.equal(202);
    await fanOutFully(tenant.id, created.body.data.id);

    const router = createSendingHandlers(workerDeps());
    for (const message of await messagesOf(tenant.id, created.body.data.id)) {
      const outcome = await runJobOf('sending', router, 'route-message', { tenantId: tenant.id, messageId: message.id });
      expect(outcome.error, String(outcome.error)).to.equal(undefined);
    }
    const after = await messagesOf(tenant.id, created.body.data.id);
    expect(after.find((message: { to_number: string }) => message.to_number === stop)).to.include({ status: 'blocked', reason: 'opted_out' });
    expect(after.find((message: { to_number: string }) => message.to_number === go)).to.include({ status: 'queued' });
  });

  it('when a rendered body is longer than 1600 characters, then that recipient\'s message is blocked with body_too_long', async () => {
    const tenant = await createTenant();
    const contact = await createContact(tenant, { metadata: { essay: 'x'.repeat(1000) } });
    const id = await createSandboxCampaign(tenant, { body: '{{essay}}{{essay}}', recipients: [contact.id] });
    await fanOutFully(tenant.id, id);
    const [message] = await messagesOf(tenant.id, id);
    expect(message).to.include({ status: 'blocked', reason: 'body_too_long' });
  });

  it('when the recipients span several chunks, then one chunk job at a time creates them in order, each chunk\'s messages in one statement, and a chunk job run twice creates nothing more', async () => {
    const tenant = await createTenant();
    const list = phones(FAN_OUT_CHUNK + 150);
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: list });
    await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    const [first] = await pendingChunkIds(tenant.id, id);
    const { result: done, statements } = await appStatementsDuring(() => runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: first }));
    expect(done.result).to.equal(`done: created ${FAN_OUT_CHUNK} messages (${FAN_OUT_CHUNK}/${list.length})`);
    // One round trip for the chunk's messages, not one per recipient; the statements after it still ran in the tenant's scope (fanned_out moved).
    expect(statements.filter((sql) => sql.includes('senderz_accept_outbound'))).to.have.length(1);
    expect((await campaignOf(tenant, id)).fanned_out).to.equal(FAN_OUT_CHUNK);

    const replay = await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: first });
    expect(String(replay.result)).to.match(/^skipped: superseded/);
    expect(await messagesOf(tenant.id, id)).to.have.length(FAN_OUT_CHUNK);

    const pending = await pendingChunkIds(tenant.id, id);
    expect(pending).to.have.length(1);
    await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: pending[0] });
    expect(await pendingChunkIds(tenant.id, id)).to.deep.equal([]);
    const messages = await messagesOf(tenant.id, id);
    expect(new Set(messages.map((message: { to_number: string }) => message.to_number))).to.deep.equal(new Set(list));
    expect((await campaignOf(tenant, id)).fanned_out).to.equal(list.length);
  });

  it('when the router has not taken the last window of messages yet, then the next chunk waits instead of creating more', async () => {
    const tenant = await createTenant();
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: phones(FAN_OUT_WINDOW + 100) });
    await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    for (let i = 0; i < FAN_OUT_WINDOW / FAN_OUT_CHUNK; i += 1) {
      const [chunkId] = await pendingChunkIds(tenant.id, id);
      await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId });
    }
    const [chunkId] = await pendingChunkIds(tenant.id, id);
    const waiting = await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId });
    expect(waiting.result).to.equal('deferred: waiting for the router to catch up');
    expect(await messagesOf(tenant.id, id)).to.have.length(FAN_OUT_WINDOW);
    const [row] = await owner()('outbox').where({ tenant_id: tenant.id, ref_id: chunkId });
    expect(new Date(row.available_at).getTime()).to.be.greaterThan(Date.now() - 1000);

    // The router moves some on: the chunk goes ahead.
    await owner()('messages').where({ tenant_id: tenant.id, campaign_id: id }).whereIn('id', owner()('messages').where({ tenant_id: tenant.id, campaign_id: id }).limit(300).select('id')).update({ status: 'sending' });
    const went = await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId });
    expect(went.result).to.equal(`done: created 100 messages (${FAN_OUT_WINDOW + 100}/${FAN_OUT_WINDOW + 100})`);
  });

  it('when a campaign is scheduled, then its launch waits in the outbox until scheduled_at and an early run does nothing', async () => {
    const tenant = await createTenant();
    const at = new Date(Date.now() + 3600000);
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: [testPhone()], scheduled_at: at.toISOString() });
    const campaign = await campaignOf(tenant, id);
    expect(campaign.status).to.equal('scheduled');
    const [row] = await owner()('outbox').where({ tenant_id: tenant.id, job_name: 'launch-campaign', ref_id: id });
    expect(Math.abs(new Date(row.available_at).getTime() - at.getTime())).to.be.below(2000);
    const early = await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    expect(early.result).to.equal('deferred: not due yet');
    expect((await campaignOf(tenant, id)).status).to.equal('scheduled');
    expect(await pendingChunkIds(tenant.id, id)).to.deep.equal([]);
  });
});

describe('campaign jobs: the fan-out and the router side by side', () => {
  leaveNoWorkBehind();
  after(dropLeftoverWork);
  it('when a chunk job holds its campaign, then the router still routes the messages created before it without waiting for the chunk', async () => {
    const { tenant, lineId } = await tenantWithOfflineLine();
    await owner()('phone_lines').where({ id: lineId }).update({ status: 'online', last_heartbeat_at: new Date() });
    const res = await api().post('/v1/campaigns').set(tenant.auth).send({ name: 'side by side', message_type: 'alert', channel: 'sms', body: 'x', recipients: phones(2) });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const id = res.body.data.id as string;
    await fanOutFully(tenant.id, id);
    const [first, second] = await messagesOf(tenant.id, id);

    // What a running chunk job holds until it commits: the campaign row, through the same data layer.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const chunk = withTenant(harness().db.app, tenant.id, async (t) => {
      await getCampaign(t, id, { forUpdate: true });
      locked();
      await held;
    });
    try {
      await isLocked;
      // A new contact under the plan's caps: routing counts it and moves the message on, in one transaction.
      const routed = await Promise.race([
        Promise.all([routeAt(tenant.id, first.id, new Date()), routeAt(tenant.id, second.id, new Date())]),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('routing waited for the chunk job')), 3000)),
      ]);
      expect(routed).to.deep.equal([`done: dispatching on ${lineId}`, `done: dispatching on ${lineId}`]);
      expect((await messagesOf(tenant.id, id)).map((row: { status: string }) => row.status)).to.deep.equal(['sending', 'sending']);
    } finally {
      release();
      await chunk;
    }
  });
});

describe('campaign jobs: pause, resume, cancel', () => {
  leaveNoWorkBehind();
  it('when a sending campaign is paused, then its chunk job stops; when resumed, then one new chunk job continues where it stopped', async () => {
    const tenant = await createTenant();
    const list = phones(FAN_OUT_CHUNK + 10);
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: list });
    await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    const [first] = await pendingChunkIds(tenant.id, id);
    await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: first });

    const paused = await api().post(`/v1/campaigns/${id}/pause`).set(tenant.sandboxAuth);
    expect(paused.status).to.equal(200);
    expect(paused.body.data.status).to.equal('paused');
    expect((await api().post(`/v1/campaigns/${id}/pause`).set(tenant.sandboxAuth)).body.data.status).to.equal('paused');
    const [second] = await pendingChunkIds(tenant.id, id);
    const stopped = await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: second });
    expect(stopped.result).to.equal('skipped: fan-out stopped: campaign is paused');
    expect(await messagesOf(tenant.id, id)).to.have.length(FAN_OUT_CHUNK);
    expect(await pendingChunkIds(tenant.id, id)).to.deep.equal([]);

    const resumed = await api().post(`/v1/campaigns/${id}/resume`).set(tenant.sandboxAuth);
    expect(resumed.body.data.status).to.equal('sending');
    await api().post(`/v1/campaigns/${id}/resume`).set(tenant.sandboxAuth);
    const pending = await pendingChunkIds(tenant.id, id);
    expect(pending).to.have.length(1);
    await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: pending[0] });
    expect(await messagesOf(tenant.id, id)).to.have.length(list.length);
  });

  it('when a campaign is paused and resumed before its chunk job ran, then the old job is superseded and only the new one creates messages', async () => {
    const tenant = await createTenant();
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: phones(5) });
    await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    const [old] = await pendingChunkIds(tenant.id, id);
    await api().post(`/v1/campaigns/${id}/pause`).set(tenant.sandboxAuth);
    await api().post(`/v1/campaigns/${id}/resume`).set(tenant.sandboxAuth);
    const [fresh] = await pendingChunkIds(tenant.id, id);
    expect(fresh).not.to.equal(old);
    expect(String((await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: old })).result)).to.match(/^skipped: superseded/);
    expect(await messagesOf(tenant.id, id)).to.have.length(0);
    await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: fresh });
    expect(await messagesOf(tenant.id, id)).to.have.length(5);
  });

  it('when a campaign is paused before its launch, then launch only marks it due, and resume starts the fan-out', async () => {
    const tenant = await createTenant();
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: phones(2) });
    await api().post(`/v1/campaigns/${id}/pause`).set(tenant.sandboxAuth);
    const launch = await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    expect(launch.result).to.equal('done: due while paused');
    expect(await pendingChunkIds(tenant.id, id)).to.deep.equal([]);
    const resumed = await api().post(`/v1/campaigns/${id}/resume`).set(tenant.sandboxAuth);
    expect(resumed.body.data.status).to.equal('sending');
    const [chunkId] = await pendingChunkIds(tenant.id, id);
    await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId });
    expect(await messagesOf(tenant.id, id)).to.have.length(2);
  });

  it('when a scheduled campaign is paused and resumed before it is due, then it is scheduled again', async () => {
    const tenant = await createTenant();
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: phones(1), scheduled_at: new Date(Date.now() + 3600000).toISOString() });
    await api().post(`/v1/campaigns/${id}/pause`).set(tenant.sandboxAuth);
    const resumed = await api().post(`/v1/campaigns/${id}/resume`).set(tenant.sandboxAuth);
    expect(resumed.body.data.status).to.equal('scheduled');
  });

  it('when a campaign is cancelled, then its queued messages fail with reason cancelled, no more are created, and a later launch does nothing', async () => {
    const tenant = await createTenant();
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: phones(FAN_OUT_CHUNK + 20) });
    await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    const [first] = await pendingChunkIds(tenant.id, id);
    await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId: first });
    // One message already on its way to a line: cancel cannot recall it.
    const [taken] = await messagesOf(tenant.id, id);
    await owner()('messages').where({ tenant_id: tenant.id, id: taken.id }).update({ status: 'sending' });

    const cancelled = await api().post(`/v1/campaigns/${id}/cancel`).set(tenant.sandboxAuth);
    expect(cancelled.status).to.equal(200);
    expect(cancelled.body.data.status).to.equal('cancelled');
    expect(await pendingChunkIds(tenant.id, id)).to.deep.equal([]);
    const outcome = await runCampaignJob('cancel-campaign', { tenantId: tenant.id, campaignId: id });
    expect(outcome.result).to.equal(`done: cancelled ${FAN_OUT_CHUNK - 1} queued messages`);

    const messages = await messagesOf(tenant.id, id);
    expect(messages).to.have.length(FAN_OUT_CHUNK);
    const failed = messages.filter((message: { status: string; reason: string }) => message.status === 'failed' && message.reason === 'cancelled');
    expect(failed).to.have.length(FAN_OUT_CHUNK - 1);
    expect(messages.find((message: { id: string }) => message.id === taken.id).status).to.equal('sending');
    const history = await owner()('message_events').where({ tenant_id: tenant.id, message_id: failed[0].id }).orderBy('sequence');
    expect(history.map((row: { status: string; reason: string | null }) => [row.status, row.reason])).to.deep.equal([
      ['queued', null],
      ['failed', 'cancelled'],
    ]);
    expect(await owner()('outbox').where({ tenant_id: tenant.id, queue: 'sending', ref_id: failed[0].id })).to.have.length(0);
    expect((await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id })).result).to.equal('skipped: not launched: campaign is cancelled');
    expect((await runCampaignJob('check-completion', { tenantId: tenant.id, campaignId: id })).result).to.equal('skipped: campaign is cancelled');

    const campaign = await campaignOf(tenant, id);
    expect(campaign.counts).to.deep.equal({ total: FAN_OUT_CHUNK + 20, queued: 1, sent: 0, delivered: 0, failed: FAN_OUT_CHUNK - 1, blocked: 0 });
    expect((await api().post(`/v1/campaigns/${id}/resume`).set(tenant.sandboxAuth)).status).to.equal(409);
    expect((await api().post(`/v1/campaigns/${id}/pause`).set(tenant.sandboxAuth)).status).to.equal(409);
    expect((await api().post(`/v1/campaigns/${id}/cancel`).set(tenant.sandboxAuth)).status).to.equal(200);
  });
});

describe('campaign jobs: completion', () => {
  leaveNoWorkBehind();
  it('when every message is terminal, then campaign.completed is recorded exactly once, even with concurrent and repeated checks', async () => {
    const tenant = await createTenant();
    const list = phones(4);
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: list });
    await fanOutFully(tenant.id, id);
    const messages = await messagesOf(tenant.id, id);

    await owner()('messages').where({ tenant_id: tenant.id, id: messages[0].id }).update({ status: 'read' });
    await owner()('messages').where({ tenant_id: tenant.id, id: messages[1].id }).update({ status: 'failed' });
    await owner()('messages').where({ tenant_id: tenant.id, id: messages[2].id }).update({ status: 'sent' });
    await owner()('messages').where({ tenant_id: tenant.id, id: messages[3].id }).update({ status: 'delivered' });
    const notYet = await runCampaignJob('check-completion', { tenantId: tenant.id, campaignId: id });
    expect(notYet.result).to.equal('deferred: not complete yet');
    expect((await campaignOf(tenant, id)).counts).to.deep.equal({ total: 4, queued: 0, sent: 1, delivered: 2, failed: 1, blocked: 0 });

    await owner()('messages').where({ tenant_id: tenant.id, id: messages[2].id }).update({ status: 'delivered' });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => runCampaignJob('check-completion', { tenantId: tenant.id, campaignId: id })));
    const results = outcomes.map((outcome) => String(outcome.result ?? outcome.error));
    expect(results.filter((result) => result === 'done: completed')).to.have.length(1);
    expect((await runCampaignJob('check-completion', { tenantId: tenant.id, campaignId: id })).result).to.equal('skipped: campaign is completed');

    const events = await owner()('webhook_events').where({ tenant_id: tenant.id, type: 'campaign.completed' });
    expect(events).to.have.length(1);
    expect(events[0].payload).to.include({ event: 'campaign.completed', campaign_id: id, total: 4, status: 'completed' });
    expect(events[0].payload.counts).to.deep.equal({ total: 4, queued: 0, sent: 0, delivered: 3, failed: 1, blocked: 0 });
    expect(events[0].sandbox).to.equal(true);
    const campaign = await campaignOf(tenant, id);
    expect(campaign.status).to.equal('completed');
    expect(campaign.completed_at).to.be.a('string');
    expect((await api().post(`/v1/campaigns/${id}/cancel`).set(tenant.sandboxAuth)).status).to.equal(409);
    expect(await owner()('outbox').where({ tenant_id: tenant.id, job_name: 'check-completion', ref_id: id })).to.have.length(0);
  });

  it('when some recipients have no message yet, then the campaign is not complete even if every message is terminal', async () => {
    const tenant = await createTenant();
    const id = await createSandboxCampaign(tenant, { body: 'x', recipients: phones(FAN_OUT_CHUNK + 1) });
    await runCampaignJob('launch-campaign', { tenantId: tenant.id, campaignId: id });
    const [chunkId] = await pendingChunkIds(tenant.id, id);
    await runCampaignJob('fan-out-chunk', { tenantId: tenant.id, campaignId: id, chunkId });
    await owner()('messages').where({ tenant_id: tenant.id, campaign_id: id }).update({ status: 'delivered' });
    expect((await runCampaignJob('check-completion', { tenantId: tenant.id, campaignId: id })).result).to.equal('deferred: not complete yet');
    expect(await owner()('webhook_events').where({ tenant_id: tenant.id, type: 'campaign.completed' })).to.have.length(0);
  });

  it('when a campaign has run for a while, then completion checks back off, and paused ones are checked rarely', () => {
    const now = Date.now();
    expect(nextCheckDelayMs({ status: 'sending', launched_at: new Date(now - 5000) }, now)).to.equal(1000);
    expect(nextCheckDelayMs({ status: 'sending', launched_at: new Date(now - 300000) }, now)).to.equal(10000);
    expect(nextCheckDelayMs({ status: 'sending', launched_at: new Date(now - 86400000) }, now)).to.equal(30000);
    expect(nextCheckDelayMs({ status: 'paused', launched_at: new Date(now) }, now)).to.equal(30000);
  });
});

describe('campaign jobs: tenant B\'s ids in tenant A\'s jobs', () => {
  leaveNoWorkBehind();
  it('when a launch, chunk, completion or cancel job for tenant A names tenant B\'s campaign, then it fails terminally and nothing is created or changed', async () => {
    const a = await createTenant();
    const b = await createTenant();
    const id = await createSandboxCampaign(b, { body: 'x', recipients: phones(3) });
    const before = await Promise.all(['campaigns', 'campaign_recipients', 'messages', 'outbox', 'webhook_events'].map((table) => tableSnapshot(table, b.id)));
    const beforeA = await Promise.all(['campaigns', 'messages', 'outbox'].map((table) => tableSnapshot(table, a.id)));

    const jobs: [Parameters<typeof runCampaignJob>[0], Record<string, string>][] = [
      ['launch-campaign', { tenantId: a.id, campaignId: id }],
      ['check-completion', { tenantId: a.id, campaignId: id }],
      ['cancel-campaign', { tenantId: a.id, campaignId: id }],
      ['fan-out-chunk', { tenantId: a.id, campaignId: id, chunkId: '01HZZZZZZZZZZZZZZZZZZZZZZZ' }],
    ];
    for (const [name, payload] of jobs) {
      const outcome = await runCampaignJob(name, payload);
      expect(outcome.terminal, `${name}: ${String(outcome.error)}`).to.equal(true);
    }
    // B's real chunk, named in a job for A.
    await runCampaignJob('launch-campaign', { tenantId: b.id, campaignId: id });
    const [chunkId] = await pendingChunkIds(b.id, id);
    const afterLaunch = await Promise.all(['campaign_recipients', 'messages'].map((table) => tableSnapshot(table, b.id)));
    const chunk = await runCampaignJob('fan-out-chunk', { tenantId: a.id, campaignId: id, chunkId });
    expect(chunk.terminal).to.equal(true);
    expect(await Promise.all(['campaign_recipients', 'messages'].map((table) => tableSnapshot(table, b.id)))).to.deep.equal(afterLaunch);
    expect(afterLaunch[1]).to.deep.equal(before[2]);
    expect(await Promise.all(['campaigns', 'messages', 'outbox'].map((table) => tableSnapshot(table, a.id)))).to.deep.equal(beforeA);
    expect((await runCampaignJob('fan-out-chunk', { tenantId: a.id, campaignId: id })).terminal, 'payload without chunkId').to.equal(true);
  });
});
