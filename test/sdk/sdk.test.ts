import http from 'node:http';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { parseWebhookEvent, Senderz, SenderzAdmin, SenderzError, SenderzSignatureError, verifySenderzSignature, verifyStandardWebhook } from '../../sdk/src';
import { createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { RunningPlatform, startPlatform } from '../helpers/platform';

interface Received {
  raw: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** A customer's webhook endpoint: records the raw bytes and headers of every POST. */
async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ raw: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('SDK against the running platform', function () {
  this.timeout(60000);
  let platform: RunningPlatform;
  let tenant: TestTenant;
  let client: Senderz;

  before(async function () {
    platform = await startPlatform({ pools: ['sending', 'dispatch', 'webhooks'] });
    const pool = `p-sdk-${crypto.randomBytes(3).toString('hex')}`;
    tenant = await createTenant({ pool });
    await platform.addLine({ pool });
    client = new Senderz({ apiKey: tenant.key, baseUrl: platform.url });
  });

  after(async function () {
    this.timeout(20000);
    await platform.stop();
  });

  it('when a message is sent, then it is delivered and its events come back in order', async () => {
    const accepted = await client.messages.send({ to: '+15551234568', body: 'Hello from the SDK' });
    expect(accepted.status).to.equal('queued');
    const events = await eventually(async () => {
      const list = await client.messages.events(accepted.message_id);
      return list.some((event) => event.status === 'delivered') ? list : null;
    }, 30000, 'delivered');
    expect(events.map((event) => event.status)).to.include.members(['queued', 'sending', 'sent', 'delivered']);
    const sequences = events.map((event) => event.sequence);
    expect(sequences).to.deep.equal([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).to.equal(sequences.length);
    const message = await client.messages.get(accepted.message_id);
    expect(message.to).to.equal('+15551234568');
    expect(message.direction).to.equal('outbound');
  });

  it('when a send is scheduled with a client_reference and a status_callback, then cancel stops it and the callbacks verify with the status callback secret', async () => {
    const receiver = await startReceiver();
    try {
      const accepted = await client.messages.send({
        to: '+15551234569',
        body: 'Later from the SDK',
        client_reference: 'sdk-order-1',
        status_callback: receiver.url,
        send_at: new Date(Date.now() + 60000).toISOString(),
      });
      expect(accepted.status).to.equal('scheduled');
      const cancelled = await client.messages.cancel(accepted.message_id);
      expect(cancelled).to.include({ status: 'cancelled', client_reference: 'sdk-order-1' });
      const again = await client.messages.cancel(accepted.message_id).catch((error: unknown) => error);
      expect(again).to.be.instanceOf(SenderzError);
      expect((again as SenderzError).status).to.equal(409);

      await eventually(async () => receiver.received.length >= 2, 15000, 'two status callbacks');
      const { secret } = await client.webhooks.statusCallbackSecret();
      const statuses = receiver.received.map((got) => {
        expect(verifyStandardWebhook(got.raw, got.headers, secret)).to.equal(true);
        const event = parseWebhookEvent(got.raw, got.headers, secret) as unknown as { status: string; client_reference: string };
        expect(event.client_reference).to.equal('sdk-order-1');
        return event.status;
      });
      expect(statuses.sort()).to.deep.equal(['cancelled', 'scheduled']);
    } finally {
      await receiver.close();
    }
  });

  it('when a message is sent with an attachment, then it is delivered and messages.media gives back its bytes', async () => {
    const picture = crypto.randomBytes(20000);
    const server = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(picture));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cat.jpg`;
      const accepted = await client.messages.send({ to: '+15551234568', media_urls: [url] });
      const message = await eventually(async () => {
        const current = await client.messages.get(accepted.message_id);
        return current.status === 'delivered' ? current : null;
      }, 30000, 'delivered with media');
      expect(message.media.map((item) => [item.content_type, item.size, item.filename])).to.deep.equal([['image/jpeg', picture.length, 'cat.jpg']]);
      const bytes = await client.messages.media(accepted.message_id, message.media[0].id);
      expect(bytes).to.be.instanceOf(Uint8Array);
      expect(Buffer.compare(Buffer.from(bytes), picture)).to.equal(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('when messages span several pages, then iterate yields each once, newest first, following next_cursor', async () => {
    const own = await createTenant();
    const sandbox = new Senderz({ apiKey: own.testKey, baseUrl: platform.url });
    const sent: string[] = [];
    for (let index = 0; index < 7; index += 1) sent.push((await sandbox.messages.send({ to: '+15555550001', body: `n${index}` })).message_id);
    const first = await sandbox.messages.list({ limit: 3 });
    expect(first.data).to.have.length(3);
    expect(first.next_cursor).to.be.a('string');
    const seen: string[] = [];
    for await (const message of sandbox.messages.iterate({ limit: 3 })) seen.push(message.id);
    expect(seen).to.deep.equal([...sent].reverse());
  });

  it('when a send is retried after a dropped connection, then the same Idempotency-Key is reused and one message exists', async () => {
    const own = await createTenant();
    const keys: string[] = [];
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls += 1;
      keys.push(new Headers(init?.headers).get('Idempotency-Key') ?? '');
      const response = await fetch(input, init);
      // The server did the work, but the answer is lost on the way back.
      if (calls === 1) throw new TypeError('fetch failed: socket hang up');
      return response;
    };
    const sandbox = new Senderz({ apiKey: own.testKey, baseUrl: platform.url, fetch: flaky, sleep: async () => undefined });
    const accepted = await sandbox.messages.send({ to: '+15555550001', body: 'exactly once' });
    expect(calls).to.equal(2);
    expect(keys[0]).to.match(/^[0-9a-f-]{36}$/);
    expect(keys[1]).to.equal(keys[0]);
    const all = [];
    for await (const message of sandbox.messages.iterate()) all.push(message);
    expect(all.map((message) => message.id)).to.deep.equal([accepted.message_id]);
  });

  it('when the key is over its rate limit, then the SDK waits exactly Retry-After and the retry succeeds', async function () {
    this.timeout(90000);
    const limited = await createTenant({ rateLimit: 1 });
    const answers: { status: number; retryAfter: string | null; at: number }[] = [];
    const recording: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      answers.push({ status: response.status, retryAfter: response.headers.get('retry-after'), at: Date.now() });
      return response;
    };
    const waits: number[] = [];
    const sdk = new Senderz({
      apiKey: limited.key,
      baseUrl: platform.url,
      fetch: recording,
      sleep: (ms) => {
        waits.push(ms);
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    await sdk.messages.list({ limit: 1 });
    const page = await sdk.messages.list({ limit: 1 });
    expect(page.data).to.deep.equal([]);
    expect(answers.map((answer) => answer.status)).to.deep.equal([200, 429, 200]);
    const retryAfter = Number(answers[1].retryAfter);
    expect(retryAfter).to.be.within(1, 60);
    expect(waits).to.deep.equal([retryAfter * 1000]);
    expect(answers[2].at - answers[1].at).to.be.at.least(retryAfter * 1000 - 50);
  });

  it('when Retry-After is longer than the SDK may wait, then the 429 is thrown at once as a typed error', async () => {
    const limited = await createTenant({ rateLimit: 1 });
    const sdk = new Senderz({ apiKey: limited.key, baseUrl: platform.url, maxRetryDelayMs: 0 });
    await sdk.messages.list();
    const error = await sdk.messages.list().then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).to.be.instanceOf(SenderzError);
    expect((error as SenderzError).status).to.equal(429);
    expect((error as SenderzError).code).to.equal('RATE_LIMIT_EXCEEDED');
    expect((error as SenderzError).retryAfter).to.be.within(1, 60);
  });

  it("when a message is unknown or another tenant's, then a typed 404 SenderzError with the request id", async () => {
    const other = await createTenant();
    const theirs = await new Senderz({ apiKey: other.testKey, baseUrl: platform.url }).messages.send({ to: '+15555550001', body: 'private' });
    const mine = new Senderz({ apiKey: tenant.testKey, baseUrl: platform.url });
    for (const id of ['01ARZ3NDEKTSV4RRFFQ69G5FAV', theirs.message_id]) {
      const error = await mine.messages.get(id).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error, id).to.be.instanceOf(SenderzError);
      const typed = error as SenderzError;
      expect(typed.status).to.equal(404);
      expect(typed.code).to.equal('NOT_FOUND');
      expect(typed.message).to.equal('No such message.');
      expect(typed.requestId).to.match(/^[0-9A-Z]{26}$/);
    }
  });

  it('when a body is invalid, then the SenderzError carries the field details', async () => {
    const error = await client.messages.send({ to: '555-1234', body: 'x' }).then(
      () => null,
      (caught: unknown) => caught as SenderzError,
    );
    expect(error?.status).to.equal(400);
    expect(error?.code).to.equal('VALIDATION_ERROR');
    expect(error?.details?.[0]).to.deep.include({ path: 'to' });
  });

  it("when a real delivery arrives, then the SDK's verify helpers accept it and refuse a tampered body or a wrong secret", async function () {
    const receiver = await startReceiver();
    try {
      const webhook = await client.webhooks.create({ url: receiver.url, events: ['message.delivered'] });
      const secret = webhook.secret!;
      const accepted = await client.messages.send({ to: '+15551234569', body: 'signed' });
      await eventually(async () => receiver.received.length > 0, 30000, 'a webhook delivery');
      const { raw, headers } = receiver.received[0];
      const signature = headers['x-senderz-signature'] as string;
      expect(verifySenderzSignature(raw, signature, secret)).to.equal(true);
      expect(verifySenderzSignature(raw.toString('utf8'), signature, secret)).to.equal(true);
      expect(verifyStandardWebhook(raw, headers, secret)).to.equal(true);
      const event = parseWebhookEvent(raw, headers, secret);
      expect(event).to.include({ event: 'message.delivered', message_id: accepted.message_id });

      const tampered = Buffer.from(raw.toString('utf8').replace('delivered', 'failed'));
      expect(verifySenderzSignature(tampered, signature, secret)).to.equal(false);
      expect(verifyStandardWebhook(tampered, headers, secret)).to.equal(false);
      expect(verifySenderzSignature(raw, signature, `${secret}x`)).to.equal(false);
      expect(verifyStandardWebhook(raw, headers, secret, { now: new Date(Date.now() + 3600_000) })).to.equal(false);
      expect(() => parseWebhookEvent(tampered, headers, secret)).to.throw(SenderzSignatureError);
    } finally {
      await receiver.close();
    }
  });

  it('when the operator uses SenderzAdmin, then tenants and keys are created and the new key works with Senderz', async () => {
    const admin = new SenderzAdmin({ adminKey: harness().config.adminApiKey, baseUrl: platform.url });
    const created = await admin.tenants.create({ name: 'SDK operator test', plan: 'starter' });
    expect(created).to.include({ name: 'SDK operator test', plan: 'starter', status: 'active' });
    const key = await admin.apiKeys.create({ tenant_id: created.id, name: 'sdk', prefix: 'tf_test' });
    expect(key.key).to.match(/^tf_test_/);
    const usage = await new Senderz({ apiKey: key.key!, baseUrl: platform.url }).billing.usage();
    expect(usage.plan).to.equal('starter');
    const wrong = await new SenderzAdmin({ adminKey: 'nope', baseUrl: platform.url }).tenants.list().catch((caught: unknown) => caught as SenderzError);
    expect((wrong as SenderzError).status).to.equal(401);
  });
});
