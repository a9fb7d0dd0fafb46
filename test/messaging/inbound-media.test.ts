import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { runThroughPool } from '../helpers/jobs';
import { subscribe } from '../helpers/subscriptions';
import { startPlatform, RunningPlatform, workerDeps } from '../helpers/platform';
import { createSendingHandlers } from '../../workers/sending';
import { createWebhookHandlers } from '../../workers/webhooks';
import { createMediaFetcher } from '../../workers/sending/media';
import { addDedicatedLine, postDeviceEvents as postEvents, DeviceLine as Line } from '../helpers/device';

/** A picture and a PDF as a bridge would host them: random bytes, so a mix-up cannot pass. */
const PHOTO = crypto.randomBytes(40 * 1024);
const PDF = crypto.randomBytes(2500);

/** The bridge's attachment host: a real HTTP server on 127.0.0.1. */
async function startBridgeMedia(): Promise<{ url: string; hits: Map<string, number>; stop(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/photo.jpg') {
      res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': String(PHOTO.length) });
      return res.end(PHOTO);
    }
    if (path === '/menu.pdf') {
      res.writeHead(200, { 'Content-Type': 'application/pdf' });
      return res.end(PDF);
    }
    if (path === '/flaky.jpg') {
      res.writeHead(503);
      return res.end();
    }
    if (path === '/huge.mov') {
      // Announced honestly: 6 MiB, above the limit.
      res.writeHead(200, { 'Content-Type': 'video/quicktime', 'Content-Length': String(6 * 1024 * 1024) });
      res.on('error', () => undefined);
      return res.end(Buffer.alloc(6 * 1024 * 1024));
    }
    res.writeHead(404);
    return res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}


function download(tenant: TestTenant, path: string) {
  return api()
    .get(path)
    .set(tenant.auth)
    .buffer(true)
    .parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });
}

describe('inbound media attachments', function () {
  this.timeout(40000);
  let media: Awaited<ReturnType<typeof startBridgeMedia>>;
  let tenant: TestTenant;
  let other: TestTenant;
  let line: Line;
  let eventCounter = 0;

  before(async () => {
    media = await startBridgeMedia();
    tenant = await createTenant();
    other = await createTenant();
    line = await addDedicatedLine(tenant, '+1555770');
  });
  after(async () => {
    await media.stop();
  });

  function received(fields: Record<string, unknown>) {
    eventCounter += 1;
    return { id: `in-media-${eventCounter}-${crypto.randomBytes(4).toString('hex')}`, type: 'received', occurred_at: new Date().toISOString(), to: line.phoneNumber, channel: 'imessage', ...fields };
  }

  async function inboundFrom(from: string) {
    return harness().db.owner('messages').where({ tenant_id: tenant.id, direction: 'inbound', from_number: from }).orderBy('created_at');
  }

  const fetchJob = (tenantId: string, messageId: string) => runThroughPool('sending', createSendingHandlers(workerDeps()), 'fetch-media', { tenantId, messageId });

  it('when a received event carries a picture and a PDF, then the message is recorded at once with pending attachments, the webhook lists them, and after the download the owner gets the bytes and another tenant 404', async () => {
    await subscribe(tenant.id, ['message.received']);
    const from = '+15551230001';
    const res = await postEvents(line, {
      events: [
        received({
          from,
          body: 'look at this',
          media: [
            { url: `${media.url}/photo.jpg`, content_type: 'image/jpeg', size: PHOTO.length, filename: 'IMG_0001.jpg' },
            { url: `${media.url}/menu.pdf`, content_type: 'application/pdf', size: PDF.length },
          ],
        }),
      ],
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    // Nothing was downloaded in the request.
    expect(media.hits.get('/photo.jpg') ?? 0).to.equal(0);
    const [message] = await inboundFrom(from);
    expect(message).to.include({ status: 'received', body: 'look at this' });
    const outbox = await harness().db.owner('outbox').where({ tenant_id: tenant.id, ref_id: message.id });
    expect(outbox.map((row: { job_name: string }) => row.job_name)).to.include.members(['process-inbound', 'fetch-media']);

    const pending = (await api().get(`/v1/messages/${message.id}`).set(tenant.auth)).body.data;
    expect(pending.media.map((item: { status: string; content_type: string; size: number; filename: string | null; url: string | null }) => [item.status, item.content_type, item.size, item.filename, item.url])).to.deep.equal([
      ['pending', 'image/jpeg', PHOTO.length, 'IMG_0001.jpg', null],
      ['pending', 'application/pdf', PDF.length, 'menu.pdf', null],
    ]);

    // The message.received webhook does not wait: it lists the attachments as they are.
    const fanOut = await runThroughPool('webhooks', createWebhookHandlers(workerDeps()), 'message-event', { tenantId: tenant.id, messageId: message.id, sequence: 1 });
    expect(fanOut.error, String(fanOut.error)).to.equal(undefined);
    const event = await harness().db.owner('webhook_events').where({ tenant_id: tenant.id, message_id: message.id }).first();
    expect(event.payload.media).to.deep.equal([
      { id: pending.media[0].id, status: 'pending', content_type: 'image/jpeg', size: PHOTO.length, filename: 'IMG_0001.jpg' },
      { id: pending.media[1].id, status: 'pending', content_type: 'application/pdf', size: PDF.length, filename: 'menu.pdf' },
    ]);
    expect(event.payload.body).to.equal('look at this');

    const run = await fetchJob(tenant.id, message.id);
    expect(String(run.result), String(run.error)).to.match(/^done: inbound: 2 attachment\(s\) stored, 0 failed/);
    expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, job_name: 'fetch-media', ref_id: message.id })).to.have.length(0);

    const shown = (await api().get(`/v1/messages/${message.id}`).set(tenant.auth)).body.data;
    expect(shown.status).to.equal('received');
    expect(shown.media.map((item: { status: string }) => item.status)).to.deep.equal(['stored', 'stored']);
    const photo = await download(tenant, `/v1/messages/${message.id}/media/${shown.media[0].id}`);
    expect(photo.status).to.equal(200);
    expect(photo.headers['content-type']).to.equal('image/jpeg');
    expect(Buffer.compare(photo.body as Buffer, PHOTO)).to.equal(0);
    const pdf = await download(tenant, new URL(shown.media[1].url).pathname);
    expect(Buffer.compare(pdf.body as Buffer, PDF)).to.equal(0);

    // Another tenant's key: the message and its attachment are unknown.
    expect((await api().get(`/v1/messages/${message.id}`).set(other.auth)).status).to.equal(404);
    const foreign = await api().get(`/v1/messages/${message.id}/media/${shown.media[0].id}`).set(other.auth);
    expect(foreign.status).to.equal(404);
  });

  it('when an attachment is too large or its URL is blocked, then that attachment fails with the reason, the others are stored and the message stays received', async () => {
    const from = '+15551230002';
    const res = await postEvents(line, {
      events: [received({ from, body: 'three things', media: [{ url: `${media.url}/huge.mov` }, { url: 'http://169.254.169.254/latest/meta-data/photo.jpg' }, { url: `${media.url}/photo.jpg` }] })],
    });
    expect(res.status).to.equal(202);
    const [message] = await inboundFrom(from);
    const run = await fetchJob(tenant.id, message.id);
    expect(String(run.result), String(run.error)).to.match(/1 attachment\(s\) stored, 2 failed/);
    const shown = (await api().get(`/v1/messages/${message.id}`).set(tenant.auth)).body.data;
    expect(shown.status).to.equal('received');
    expect(shown.media.map((item: { status: string; error: string | null }) => [item.status, item.error])).to.deep.equal([
      ['failed', 'media_too_large'],
      ['failed', 'media_url_blocked'],
      ['stored', null],
    ]);
    const history = await harness().db.owner('message_events').where({ tenant_id: tenant.id, message_id: message.id });
    expect(history.map((row: { status: string }) => row.status)).to.deep.equal(['received']);
  });

  it('when the attachment host answers 503, then the job retries with the attachment still pending, and marks it media_unreachable only on its last attempt', async () => {
    const from = '+15551230008';
    expect((await postEvents(line, { events: [received({ from, body: 'flaky', media: [{ url: `${media.url}/flaky.jpg` }] })] })).status).to.equal(202);
    const [message] = await inboundFrom(from);
    const fetcher = createMediaFetcher(workerDeps());
    const job = (attemptsMade: number) => ({ attemptsMade, opts: { attempts: 8 } }) as unknown as Parameters<typeof fetcher>[1];
    let thrown: unknown;
    await fetcher({ tenantId: tenant.id, messageId: message.id }, job(0)).catch((error: unknown) => (thrown = error));
    expect(thrown).to.be.instanceOf(Error);
    expect((await harness().db.owner('message_media').where({ message_id: message.id }).first()).status).to.equal('pending');
    await fetcher({ tenantId: tenant.id, messageId: message.id }, job(2));
    expect(await harness().db.owner('message_media').where({ message_id: message.id }).first()).to.include({ status: 'failed', error: 'media_unreachable' });
    expect((await harness().db.owner('messages').where({ id: message.id }).first()).status).to.equal('received');
  });

  it('when the same received event arrives twice, then one message exists and its attachments are stored once', async () => {
    const from = '+15551230003';
    const event = received({ from, body: 'again', media: [{ url: `${media.url}/menu.pdf` }] });
    expect((await postEvents(line, { events: [event] })).status).to.equal(202);
    expect((await postEvents(line, { events: [event] })).status).to.equal(202);
    const messages = await inboundFrom(from);
    expect(messages).to.have.length(1);
    const before = media.hits.get('/menu.pdf') ?? 0;
    await fetchJob(tenant.id, messages[0].id);
    await fetchJob(tenant.id, messages[0].id);
    expect(media.hits.get('/menu.pdf')).to.equal(before + 1);
    const rows = await harness().db.owner('message_media').where({ tenant_id: tenant.id, message_id: messages[0].id });
    expect(rows.map((row: { status: string }) => row.status)).to.deep.equal(['stored']);
  });

  it("when the fetch job's payload names another tenant's message, then it is a terminal failure and nothing changes", async () => {
    const from = '+15551230004';
    expect((await postEvents(line, { events: [received({ from, body: '', media: [{ url: `${media.url}/photo.jpg` }] })] })).status).to.equal(202);
    const [message] = await inboundFrom(from);
    const before = media.hits.get('/photo.jpg') ?? 0;
    const run = await runThroughPool('sending', createSendingHandlers(workerDeps()), 'fetch-media', { tenantId: other.id, messageId: message.id }, `fetch-media__${message.id}`);
    expect(run.terminal, String(run.error)).to.equal(true);
    expect(media.hits.get('/photo.jpg') ?? 0).to.equal(before);
    const rows = await harness().db.owner('message_media').where({ message_id: message.id });
    expect(rows.map((row: { status: string; tenant_id: string }) => [row.status, row.tenant_id])).to.deep.equal([['pending', tenant.id]]);
    expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, job_name: 'fetch-media', ref_id: message.id })).to.have.length(1);
  });

  it('when an inbound message has only media and no body, then it is accepted; STOP with a picture still opts the sender out', async () => {
    const from = '+15551230005';
    const res = await postEvents(line, { events: [received({ from, media: [{ url: `${media.url}/photo.jpg` }] })] });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const [message] = await inboundFrom(from);
    expect(message).to.include({ status: 'received', body: '' });
    const processed = await runThroughPool('sending', createSendingHandlers(workerDeps()), 'process-inbound', { tenantId: tenant.id, messageId: message.id });
    expect(String(processed.result)).to.match(/^(done|skipped)/);

    const stopFrom = '+15551230006';
    expect((await postEvents(line, { events: [received({ from: stopFrom, body: 'STOP', media: [{ url: `${media.url}/photo.jpg` }] })] })).status).to.equal(202);
    const [stop] = await inboundFrom(stopFrom);
    const keyword = await runThroughPool('sending', createSendingHandlers(workerDeps()), 'process-inbound', { tenantId: tenant.id, messageId: stop.id });
    expect(String(keyword.result)).to.equal('done: keyword stop');
    expect(await harness().db.owner('opt_outs').where({ tenant_id: tenant.id, phone_number: stopFrom, active: true })).to.have.length(1);
  });

  it('when a received event has bad media, then the batch is refused with 400 and nothing is recorded', async () => {
    const from = '+15551230007';
    const bad: unknown[] = [
      Array.from({ length: 11 }, (_, i) => ({ url: `${media.url}/${i}.jpg` })),
      [{ url: 'ftp://example.com/a.jpg' }],
      [{ url: `${media.url}/photo.jpg`, size: 5 * 1024 * 1024 + 1 }],
      [{ content_type: 'image/jpeg' }],
      [],
    ];
    for (const list of bad) {
      const res = await postEvents(line, { events: [received({ from, body: 'x', media: list })] });
      expect(res.status, JSON.stringify(list).slice(0, 80)).to.equal(400);
    }
    // Neither body nor media.
    expect((await postEvents(line, { events: [received({ from })] })).status).to.equal(400);
    expect(await inboundFrom(from)).to.have.length(0);
  });
});

describe('inbound media attachments, end to end', function () {
  this.timeout(40000);
  let media: Awaited<ReturnType<typeof startBridgeMedia>>;
  let platform: RunningPlatform;

  before(async () => {
    media = await startBridgeMedia();
    platform = await startPlatform({ pools: ['sending'] });
  });
  after(async () => {
    await platform.stop();
    await media.stop();
  });

  it('when the simulator injects a picture-only inbound message, then the sending pool stores it and the tenant downloads it', async () => {
    const tenant = await createTenant();
    const line = await platform.addLine({ mode: 'dedicated', tenantId: tenant.id });
    const from = '+15551230099';
    platform.simulator.inbound({ line_id: line.id, from, media: [`${media.url}/photo.jpg`] });
    const shown = await eventually(async () => {
      const listed = (await api().get('/v1/messages?limit=100').set(tenant.auth)).body.data as { id: string; from: string; media: { status: string }[] }[];
      const found = listed?.find((row) => row.media?.length === 1);
      return found && found.media[0].status === 'stored' ? found : null;
    }, 20000, 'inbound attachment stored');
    const message = (await api().get(`/v1/messages/${shown.id}`).set(tenant.auth)).body.data;
    expect(message).to.include({ status: 'received', body: '' });
    const photo = await download(tenant, `/v1/messages/${message.id}/media/${message.media[0].id}`);
    expect(Buffer.compare(photo.body as Buffer, PHOTO)).to.equal(0);
    await eventually(async () => (await harness().db.owner('outbox').where({ tenant_id: tenant.id, ref_id: message.id })).length === 0, 10000, 'outbox drained');
  });
});
