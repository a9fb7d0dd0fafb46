import { expect } from 'chai';
import { Senderz, SenderzError } from '../../sdk/src';

/** A fetch that answers from a script and records what it was asked. */
function scripted(answers: (() => Response)[]) {
  const requests: { method: string; url: string; key: string | null }[] = [];
  const impl: typeof fetch = async (input, init) => {
    requests.push({ method: init?.method ?? 'GET', url: String(input), key: new Headers(init?.headers).get('Idempotency-Key') });
    const next = answers.shift();
    if (!next) throw new Error('no scripted answer left');
    return next();
  };
  return { impl, requests };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req-1', ...headers } });

const accepted = json(202, { data: { message_id: 'm', status: 'queued', from: null, channel: 'auto', estimated_delivery_ms: 1 } });
const unavailable = json(503, { error: 'No phone line is available to this account.', code: 'NO_PHONE_AVAILABLE' });

describe('SDK retry policy', () => {
  it('when a POST gets a 5xx, then it is retried with the same generated Idempotency-Key, within maxRetries', async () => {
    const { impl, requests } = scripted([unavailable, unavailable, accepted]);
    const waits: number[] = [];
    const client = new Senderz({ apiKey: 'tf_test_x', baseUrl: 'http://senderz.invalid', fetch: impl, sleep: async (ms) => void waits.push(ms) });
    const result = await client.messages.send({ to: '+15555550001', body: 'x' });
    expect(result.message_id).to.equal('m');
    expect(requests).to.have.length(3);
    expect(new Set(requests.map((request) => request.key)).size).to.equal(1);
    expect(waits).to.have.length(2);
    expect(waits[1]).to.be.greaterThan(waits[0]);
  });

  it('when retries run out, then the last answer is thrown as a typed error', async () => {
    const { impl, requests } = scripted([unavailable, unavailable, unavailable]);
    const client = new Senderz({ apiKey: 'tf_test_x', baseUrl: 'http://senderz.invalid', fetch: impl, sleep: async () => undefined });
    const error = (await client.messages.send({ to: '+15555550001', body: 'x' }).catch((caught: unknown) => caught)) as SenderzError;
    expect(requests).to.have.length(3);
    expect(error).to.be.instanceOf(SenderzError);
    expect(error).to.include({ status: 503, code: 'NO_PHONE_AVAILABLE', requestId: 'req-1' });
  });

  it('when a POST has no Idempotency-Key (turned off), then a 5xx is not repeated but a 429 still is', async () => {
    const noKey = scripted([unavailable]);
    const client = new Senderz({ apiKey: 'tf_test_x', baseUrl: 'http://senderz.invalid', fetch: noKey.impl, autoIdempotency: false, sleep: async () => undefined });
    await client.messages.send({ to: '+15555550001', body: 'x' }).catch(() => undefined);
    expect(noKey.requests).to.have.length(1);
    expect(noKey.requests[0].key).to.equal(null);

    const limited = scripted([json(429, { error: 'slow down', code: 'RATE_LIMIT_EXCEEDED' }, { 'Retry-After': '2' }), accepted]);
    const waits: number[] = [];
    const again = new Senderz({ apiKey: 'tf_test_x', baseUrl: 'http://senderz.invalid', fetch: limited.impl, autoIdempotency: false, sleep: async (ms) => void waits.push(ms) });
    await again.messages.send({ to: '+15555550001', body: 'x' });
    expect(waits).to.deep.equal([2000]);
  });

  it('when a 4xx other than 429 comes back, then nothing is retried', async () => {
    const { impl, requests } = scripted([json(404, { error: 'No such message.', code: 'NOT_FOUND' })]);
    const client = new Senderz({ apiKey: 'tf_test_x', baseUrl: 'http://senderz.invalid', fetch: impl, sleep: async () => undefined });
    const error = (await client.messages.get('01ARZ3NDEKTSV4RRFFQ69G5FAV').catch((caught: unknown) => caught)) as SenderzError;
    expect(requests).to.have.length(1);
    expect(requests[0].url).to.equal('http://senderz.invalid/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(error.status).to.equal(404);
  });

  it('when a path parameter holds a +, then it is URL-encoded', async () => {
    const { impl, requests } = scripted([json(200, { data: {} })]);
    const client = new Senderz({ apiKey: 'tf_test_x', baseUrl: 'http://senderz.invalid/', fetch: impl });
    await client.optOuts.get('+15551234567');
    expect(requests[0].url).to.equal('http://senderz.invalid/v1/opt-outs/%2B15551234567');
  });
});
