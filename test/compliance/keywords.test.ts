import { expect } from 'chai';
import type { Worker } from 'bullmq';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startPlatform, RunningPlatform, TestLine, workerDeps } from '../helpers/platform';
import { runThroughPool } from '../helpers/jobs';
import { classifyKeyword, helpReply, startReply, stopReply } from '../../workers/sending/keywords';
import { createSendingHandlers } from '../../workers/sending';
import { relayOutbox } from '../../workers/maintenance/relay';
import { startPool } from '../../workers/pools';
import { closeWorkers } from '../../workers/runtime';
import { jobId } from '../../shared/queues';
import { subscribe } from '../helpers/subscriptions';
import { fictionalNumber, messageRow, routeAt, send, dropLeftoverWork, trackTenant } from './helpers';

describe('keywords (STOP / START / HELP)', () => {
  after(dropLeftoverWork);

  describe('what counts as a keyword', () => {
    const cases: [string, string | null][] = [
      ['STOP', 'stop'],
      ['stop', 'stop'],
      ['  Stop  ', 'stop'],
      ['Stop.', 'stop'],
      ['STOP!!', 'stop'],
      ['unsubscribe?', 'stop'],
      ['StopAll', 'stop'],
      ['cancel', 'stop'],
      ['End', 'stop'],
      ['quit', 'stop'],
      ['START', 'start'],
      ['unstop', 'start'],
      ['Yes', 'start'],
      ['yes!', 'start'],
      ['HELP', 'help'],
      ['info', 'help'],
      ['Aide', 'help'],
      ['yes please', null],
      ['Yes, see you at 5', null],
      ['stop by tomorrow', null],
      ['please stop', null],
      ['STOP ALL', null],
      ['"STOP"', null],
      ['help me', null],
      ['', null],
    ];
    for (const [body, kind] of cases) {
      it(`when the whole message is ${JSON.stringify(body)}, then it is ${kind ?? 'no keyword'}`, () => {
        expect(classifyKeyword(body)?.kind ?? null).to.equal(kind);
      });
    }

    it('when HELP is answered, then the persona\'s help_response is used verbatim, else the template with business name and handoff number (or their fallbacks)', () => {
      expect(helpReply({ business_name: 'Acme', help_response: 'Call 555 0100, 9-5.', voice_handoff_number: '+15550100' }, 'Tenant')).to.equal('Call 555 0100, 9-5.');
      expect(helpReply({ business_name: 'Acme', help_response: null, voice_handoff_number: '+15555550100' }, 'Tenant')).to.equal(
        'Acme: For support, contact +15555550100. Reply STOP to unsubscribe.',
      );
      expect(helpReply({ business_name: null, help_response: null, voice_handoff_number: null }, 'Tenant Co')).to.equal(
        'Tenant Co: For support, contact us by replying to this message. Reply STOP to unsubscribe.',
      );
      expect(helpReply(undefined, 'Tenant Co')).to.equal('Tenant Co: For support, contact us by replying to this message. Reply STOP to unsubscribe.');
    });
  });

  describe('through the device protocol', function () {
    this.timeout(30000);
    let platform: RunningPlatform;
    let extraWorkers: Worker[] = [];
    before(async () => {
      platform = await startPlatform({ pools: [] });
    });
    afterEach(async () => {
      await closeWorkers(extraWorkers, 5000);
      extraWorkers = [];
    });
    after(async () => {
      await platform.stop();
    });

    const handlers = () => createSendingHandlers(workerDeps());

    async function tenantWithDedicatedLine(): Promise<{ tenant: TestTenant; line: TestLine }> {
      const tenant = await createTenant();
      trackTenant(tenant.id);
      const line = await platform.addLine({ tenantId: tenant.id, mode: 'dedicated' });
      return { tenant, line };
    }

    /** Delivers an inbound message through the simulator and waits until the gateway recorded it. */
    async function inbound(tenant: TestTenant, line: TestLine, from: string, body: string): Promise<string> {
      const before = await harness().db.owner('messages').where({ tenant_id: tenant.id, direction: 'inbound', from_number: from }).count({ n: '*' }).first();
      platform.simulator.inbound({ line_id: line.id, from, body });
      const row = await eventually(async () => {
        const rows = await harness().db.owner('messages').where({ tenant_id: tenant.id, direction: 'inbound', from_number: from }).orderBy('id', 'desc');
        return rows.length > Number(before?.n ?? 0) ? rows[0] : null;
      }, 5000, 'inbound message recorded');
      return row.id as string;
    }

    async function processInbound(tenant: TestTenant, messageId: string) {
      return runThroughPool('sending', handlers(), 'process-inbound', { tenantId: tenant.id, messageId });
    }

    async function optOut(tenantId: string, phone: string) {
      return harness().db.owner('opt_outs').where({ tenant_id: tenantId, phone_number: phone }).first();
    }

    async function events(tenantId: string, type: string) {
      return harness().db.owner('webhook_events').where({ tenant_id: tenantId, type });
    }

    async function replies(tenantId: string, to: string) {
      return harness().db.owner('messages').where({ tenant_id: tenantId, direction: 'outbound', to_number: to, system_reply: true }).orderBy('id');
    }

    it('when STOP arrives, then the number is opted out for this tenant, opt_out.created is recorded, message.received still fires and a confirmation goes back through the same line', async () => {
      const { tenant, line } = await tenantWithDedicatedLine();
      await subscribe(tenant.id, ['message.received']);
      const from = fictionalNumber();
      const id = await inbound(tenant, line, from, 'Stop.');
      const received = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', job_name: 'message-event', ref_id: `${id}_1` });
      expect(received, 'message.received webhook job').to.have.length(1);

      expect((await processInbound(tenant, id)).result).to.equal('done: keyword stop');
      expect(await optOut(tenant.id, from)).to.include({ active: true, source: 'keyword', keyword: 'STOP', opted_back_in_at: null });
      const created = await events(tenant.id, 'opt_out.created');
      expect(created).to.have.length(1);
      expect(created[0].payload).to.include({ event: 'opt_out.created', phone_number: from, source: 'keyword' });

      const [reply] = await replies(tenant.id, from);
      expect(reply).to.include({ body: stopReply(tenant.name), pinned_from: line.phoneNumber, status: 'queued', system_reply: true });
      // The confirmation skips the opt-out check and leaves from the line the STOP came in on.
      expect(await routeAt(tenant.id, reply.id, new Date())).to.equal(`done: dispatching on ${line.id}`);
      expect((await messageRow(tenant.id, reply.id)).from_number).to.equal(line.phoneNumber);

      const res = await api().post('/v1/messages').set(tenant.auth).send({ to: from, body: 'after stop' });
      expect(res.status).to.equal(403);
      expect(res.body.code).to.equal('OPTED_OUT');
    });

    it('when START arrives after STOP, then the number is opted back in (opted_back_in_at), opt_out.removed is recorded and confirmed; a second STOP is confirmed without a second event', async () => {
      const { tenant, line } = await tenantWithDedicatedLine();
      const from = fictionalNumber();
      await processInbound(tenant, await inbound(tenant, line, from, 'STOP'));
      await processInbound(tenant, await inbound(tenant, line, from, 'stop'));
      expect(await events(tenant.id, 'opt_out.created'), 'one created event for two STOPs').to.have.length(1);
      expect(await replies(tenant.id, from), 'each STOP confirmed').to.have.length(2);

      expect((await processInbound(tenant, await inbound(tenant, line, from, 'start'))).result).to.equal('done: keyword start');
      const row = await optOut(tenant.id, from);
      expect(row.active).to.equal(false);
      expect(row.opted_back_in_at).to.be.instanceOf(Date);
      expect(await events(tenant.id, 'opt_out.removed')).to.have.length(1);
      const all = await replies(tenant.id, from);
      expect(all[all.length - 1].body).to.equal(startReply(tenant.name));
      expect((await api().post('/v1/messages').set(tenant.auth).send({ to: from, body: 'welcome back' })).status).to.equal(202);
    });

    it('when "yes please" or "stop by tomorrow" arrive, then nothing changes and nothing is replied, but message.received fires', async () => {
      const { tenant, line } = await tenantWithDedicatedLine();
      await subscribe(tenant.id, ['message.received']);
      const from = fictionalNumber();
      await processInbound(tenant, await inbound(tenant, line, from, 'STOP'));
      const before = await optOut(tenant.id, from);
      const repliesBefore = (await replies(tenant.id, from)).length;
      for (const body of ['yes please', 'Yes, see you at 5', 'stop by tomorrow']) {
        const id = await inbound(tenant, line, from, body);
        expect((await processInbound(tenant, id)).result, body).to.equal('done: no keyword');
        expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', ref_id: `${id}_1` }), body).to.have.length(1);
      }
      expect(await optOut(tenant.id, from)).to.deep.equal(before);
      expect(await replies(tenant.id, from)).to.have.length(repliesBefore);
      expect(await events(tenant.id, 'opt_out.removed')).to.have.length(0);

      // A START keyword from a number that never opted out changes nothing either.
      const other = fictionalNumber();
      await processInbound(tenant, await inbound(tenant, line, other, 'YES'));
      expect(await optOut(tenant.id, other)).to.equal(undefined);
      expect(await replies(tenant.id, other)).to.have.length(0);
    });

    it('when HELP arrives, then the persona\'s help_response is sent verbatim, or the default with business name and handoff number', async () => {
      const { tenant, line } = await tenantWithDedicatedLine();
      const from = fictionalNumber();
      await processInbound(tenant, await inbound(tenant, line, from, 'help'));
      expect((await replies(tenant.id, from))[0].body).to.equal(`${tenant.name}: For support, contact us by replying to this message. Reply STOP to unsubscribe.`);

      await harness().db.owner('ai_personas').insert({ tenant_id: tenant.id, business_name: 'Acme Dental', voice_handoff_number: '+15555550199' });
      await processInbound(tenant, await inbound(tenant, line, from, 'INFO'));
      expect((await replies(tenant.id, from))[1].body).to.equal('Acme Dental: For support, contact +15555550199. Reply STOP to unsubscribe.');

      await harness().db.owner('ai_personas').where({ tenant_id: tenant.id }).update({ help_response: 'Acme Dental help: call us 8am-6pm, reply STOP to opt out.' });
      await processInbound(tenant, await inbound(tenant, line, from, 'Aide'));
      expect((await replies(tenant.id, from))[2].body).to.equal('Acme Dental help: call us 8am-6pm, reply STOP to opt out.');
      expect(await optOut(tenant.id, from)).to.equal(undefined);
    });

    it('when the same inbound job runs twice, then one opt-out event and one confirmation result', async () => {
      const { tenant, line } = await tenantWithDedicatedLine();
      const from = fictionalNumber();
      const id = await inbound(tenant, line, from, 'QUIT');
      await processInbound(tenant, id);
      expect((await processInbound(tenant, id)).result).to.equal('skipped: already handled');
      expect(await events(tenant.id, 'opt_out.created')).to.have.length(1);
      expect(await replies(tenant.id, from)).to.have.length(1);
    });

    it('when tenant B\'s inbound message id is put in a job for tenant A, then the job fails terminally and nothing changes', async () => {
      const a = await tenantWithDedicatedLine();
      const b = await tenantWithDedicatedLine();
      const from = fictionalNumber();
      const bMessage = await inbound(b.tenant, b.line, from, 'STOP');
      const outcome = await processInbound(a.tenant, bMessage);
      expect(outcome.terminal).to.equal(true);
      expect(await optOut(a.tenant.id, from)).to.equal(undefined);
      expect(await optOut(b.tenant.id, from)).to.equal(undefined);
    });

    it('when the process dies right after a STOP\'s 202 (no sending pool ran), then the inbound row and its outbox job are durable and the opt-out is applied once a pool runs', async () => {
      const { tenant, line } = await tenantWithDedicatedLine();
      const from = fictionalNumber();
      const id = await inbound(tenant, line, from, 'STOP');
      const outbox = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'sending', job_name: 'process-inbound', ref_id: id });
      expect(outbox, 'durable process-inbound job').to.have.length(1);
      expect(await optOut(tenant.id, from), 'nothing applied yet').to.equal(undefined);

      // The queued job is lost with the process (e.g. Redis restarted too): only PostgreSQL remembers.
      const queue = harness().queues.get('sending');
      await queue.remove(jobId('process-inbound', id));
      await harness().db.owner('outbox').where({ id: outbox[0].id }).update({ available_at: new Date(Date.now() - 60000) });
      await relayOutbox(workerDeps());
      expect(await queue.getJobState(jobId('process-inbound', id))).to.be.oneOf(['waiting', 'prioritized']);

      extraWorkers.push(startPool('sending', workerDeps(), harness().workerRedis));
      const applied = await eventually(async () => (await optOut(tenant.id, from))?.active === true, 10000, 'opt-out applied');
      expect(applied).to.equal(true);
      await eventually(async () => (await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'sending', job_name: 'process-inbound', ref_id: id })).length === 0, 5000, 'outbox row consumed');
      expect(await events(tenant.id, 'opt_out.created')).to.have.length(1);
    });

    it('when STOP arrives while many messages to that number are still queued, then routing blocks every remaining one (blocked, opted_out, message.blocked)', async () => {
      const { tenant, line } = await tenantWithDedicatedLine();
      await subscribe(tenant.id, ['message.blocked']);
      const to = fictionalNumber();
      const ids: string[] = [];
      for (let i = 0; i < 25; i += 1) ids.push(await send(tenant, to, { body: `campaign part ${i}` }));
      expect(ids).to.have.length(25);

      const stop = await inbound(tenant, line, to, 'STOP');
      await processInbound(tenant, stop);

      // Routing runs now: the real sending pool picks up the queued route jobs.
      extraWorkers.push(startPool('sending', workerDeps(), harness().workerRedis));
      await eventually(
        async () => (await harness().db.owner('messages').where({ tenant_id: tenant.id }).whereIn('id', ids).where({ status: 'blocked' })).length === ids.length,
        15000,
        'all queued messages blocked',
      );
      const rows = await harness().db.owner('messages').where({ tenant_id: tenant.id }).whereIn('id', ids);
      expect(rows.every((row) => row.reason === 'opted_out')).to.equal(true);
      const announced = await harness().db.owner('outbox').where({ tenant_id: tenant.id, queue: 'webhooks', job_name: 'message-event' }).whereIn('ref_id', ids.map((id) => `${id}_2`));
      expect(announced, 'message.blocked for each').to.have.length(ids.length);
      expect(platform.simulator.sends().filter((sent) => sent.to === to && ids.includes(sent.message_id))).to.have.length(0);
      // The STOP confirmation itself still went out (it skips the opt-out check).
      const [reply] = await replies(tenant.id, to);
      await eventually(async () => (await messageRow(tenant.id, reply.id)).status === 'sending', 10000, 'confirmation routed');
    });
  });
});
