import crypto from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { type Simulator, type SimulatorOptions, createSimulator } from '../../simulator/server';
import { controlRequestFor, parseArgs, runCli } from '../../simulator/cli';
import {
  type FakePlatform,
  type ReceivedEvent,
  controlRequest,
  hmacHex,
  signedRequest,
  startFakePlatform,
  waitFor,
} from './helpers';

const LINE_ID = 'line_a';
const LINE_NUMBER = '+15550001000';
const SECRET = crypto.randomBytes(32).toString('hex');
const IMESSAGE_NUMBER = '+15550002002'; // even last digit
const RCS_ONLY_NUMBER = '+15550002003'; // odd, not 9
const SMS_ONLY_NUMBER = '+15550002009'; // ends in 9

function sendBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dispatch_id: `dsp_${crypto.randomBytes(6).toString('hex')}`,
    message_id: `msg_${crypto.randomBytes(6).toString('hex')}`,
    line_id: LINE_ID,
    from: LINE_NUMBER,
    to: IMESSAGE_NUMBER,
    body: 'hello there',
    channel: 'imessage',
    ...overrides,
  };
}

describe('device simulator', () => {
  let platform: FakePlatform;
  let simulator: Simulator;
  const running: Simulator[] = [];
  let simUrl: string;
  let lineUrl: string;
  const secrets = new Map<string, string>();

  async function startSimulator(extra: SimulatorOptions = {}): Promise<void> {
    simulator = createSimulator({
      port: 0,
      platformUrl: platform.url,
      logger: pino({ level: 'silent' }),
      latencyMs: { sent: 5, delivered: 10 },
      retryInitialMs: 20,
      retryMaxMs: 100,
      stopTimeoutMs: 500,
      ...extra,
    });
    running.push(simulator);
    simUrl = (await simulator.start()).url;
    lineUrl = `${simUrl}/lines/${LINE_ID}`;
  }

  function eventsFor(dispatchId: string): ReceivedEvent[] {
    return platform.acceptedEvents(LINE_ID).filter((event) => event.dispatch_id === dispatchId);
  }

  beforeEach(async () => {
    secrets.clear();
    secrets.set(LINE_ID, SECRET);
    platform = await startFakePlatform(secrets);
  });

  afterEach(async () => {
    for (const instance of running.splice(0)) await instance.stop();
    await platform.stop();
  });

  describe('registration and heartbeats', () => {
    it('when a line is registered, then a signed heartbeat reaches the platform right away', async () => {
      await startSimulator();
      const { status } = await controlRequest(simUrl, 'POST', '/control/lines', {
        line_id: LINE_ID,
        phone_number: LINE_NUMBER,
        secret: SECRET,
      });
      expect(status).to.equal(200);

      const heartbeat = await waitFor(() => platform.acceptedEvents(LINE_ID).find((event) => event.type === 'heartbeat'), 5000, 'heartbeat');
      expect(heartbeat.id).to.match(/^evt_/);
      expect(Number.isNaN(Date.parse(heartbeat.occurred_at))).to.equal(false);
      const post = platform.posts.find((candidate) => candidate.events.includes(heartbeat));
      expect(post?.signatureValid).to.equal(true);
      expect(post?.headers['x-senderz-line']).to.equal(LINE_ID);
    });

    it('when lines are given in the options, then each one sends a heartbeat on start', async () => {
      secrets.set('line_b', SECRET);
      await startSimulator({
        lines: [
          { line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET },
          { line_id: 'line_b', phone_number: '+15550001002', secret: SECRET },
        ],
      });
      await waitFor(() => platform.acceptedEvents(LINE_ID).some((event) => event.type === 'heartbeat'), 5000, 'line a heartbeat');
      await waitFor(() => platform.acceptedEvents('line_b').some((event) => event.type === 'heartbeat'), 5000, 'line b heartbeat');
    });

    it('when the heartbeat interval passes, then another heartbeat is sent', async () => {
      await startSimulator({ heartbeatIntervalMs: 50 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      await waitFor(() => platform.acceptedEvents(LINE_ID).filter((event) => event.type === 'heartbeat').length >= 3, 5000, '3 heartbeats');
    });

    it('when a line is offline, then it sends no heartbeat and answers sends with 503, and heartbeats resume when it is back', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET, offline: true });
      const send = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody() });
      expect(send.status).to.equal(503);
      expect(() => simulator.heartbeat(LINE_ID)).to.throw(/offline/);

      const patch = await controlRequest(simUrl, 'PATCH', `/control/lines/${LINE_ID}`, { offline: false });
      expect(patch.status).to.equal(200);
      await controlRequest(simUrl, 'POST', '/control/heartbeat', { line_id: LINE_ID });
      await waitFor(() => platform.acceptedEvents(LINE_ID).some((event) => event.type === 'heartbeat'), 5000, 'heartbeat after coming back');
    });
  });

  describe('POST /v1/send', () => {
    beforeEach(async () => {
      await startSimulator();
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
    });

    it('when a signed send arrives, then it answers 202 and reports sent then delivered, signed with the line headers', async () => {
      const body = sendBody();
      const response = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      expect(response.status).to.equal(202);
      expect(response.body).to.deep.equal({ accepted: true });

      const reports = await waitFor(() => {
        const found = eventsFor(body.dispatch_id as string);
        return found.length >= 2 ? found : null;
      }, 5000, 'sent and delivered');
      expect(reports.map((event) => event.type)).to.deep.equal(['sent', 'delivered']);
      for (const event of reports) {
        expect(event.id).to.match(/^evt_/);
        expect(new Date(event.occurred_at).toISOString()).to.equal(event.occurred_at);
        const post = platform.posts.find((candidate) => candidate.events.some((posted) => posted.id === event.id));
        expect(post, 'post carrying the event').to.not.equal(undefined);
        expect(post?.path).to.equal('/device/v1/events');
        expect(post?.headers['content-type']).to.match(/^application\/json/);
        expect(post?.headers['x-senderz-line']).to.equal(LINE_ID);
        expect(post?.signatureValid).to.equal(true);
        const timestamp = post?.headers['x-senderz-timestamp'] as string;
        expect(post?.headers['x-senderz-signature']).to.equal(`sha256=${hmacHex(SECRET, timestamp, post?.rawBody ?? '')}`);
      }
      expect(new Set(reports.map((event) => event.id)).size).to.equal(2);

      const [record] = simulator.sends();
      expect(record).to.include({
        dispatch_id: body.dispatch_id,
        message_id: body.message_id,
        line_id: LINE_ID,
        from: LINE_NUMBER,
        to: IMESSAGE_NUMBER,
        body: 'hello there',
        channel: 'imessage',
        attempts: 1,
      });
      expect(Number.isNaN(Date.parse(record.received_at))).to.equal(false);
    });

    it('when the read latency is set, then read follows delivered', async () => {
      simulator.configure({ latencyMs: { read: 5 } });
      const body = sendBody();
      await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      const reports = await waitFor(() => {
        const found = eventsFor(body.dispatch_id as string);
        return found.length >= 3 ? found : null;
      }, 5000, 'read report');
      expect(reports.map((event) => event.type)).to.deep.equal(['sent', 'delivered', 'read']);
    });

    it('when the signature is wrong or missing, then it answers 401 and sends nothing', async () => {
      const body = sendBody();
      const forged = await signedRequest(`${lineUrl}/v1/send`, 'not-the-secret', { body });
      expect(forged.status).to.equal(401);
      const garbage = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body, signature: 'sha256=abc' });
      expect(garbage.status).to.equal(401);
      const response = await fetch(`${lineUrl}/v1/send`, { method: 'POST', body: JSON.stringify(body) });
      expect(response.status).to.equal(401);
      expect(simulator.sends()).to.have.length(0);
      expect(simulator.pushCount()).to.equal(0);
    });

    it('when the timestamp is more than 300 s off, then it answers 401', async () => {
      const now = Math.floor(Date.now() / 1000);
      const stale = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody(), timestamp: now - 301 });
      expect(stale.status).to.equal(401);
      const future = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody(), timestamp: now + 400 });
      expect(future.status).to.equal(401);
      const withinSkew = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody(), timestamp: now - 200 });
      expect(withinSkew.status).to.equal(202);
    });

    it('when the same dispatch_id is pushed twice, then both answers are 202 but only one set of reports is sent', async () => {
      const body = sendBody();
      const first = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      const second = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      expect(first.status).to.equal(202);
      expect(second.status).to.equal(202);
      expect(second.body).to.deep.equal({ accepted: true });

      await waitFor(() => eventsFor(body.dispatch_id as string).length >= 2, 5000, 'reports');
      await simulator.whenIdle();
      expect(eventsFor(body.dispatch_id as string).map((event) => event.type)).to.deep.equal(['sent', 'delivered']);

      const listed = await controlRequest(simUrl, 'GET', '/control/sends');
      expect(listed.status).to.equal(200);
      const sends = listed.body.sends as Array<Record<string, unknown>>;
      expect(sends).to.have.length(1);
      expect(sends[0].attempts).to.equal(2);
      expect(listed.body.pushes).to.equal(2);
      // The cheap lookups agree with the full list.
      expect(simulator.sendCount()).to.equal(1);
      expect(simulator.firstSendOf(body.message_id as string)).to.deep.equal(simulator.sends()[0]);
      expect(simulator.firstSendOf('msg_unknown')).to.equal(null);
    });

    it('when imessage goes to a number without iMessage, then it answers 422 not_imessage; rcs to a non-RCS number gives not_rcs', async () => {
      const imessage = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ to: RCS_ONLY_NUMBER }) });
      expect(imessage.status).to.equal(422);
      expect(imessage.body).to.deep.equal({ error: 'not_imessage' });

      const rcs = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ to: SMS_ONLY_NUMBER, channel: 'rcs' }) });
      expect(rcs.status).to.equal(422);
      expect(rcs.body).to.deep.equal({ error: 'not_rcs' });
      expect(simulator.sends()).to.have.length(0);

      const rcsOk = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ to: RCS_ONLY_NUMBER, channel: 'rcs' }) });
      expect(rcsOk.status).to.equal(202);
      const sms = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ to: SMS_ONLY_NUMBER, channel: 'sms' }) });
      expect(sms.status).to.equal(202);
    });

    it('when the iMessage rule is configured as a list, then only listed numbers get iMessage', async () => {
      await controlRequest(simUrl, 'POST', '/control/config', { imessageRule: [RCS_ONLY_NUMBER] });
      const listed = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ to: RCS_ONLY_NUMBER }) });
      expect(listed.status).to.equal(202);
      const unlisted = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ to: IMESSAGE_NUMBER }) });
      expect(unlisted.status).to.equal(422);
    });

    it('when the body is malformed or names another line, then it answers 400', async () => {
      const notJson = await fetch(`${lineUrl}/v1/send`, {
        method: 'POST',
        headers: (() => {
          const timestamp = String(Math.floor(Date.now() / 1000));
          return { 'X-Senderz-Timestamp': timestamp, 'X-Senderz-Signature': `sha256=${hmacHex(SECRET, timestamp, '{oops')}` };
        })(),
        body: '{oops',
      });
      expect(notJson.status).to.equal(400);
      const missingTo = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ to: undefined }) });
      expect(missingTo.status).to.equal(400);
      expect(missingTo.body.field).to.equal('to');
      const badChannel = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ channel: 'fax' }) });
      expect(badChannel.status).to.equal(400);
      const wrongLine = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ line_id: 'line_other' }) });
      expect(wrongLine.status).to.equal(400);
      const wrongFrom = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody({ from: '+15550009990' }) });
      expect(wrongFrom.status).to.equal(400);
      expect(simulator.sends()).to.have.length(0);
    });

    it('when a failure is injected for a recipient, then the send is accepted and reported failed with that reason', async () => {
      const failing = '+15550000002';
      const configured = await controlRequest(simUrl, 'POST', '/control/config', { outcomes: { [failing]: { fail: 'carrier_error' } } });
      expect(configured.status).to.equal(200);
      const body = sendBody({ to: failing });
      const response = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      expect(response.status).to.equal(202);

      const failed = await waitFor(() => eventsFor(body.dispatch_id as string).find((event) => event.type === 'failed'), 5000, 'failed');
      expect(failed.reason).to.equal('carrier_error');
      await simulator.whenIdle();
      expect(eventsFor(body.dispatch_id as string).map((event) => event.type)).to.deep.equal(['failed']);
    });

    it('when a failure is injected for one channel only, then an iMessage push is accepted and reported failed while an SMS push to the same number is delivered', async () => {
      const failing = '+15550000012';
      const configured = await controlRequest(simUrl, 'POST', '/control/config', { outcomes: { [failing]: { fail: 'not_imessage', failOn: 'imessage' } } });
      expect(configured.status).to.equal(200);
      const rejected = await controlRequest(simUrl, 'POST', '/control/config', { outcomes: { [failing]: { fail: 'not_imessage', failOn: 'fax' } } });
      expect(rejected.status).to.equal(400);
      const imessage = sendBody({ to: failing, channel: 'imessage' });
      const sms = sendBody({ to: failing, channel: 'sms' });
      expect((await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: imessage })).status).to.equal(202);
      expect((await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sms })).status).to.equal(202);
      await waitFor(() => eventsFor(sms.dispatch_id as string).some((event) => event.type === 'delivered'), 5000, 'SMS delivered');
      await simulator.whenIdle();
      const failed = eventsFor(imessage.dispatch_id as string);
      expect(failed.map((event) => `${event.type}:${event.reason ?? ''}`)).to.deep.equal(['failed:not_imessage']);
      expect(eventsFor(sms.dispatch_id as string).map((event) => event.type)).to.include.members(['sent', 'delivered']);
    });

    it('when the status queue holds 500, then the first push gets 500 without sending and the retry is accepted', async () => {
      simulator.configure({ httpStatusQueue: [500] });
      const body = sendBody();
      const first = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      expect(first.status).to.equal(500);
      expect(simulator.sends()).to.have.length(0);
      const second = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      expect(second.status).to.equal(202);

      await waitFor(() => eventsFor(body.dispatch_id as string).length >= 2, 5000, 'reports');
      await simulator.whenIdle();
      expect(eventsFor(body.dispatch_id as string)).to.have.length(2);
      expect(simulator.sends()[0].attempts).to.equal(2);
    });

    it('when a dropped connection is injected, then the push gets no answer and the next one is accepted', async () => {
      simulator.configure({ dropConnectionNext: true });
      const body = sendBody();
      let failedToAnswer = false;
      try {
        await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      } catch {
        failedToAnswer = true;
      }
      expect(failedToAnswer).to.equal(true);
      const retry = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      expect(retry.status).to.equal(202);
      expect(simulator.sends()).to.have.length(1);
    });

    it('when a hang is injected, then the answer is held for that long', async () => {
      simulator.configure({ hangMs: 200 });
      const startedAt = Date.now();
      const response = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody() });
      expect(response.status).to.equal(202);
      expect(Date.now() - startedAt).to.be.at.least(190);
    });

    it('when the simulator stops during a hang, then stop returns promptly and nothing is sent', async () => {
      simulator.configure({ hangMs: 10_000 });
      const pending = signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody() }).catch(() => null);
      await waitFor(() => simulator.pushCount() === 1, 5000, 'push to arrive');
      const startedAt = Date.now();
      await simulator.stop();
      expect(Date.now() - startedAt).to.be.below(1000);
      expect(await pending).to.equal(null);
      expect(simulator.sends()).to.have.length(0);
    });

    it('when the line is addressed by its phone number or the bare /v1 path, then the send is accepted', async () => {
      const byNumber = await signedRequest(`${simUrl}/lines/${encodeURIComponent(LINE_NUMBER)}/v1/send`, SECRET, { body: sendBody() });
      expect(byNumber.status).to.equal(202);
      const bare = await signedRequest(`${simUrl}/v1/send`, SECRET, { body: sendBody() });
      expect(bare.status).to.equal(202);
    });

    it('when the line is unknown, then it answers 404', async () => {
      const response = await signedRequest(`${simUrl}/lines/line_nope/v1/send`, SECRET, { body: sendBody() });
      expect(response.status).to.equal(404);
    });
  });

  describe('capabilities and health', () => {
    beforeEach(async () => {
      await startSimulator();
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
    });

    it('when capabilities are asked, then each number gets imessage, sms and rcs flags by the rules', async () => {
      const response = await signedRequest(`${lineUrl}/v1/capabilities`, SECRET, {
        body: { numbers: [IMESSAGE_NUMBER, RCS_ONLY_NUMBER, SMS_ONLY_NUMBER] },
      });
      expect(response.status).to.equal(200);
      expect(response.body).to.deep.equal({
        results: [
          { number: IMESSAGE_NUMBER, imessage: true, sms: true, rcs: false },
          { number: RCS_ONLY_NUMBER, imessage: false, sms: true, rcs: true },
          { number: SMS_ONLY_NUMBER, imessage: false, sms: true, rcs: false },
        ],
      });
    });

    it('when more than 100 numbers are asked, then it answers 400', async () => {
      const numbers = Array.from({ length: 101 }, (_, index) => `+1555100${String(index).padStart(4, '0')}`);
      const response = await signedRequest(`${lineUrl}/v1/capabilities`, SECRET, { body: { numbers } });
      expect(response.status).to.equal(400);
    });

    it('when health is asked with a signed GET, then it answers ok with the line id', async () => {
      const response = await signedRequest(`${lineUrl}/v1/health`, SECRET);
      expect(response.status).to.equal(200);
      expect(response.body).to.include({ ok: true, line_id: LINE_ID });
      const unsigned = await fetch(`${lineUrl}/v1/health`);
      expect(unsigned.status).to.equal(401);
    });

    it('when two lines are registered, then the bare /v1 path is refused because it names no line', async () => {
      simulator.registerLine({ line_id: 'line_b', phone_number: '+15550001002', secret: SECRET });
      const response = await signedRequest(`${simUrl}/v1/health`, SECRET);
      expect(response.status).to.equal(404);
    });
  });

  describe('reporting to the platform', () => {
    it('when the platform answers 503 at first, then the events are retried until accepted', async () => {
      platform.answerNext.push(503, 503);
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const body = sendBody();
      const response = await signedRequest(`${lineUrl}/v1/send`, SECRET, { body });
      expect(response.status).to.equal(202);

      const reports = await waitFor(() => {
        const found = eventsFor(body.dispatch_id as string);
        return found.length >= 2 ? found : null;
      }, 5000, 'reports after retries');
      expect(reports.map((event) => event.type)).to.deep.equal(['sent', 'delivered']);
      expect(platform.posts.filter((post) => post.status === 503)).to.have.length(2);
    });

    it('when the platform is down for a while, then nothing is lost once it is back', async () => {
      platform.answerNext.push(502, 429, 500, 503);
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const bodies = [sendBody(), sendBody(), sendBody()];
      for (const body of bodies) {
        expect((await signedRequest(`${lineUrl}/v1/send`, SECRET, { body })).status).to.equal(202);
      }
      await simulator.whenIdle();
      for (const body of bodies) {
        expect(eventsFor(body.dispatch_id as string).map((event) => event.type)).to.deep.equal(['sent', 'delivered']);
      }
    });

    it('when the platform answers 400, then the batch is dropped and not retried', async () => {
      platform.answerNext.push(400);
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      simulator.inbound({ line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'first' });
      await simulator.whenIdle();
      expect(platform.posts).to.have.length(1);
      simulator.inbound({ line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'second' });
      await waitFor(() => platform.acceptedEvents(LINE_ID).length === 1, 5000, 'second inbound');
      expect(platform.posts).to.have.length(2);
    });

    it('when several events are ready at once, then they go out in one post', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      for (const text of ['one', 'two', 'three']) simulator.inbound({ line_id: LINE_ID, from: IMESSAGE_NUMBER, body: text });
      await simulator.whenIdle();
      expect(platform.posts).to.have.length(1);
      expect(platform.posts[0].events.map((event) => event.body)).to.deep.equal(['one', 'two', 'three']);
    });

    it('when a flush window is set, then events that become ready within it go out in one post, and without it each goes alone', async () => {
      await startSimulator({ heartbeatIntervalMs: 0, eventFlushMs: 150 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      simulator.inbound({ line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'one' });
      await new Promise((resolve) => setTimeout(resolve, 40));
      simulator.inbound({ line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'two' });
      await simulator.whenIdle();
      expect(platform.posts).to.have.length(1);
      expect(platform.posts[0].events.map((event) => event.body)).to.deep.equal(['one', 'two']);

      await simulator.stop();
      platform.posts.length = 0;
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      simulator.inbound({ line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'three' });
      await new Promise((resolve) => setTimeout(resolve, 40));
      simulator.inbound({ line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'four' });
      await simulator.whenIdle();
      expect(platform.posts.map((post) => post.events.map((event) => event.body))).to.deep.equal([['three'], ['four']]);
    });

    it('when an inbound message is injected, then a received event reaches the platform with to = the line number', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const response = await controlRequest(simUrl, 'POST', '/control/inbound', { line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'STOP' });
      expect(response.status).to.equal(200);
      const eventId = response.body.event_id as string;

      const received = await waitFor(() => platform.acceptedEvents(LINE_ID).find((event) => event.id === eventId), 5000, 'received');
      expect(received).to.include({ type: 'received', from: IMESSAGE_NUMBER, to: LINE_NUMBER, body: 'STOP', channel: 'imessage' });
      expect(platform.posts[0].signatureValid).to.equal(true);
    });

    it('when an inbound message with media is injected, then the received event carries them as media', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const response = await controlRequest(simUrl, 'POST', '/control/inbound', {
        line_id: LINE_ID,
        from: IMESSAGE_NUMBER,
        media: ['https://cdn.example.com/a.jpg', { url: 'https://cdn.example.com/b.png', content_type: 'image/png', size: 1200, filename: 'b.png' }],
      });
      expect(response.status, JSON.stringify(response.body)).to.equal(200);
      const received = await waitFor(() => platform.acceptedEvents(LINE_ID).find((event) => event.id === response.body.event_id), 5000, 'received');
      expect(received).to.include({ type: 'received', body: '' });
      expect(received.media).to.deep.equal([{ url: 'https://cdn.example.com/a.jpg' }, { url: 'https://cdn.example.com/b.png', content_type: 'image/png', size: 1200, filename: 'b.png' }]);

      for (const media of [['ftp://cdn.example.com/a.jpg'], 'https://cdn.example.com/a.jpg', Array.from({ length: 11 }, (_, i) => `https://cdn.example.com/${i}.jpg`)]) {
        const refused = await controlRequest(simUrl, 'POST', '/control/inbound', { line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'x', media });
        expect(refused.status, JSON.stringify(media)).to.equal(400);
      }
      expect((await controlRequest(simUrl, 'POST', '/control/inbound', { line_id: LINE_ID, from: IMESSAGE_NUMBER, body: '' })).status).to.equal(400);
    });

    it('when raw events are injected, then they are posted as given with an id and time filled in', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const response = await controlRequest(simUrl, 'POST', '/control/events', {
        line_id: LINE_ID,
        events: [{ type: 'delivered', dispatch_id: 'dsp_of_another_line' }],
      });
      expect(response.status).to.equal(200);
      const posted = await waitFor(() => platform.acceptedEvents(LINE_ID)[0], 5000, 'raw event');
      expect(posted).to.include({ type: 'delivered', dispatch_id: 'dsp_of_another_line', id: (response.body.event_ids as string[])[0] });
    });
  });

  describe('control endpoints', () => {
    it('when a control token is set, then control requests without it are refused', async () => {
      await startSimulator({ controlToken: 'let-me-in' });
      expect((await controlRequest(simUrl, 'GET', '/control/lines')).status).to.equal(401);
      expect((await controlRequest(simUrl, 'GET', '/control/lines', undefined, 'wrong')).status).to.equal(401);
      const allowed = await controlRequest(simUrl, 'GET', '/control/lines', undefined, 'let-me-in');
      expect(allowed.status).to.equal(200);
      expect(allowed.body).to.deep.equal({ lines: [] });
    });

    it('when a control token is set, then a change without it is refused with 401 and changes nothing, and with the Bearer token it is made', async () => {
      await startSimulator({ controlToken: 'let-me-in', heartbeatIntervalMs: 0 });
      const line = { line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET };
      const refused = await controlRequest(simUrl, 'POST', '/control/lines', line);
      expect(refused.status).to.equal(401);
      expect(refused.body.error).to.equal('unauthorized');
      expect((await controlRequest(simUrl, 'POST', '/control/config', { httpStatusQueue: [503] }, 'wrong')).status).to.equal(401);
      expect(simulator.listLines()).to.deep.equal([]);
      expect(simulator.getConfig().httpStatusQueue).to.deep.equal([]);

      expect((await controlRequest(simUrl, 'POST', '/control/lines', line, 'let-me-in')).status).to.equal(200);
      expect(simulator.listLines().map((listed) => listed.line_id)).to.deep.equal([LINE_ID]);
      const inbound = await controlRequest(simUrl, 'POST', '/control/inbound', { line_id: LINE_ID, from: IMESSAGE_NUMBER, body: 'hi' });
      expect(inbound.status).to.equal(401);
      expect(simulator.listLines()[0].pending_events).to.equal(0);
      expect(platform.posts).to.have.length(0);
    });

    it('when a control token is set, then the older X-Simulator-Token header is accepted too', async () => {
      await startSimulator({ controlToken: 'let-me-in' });
      const answer = await fetch(`${simUrl}/control/lines`, { headers: { 'X-Simulator-Token': 'let-me-in' } });
      expect(answer.status).to.equal(200);
    });

    it('when a control token is set, then the CLI passes it from SIMULATOR_CONTROL_TOKEN', async () => {
      await startSimulator({ controlToken: 'let-me-in', heartbeatIntervalMs: 0 });
      expect((await runCli(['lines', '--url', simUrl], {})).status).to.equal(401);
      const listed = await runCli(['lines', '--url', simUrl], { SIMULATOR_CONTROL_TOKEN: 'let-me-in' });
      expect(listed).to.deep.equal({ status: 200, body: { lines: [] } });
    });

    it('when lines are listed and deleted, then the list follows and the secret is never shown', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      await controlRequest(simUrl, 'POST', '/control/lines', { line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const listed = await controlRequest(simUrl, 'GET', '/control/lines');
      expect(JSON.stringify(listed.body)).to.not.include(SECRET);
      expect((listed.body.lines as Array<Record<string, unknown>>)[0]).to.include({ line_id: LINE_ID, phone_number: LINE_NUMBER, offline: false });
      expect((await controlRequest(simUrl, 'DELETE', `/control/lines/${LINE_ID}`)).status).to.equal(200);
      expect((await controlRequest(simUrl, 'DELETE', `/control/lines/${LINE_ID}`)).status).to.equal(404);
      expect((await controlRequest(simUrl, 'GET', '/control/lines')).body).to.deep.equal({ lines: [] });
    });

    it('when the config has a typo, then it is refused with 400', async () => {
      await startSimulator();
      const response = await controlRequest(simUrl, 'POST', '/control/config', { httpStatusQeue: [500] });
      expect(response.status).to.equal(400);
      expect(response.body.message).to.match(/httpStatusQeue/);
    });

    it('when reset, then sends and config are cleared', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      simulator.configure({ httpStatusQueue: [503, 503] });
      await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody() });
      expect((await controlRequest(simUrl, 'POST', '/control/reset')).status).to.equal(200);
      expect(simulator.getConfig().httpStatusQueue).to.deep.equal([]);
      expect(simulator.pushCount()).to.equal(0);
      expect((await signedRequest(`${lineUrl}/v1/send`, SECRET, { body: sendBody() })).status).to.equal(202);
    });

    it('when the CLI sends an inbound message, then the platform receives it', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const result = await runCli(['inbound', '--line', LINE_ID, '--from', IMESSAGE_NUMBER, '--body', 'hi from cli', '--url', simUrl], {});
      expect(result.status).to.equal(200);
      await waitFor(() => platform.acceptedEvents(LINE_ID).find((event) => event.body === 'hi from cli'), 5000, 'cli inbound');
    });

    it('when the CLI sends an inbound message with --media and no --body, then the platform receives the attachments', async () => {
      await startSimulator({ heartbeatIntervalMs: 0 });
      simulator.registerLine({ line_id: LINE_ID, phone_number: LINE_NUMBER, secret: SECRET });
      const result = await runCli(['inbound', '--line', LINE_ID, '--from', IMESSAGE_NUMBER, '--media', 'https://cdn.example.com/a.jpg https://cdn.example.com/b.pdf', '--url', simUrl], {});
      expect(result.status).to.equal(200);
      const received = await waitFor(() => platform.acceptedEvents(LINE_ID).find((event) => Array.isArray(event.media)), 5000, 'cli inbound with media');
      expect(received.media).to.deep.equal([{ url: 'https://cdn.example.com/a.jpg' }, { url: 'https://cdn.example.com/b.pdf' }]);
      expect(received.body).to.equal('');
    });
  });

  describe('cli argument parsing', () => {
    it('when flags are given with spaces or =, then both forms are read', () => {
      const parsed = parseArgs(['inbound', '--line', 'l1', '--from=+15551234567', '--body', 'hello world']);
      expect(parsed).to.deep.equal({
        command: 'inbound',
        flags: { line: 'l1', from: '+15551234567', body: 'hello world' },
        positional: [],
      });
      expect(controlRequestFor(parsed)).to.deep.equal({
        method: 'POST',
        path: '/control/inbound',
        body: { line_id: 'l1', from: '+15551234567', body: 'hello world' },
      });
    });

    it('when a required flag is missing, then it explains the usage', () => {
      expect(() => controlRequestFor(parseArgs(['inbound', '--line', 'l1']))).to.throw(/--from is required/);
    });
  });
});
