import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { startPlatform, RunningPlatform, TestLine } from '../helpers/platform';
import { runThroughPool } from '../helpers/jobs';
import { withTenant } from '../../shared/db/tenant';
import { insertMessageMedia } from '../../shared/data/media';
import { acceptOutbound } from '../../shared/messages/outbound';
import { signedMediaUrl } from '../../shared/media/rules';
import { createSendingHandlers } from '../../workers/sending';
import { createMediaFetcher } from '../../workers/sending/media';
import { BODY_RETENTION_DAYS, createMaintenanceHandlers } from '../../workers/maintenance';
import { fakeJob, outcomeText } from '../helpers/jobs';

/** A small but real PNG-sized payload: random bytes, so a mix-up of two attachments cannot pass. */
const PHOTO = crypto.randomBytes(48 * 1024);
const PDF = crypto.randomBytes(3000);

/** The tenant's own web server, where its attachments live: a real HTTP server on 127.0.0.1. */
async function startMediaServer(): Promise<{ url: string; hits: Map<string, number>; stop(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    switch (path) {
      case '/photo.png':
        res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(PHOTO.length) });
        return res.end(PHOTO);
      case '/menu.pdf':
        res.writeHead(200, { 'Content-Type': 'application/pdf; charset=binary' });
        return res.end(PDF);
      case '/huge.mp4': {
        // No Content-Length: the limit must hold while streaming, not only on the announced size.
        res.writeHead(200, { 'Content-Type': 'video/mp4' });
        const chunk = Buffer.alloc(256 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 6 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('error', () => undefined);
        return pump();
      }
      case '/page.html':
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end('<html></html>');
      case '/flaky.png':
        res.writeHead(503);
        return res.end();
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function count(table: string, tenantId: string): Promise<number> {
  return Number((await harness().db.owner(table).where({ tenant_id: tenantId }).count({ n: '*' }))[0].n);
}

let poolCounter = 0;

describe('media attachments', function () {
  this.timeout(40000);
  let platform: RunningPlatform;
  let media: Awaited<ReturnType<typeof startMediaServer>>;
  let tenant: TestTenant;
  let other: TestTenant;
  let line: TestLine;

  before(async () => {
    media = await startMediaServer();
    platform = await startPlatform({ pools: ['sending', 'dispatch'] });
    poolCounter += 1;
    const pool = `media-${poolCounter}`;
    tenant = await createTenant({ pool });
    other = await createTenant({ pool: `${pool}-other` });
    line = await platform.addLine({ pool });
    await platform.addLine({ pool: `${pool}-other` });
  });
  after(async () => {
    await platform.stop();
    await media.stop();
  });

  async function send(from: TestTenant, body: object): Promise<string> {
    const res = await api().post('/v1/messages').set(from.auth).send(body);
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.data.message_id as string;
  }

  async function settled(from: TestTenant, id: string) {
    return eventually(async () => {
      const res = await api().get(`/v1/messages/${id}`).set(from.auth);
      return ['delivered', 'failed'].includes(res.body.data?.status) ? res.body.data : null;
    }, 20000, `message ${id} settled`);
  }

  describe('when a send is accepted', () => {
    const refusals: [string, object, string, string][] = [
      ['more than 10 attachments', { to: '+15551234568', media_urls: Array.from({ length: 11 }, (_, i) => `https://example.com/${i}.png`) }, 'VALIDATION_ERROR', 'media_urls'],
      ['an attachment URL that is not a URL', { to: '+15551234568', media_urls: ['photo.png'] }, 'VALIDATION_ERROR', 'media_urls/0'],
      ['an ftp URL', { to: '+15551234568', body: 'hi', media_urls: ['https://example.com/a.png', 'ftp://example.com/b.png'] }, 'VALIDATION_ERROR', 'media_urls/1'],
      ['the cloud metadata address', { to: '+15551234568', media_urls: ['http://169.254.169.254/latest/meta-data'] }, 'VALIDATION_ERROR', 'media_urls/0'],
      ['credentials in the URL', { to: '+15551234568', media_urls: ['https://user:pw@example.com/a.png'] }, 'VALIDATION_ERROR', 'media_urls/0'],
      ['media on SMS', { to: '+15551234568', body: 'hi', channel: 'sms', media_urls: ['https://example.com/a.png'] }, 'MEDIA_NOT_SUPPORTED', 'channel'],
      ['an empty list', { to: '+15551234568', body: 'hi', media_urls: [] }, 'VALIDATION_ERROR', 'media_urls'],
      ['neither body nor media', { to: '+15551234568' }, 'VALIDATION_ERROR', 'body'],
    ];
    for (const [what, body, code, path] of refusals) {
      it(`with ${what}, then it is refused with 400 ${code} naming ${path}, and nothing is stored`, async () => {
        const before = await count('messages', tenant.id);
        const mediaBefore = await count('message_media', tenant.id);
        const res = await api().post('/v1/messages').set(tenant.auth).send(body);
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.code).to.equal(code);
        expect(res.body.error).to.be.a('string');
        expect((res.body.details as { path: string }[]).map((detail) => detail.path).join(' ')).to.include(path);
        expect(await count('messages', tenant.id)).to.equal(before);
        expect(await count('message_media', tenant.id)).to.equal(mediaBefore);
      });
    }
  });

  it('when a message carries a picture and a PDF without text, then both are downloaded, stored, pushed to the device and delivered', async () => {
    const id = await send(tenant, { to: '+15551234568', media_urls: [`${media.url}/photo.png`, `${media.url}/menu.pdf`] });
    const message = await settled(tenant, id);
    expect(message.status, message.reason).to.equal('delivered');
    expect(message.channel).to.equal('imessage');
    expect(message.media).to.have.length(2);
    expect(message.media[0]).to.include({ status: 'stored', content_type: 'image/png', size: PHOTO.length, filename: 'photo.png', error: null });
    expect(message.media[1]).to.include({ status: 'stored', content_type: 'application/pdf', size: PDF.length, filename: 'menu.pdf' });

    // The device got both, through the platform's signed URLs, byte for byte.
    const pushed = platform.simulator.sends().find((s) => s.message_id === id)!;
    expect(pushed).to.include({ body: '', channel: 'imessage', line_id: line.id });
    expect(pushed.media!.map((item) => [item.content_type, item.size, item.downloaded_size, item.sha256])).to.deep.equal([
      ['image/png', PHOTO.length, PHOTO.length, crypto.createHash('sha256').update(PHOTO).digest('hex')],
      ['application/pdf', PDF.length, PDF.length, crypto.createHash('sha256').update(PDF).digest('hex')],
    ]);
    expect(pushed.media![0].url).to.match(/\/media\/v1\/[^/]+\/[^/?]+\?expires=\d+&signature=[0-9a-f]{64}$/);
    // Fetched once from the tenant's server, never again for the push.
    expect(media.hits.get('/photo.png')).to.equal(1);

    // The tenant downloads what was stored with its key.
    const download = await api().get(`/v1/messages/${id}/media/${message.media[0].id}`).set(tenant.auth).buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(download.status).to.equal(200);
    expect(download.headers['content-type']).to.equal('image/png');
    expect(download.headers['x-content-type-options']).to.equal('nosniff');
    expect(Buffer.compare(download.body as Buffer, PHOTO)).to.equal(0);
    const pdf = await api().get(`/v1/messages/${id}/media/${message.media[1].id}`).set(tenant.auth);
    expect(pdf.headers['content-disposition']).to.match(/^attachment; filename="menu.pdf"$/);

    // Listed messages show their attachments too.
    const listed = (await api().get('/v1/messages?limit=100').set(tenant.auth)).body.data as { id: string; media: unknown[] }[];
    expect(listed.find((row) => row.id === id)!.media).to.have.length(2);
  });

  it("when another tenant asks for an attachment, by its own key or a tampered, expired or re-addressed signed URL, then it is 404 like an unknown one", async () => {
    const id = await send(tenant, { to: '+15551234568', body: 'see attached', media_urls: [`${media.url}/photo.png`] });
    const message = await settled(tenant, id);
    const mediaId = message.media[0].id as string;
    const theirs = await send(other, { to: '+15551234568', body: 'their own' });

    for (const [path, auth] of [
      [`/v1/messages/${id}/media/${mediaId}`, other.auth],
      [`/v1/messages/${theirs}/media/${mediaId}`, other.auth],
      [`/v1/messages/${id}/media/01ARZ3NDEKTSV4RRFFQ69G5FAV`, tenant.auth],
    ] as const) {
      const res = await api().get(path).set(auth);
      expect(res.status, path).to.equal(404);
      expect(res.body.code).to.equal('NOT_FOUND');
    }
    // The tenant's own test key sees no live message, so none of its attachments.
    expect((await api().get(`/v1/messages/${id}/media/${mediaId}`).set(tenant.sandboxAuth)).status).to.equal(404);

    const { config } = harness();
    const signed = signedMediaUrl('', config.encryptionKey, tenant.id, mediaId);
    expect((await api().get(signed)).status).to.equal(200);
    const tampered = signed.replace(/signature=([0-9a-f])/, (_, first: string) => `signature=${first === 'a' ? 'b' : 'a'}`);
    expect((await api().get(tampered)).status).to.equal(404);
    const expired = signedMediaUrl('', config.encryptionKey, tenant.id, mediaId, Date.now() - 2 * 3600 * 1000);
    expect((await api().get(expired)).status).to.equal(404);
    // Tenant B's id with tenant A's media id, correctly signed for B: still not found (RLS scopes the read to B).
    const readdressed = signedMediaUrl('', config.encryptionKey, other.id, mediaId);
    expect((await api().get(readdressed)).status).to.equal(404);
    expect((await api().get(signed.replace(/\?.*$/, ''))).status).to.equal(404);
  });

  it('when a test key sends an attachment, then it is downloaded and stored, and the synthetic delivery follows', async () => {
    const res = await api().post('/v1/messages').set(tenant.sandboxAuth).send({ to: '+15555550001', media_urls: [`${media.url}/photo.png`] });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    const id = res.body.data.message_id as string;
    const message = await eventually(async () => {
      const current = (await api().get(`/v1/messages/${id}`).set(tenant.sandboxAuth)).body.data;
      return current?.status === 'delivered' ? current : null;
    }, 20000, 'sandbox delivered');
    expect(message.media[0]).to.include({ status: 'stored', size: PHOTO.length });
    expect((await api().get(`/v1/messages/${id}/media/${message.media[0].id}`).set(tenant.sandboxAuth)).status).to.equal(200);
    expect((await api().get(`/v1/messages/${id}/media/${message.media[0].id}`).set(tenant.auth)).status).to.equal(404);
  });

  it(`when an attachment is older than ${BODY_RETENTION_DAYS} days, then the retention purge clears its bytes with the body and keeps what it was`, async () => {
    const old = await send(tenant, { to: '+15551234568', body: 'old', media_urls: [`${media.url}/photo.png`] });
    const fresh = await send(tenant, { to: '+15551234568', body: 'fresh', media_urls: [`${media.url}/photo.png`] });
    const [oldMessage, freshMessage] = [await settled(tenant, old), await settled(tenant, fresh)];
    const longAgo = new Date(Date.now() - (BODY_RETENTION_DAYS + 1) * 24 * 3600 * 1000);
    await harness().db.owner('message_media').where({ tenant_id: tenant.id, message_id: old }).update({ created_at: longAgo });

    const outcome = outcomeText(await createMaintenanceHandlers(platform.deps)['purge-bodies']({} as never, fakeJob('purge-bodies', {})));
    expect(outcome).to.match(/and [1-9]\d* attachments$/);
    const shown = (await api().get(`/v1/messages/${old}`).set(tenant.auth)).body.data.media[0];
    expect(shown).to.include({ status: 'purged', content_type: 'image/png', size: PHOTO.length, url: null });
    expect((await harness().db.owner('message_media').where({ message_id: old }).first()).content).to.equal(null);
    expect((await api().get(`/v1/messages/${old}/media/${oldMessage.media[0].id}`).set(tenant.auth)).status).to.equal(404);
    expect((await api().get(`/v1/messages/${fresh}/media/${freshMessage.media[0].id}`).set(tenant.auth)).status).to.equal(200);
  });

  const failures: [string, string, string][] = [
    ['larger than 5 MiB (streamed without a length)', '/huge.mp4', 'media_too_large'],
    ['of a type that is not allowed', '/page.html', 'media_type_not_allowed'],
    ['missing on its server', '/missing.png', 'media_unreachable'],
  ];
  for (const [what, path, reason] of failures) {
    it(`when an attachment is ${what}, then the message fails with ${reason} and nothing reaches the device`, async () => {
      const id = await send(tenant, { to: '+15551234568', body: 'with a bad attachment', media_urls: [`${media.url}/photo.png`, `${media.url}${path}`] });
      const message = await settled(tenant, id);
      expect(message).to.include({ status: 'failed', reason });
      expect(message.media.map((item: { status: string }) => item.status)).to.deep.equal(['stored', 'failed']);
      expect(message.media[1]).to.include({ error: reason, url: null });
      expect(platform.simulator.sends().some((s) => s.message_id === id)).to.equal(false);
      const events = (await api().get(`/v1/messages/${id}/events`).set(tenant.auth)).body.data as { status: string }[];
      expect(events.map((event) => event.status)).to.deep.equal(['queued', 'failed']);
    });
  }

  it('when the recipient can only get SMS, then a message with media is not sent as SMS: it fails with media_not_supported_on_sms', async () => {
    const id = await send(tenant, { to: '+15551234569', body: 'pic', media_urls: [`${media.url}/photo.png`] });
    const message = await settled(tenant, id);
    expect(message).to.include({ status: 'failed', reason: 'media_not_supported_on_sms' });
    expect(platform.simulator.sends().some((s) => s.message_id === id)).to.equal(false);
  });

  describe('the fetch-media job', () => {
    /** A queued message with pending attachments, as the API records it, but with no job enqueued (the pools here would run it). */
    async function pendingMessage(owner: TestTenant, urls: string[]): Promise<string> {
      return withTenant(harness().db.app, owner.id, async (t) => {
        const accepted = await acceptOutbound(t.trx, t.tenantId, {
          to: '+15551234568',
          body: 'job test',
          requestedChannel: 'auto',
          messageType: 'alert',
          sandbox: false,
          dispatchWebhook: false,
          firstJob: 'fetch-media',
        });
        await insertMessageMedia(t, accepted.id, urls);
        return accepted.id;
      });
    }

    it("when its payload names another tenant's message, then it is a terminal failure and nothing changes", async () => {
      const id = await pendingMessage(tenant, [`${media.url}/photo.png`]);
      const before = media.hits.get('/photo.png') ?? 0;
      const handlers = createSendingHandlers(platform.deps);
      const run = await runThroughPool('sending', handlers, 'fetch-media', { tenantId: other.id, messageId: id }, `fetch-media__${id}`);
      expect(run.terminal, String(run.error)).to.equal(true);
      expect(media.hits.get('/photo.png') ?? 0).to.equal(before);
      const rows = await harness().db.owner('message_media').where({ message_id: id });
      expect(rows.map((row: { status: string; tenant_id: string }) => [row.status, row.tenant_id])).to.deep.equal([['pending', tenant.id]]);
      expect((await harness().db.owner('messages').where({ id }).first()).status).to.equal('queued');
      // The rightful tenant's outbox row is still there for its own run.
      expect(await harness().db.owner('outbox').where({ tenant_id: tenant.id, job_name: 'fetch-media', ref_id: id })).to.have.length(1);
    });

    it('when it runs for the owner, then the attachments are stored once and routing takes its place in the outbox; a second run changes nothing', async () => {
      const id = await pendingMessage(tenant, [`${media.url}/photo.png`]);
      const handlers = createSendingHandlers(platform.deps);
      const first = await runThroughPool('sending', handlers, 'fetch-media', { tenantId: tenant.id, messageId: id });
      expect(first.result).to.match(/^done: 1 attachment/);
      const outbox = await harness().db.owner('outbox').where({ tenant_id: tenant.id, ref_id: id }).whereIn('job_name', ['fetch-media', 'route-message']);
      expect(outbox.map((row: { job_name: string }) => row.job_name)).to.include('route-message').and.not.include('fetch-media');
      const stored = await harness().db.owner('message_media').where({ message_id: id }).first();
      expect(stored).to.include({ status: 'stored', content_type: 'image/png', size_bytes: PHOTO.length });
      const hits = media.hits.get('/photo.png');
      const second = await runThroughPool('sending', handlers, 'fetch-media', { tenantId: tenant.id, messageId: id });
      expect(String(second.result)).to.match(/^(skipped|done)/);
      expect(media.hits.get('/photo.png')).to.equal(hits);
    });

    it('when a host name resolves to a link-local address at download time, then the message fails with media_url_blocked', async () => {
      const id = await pendingMessage(tenant, ['http://attachments.example.test/photo.png']);
      const rebinding = (_host: string, _options: unknown, callback: (error: NodeJS.ErrnoException | null, addresses: { address: string; family: number }[]) => void) =>
        callback(null, [{ address: '169.254.169.254', family: 4 }]);
      const fetcher = createMediaFetcher(platform.deps, { resolve: rebinding });
      const outcome = await fetcher({ tenantId: tenant.id, messageId: id });
      expect(outcome).to.deep.include({ kind: 'done' });
      expect((await harness().db.owner('messages').where({ id }).first()).reason).to.equal('media_url_blocked');
    });

    it('when the source answers 503, then the job retries, and fails the message with media_unreachable only on its last attempt', async () => {
      const id = await pendingMessage(tenant, [`${media.url}/flaky.png`]);
      const fetcher = createMediaFetcher(platform.deps);
      const job = (attemptsMade: number) => ({ attemptsMade, opts: { attempts: 8 } }) as unknown as Parameters<typeof fetcher>[1];
      let thrown: unknown;
      await fetcher({ tenantId: tenant.id, messageId: id }, job(0)).catch((error: unknown) => (thrown = error));
      expect(thrown).to.be.instanceOf(Error);
      expect((await harness().db.owner('messages').where({ id }).first()).status).to.equal('queued');
      await fetcher({ tenantId: tenant.id, messageId: id }, job(2));
      expect(await harness().db.owner('messages').where({ id }).first()).to.include({ status: 'failed', reason: 'media_unreachable' });
    });
  });
});
