import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createCapabilityAsker } from '../../shared/device/client';

/** A bridge that answers POST /v1/capabilities (iMessage for numbers ending in an odd digit) and records each call's numbers. */
async function startBridge(status = 200, delayMs = 0): Promise<{ url: string; calls: string[][]; close(): Promise<void> }> {
  const calls: string[][] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      const { numbers } = JSON.parse(raw) as { numbers: string[] };
      calls.push(numbers);
      // The answer leaves out numbers ending in 0, as a bridge may for a number it could not check.
      const results = numbers.filter((number) => !number.endsWith('0')).map((number) => ({ number, imessage: Number(number.slice(-1)) % 2 === 1, sms: true, rcs: false }));
      setTimeout(() => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(status === 200 ? { results } : { error: 'boom' })), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('capability checks gathered per line (createCapabilityAsker)', () => {
  const bridges: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(bridges.splice(0).map((bridge) => bridge.close()));
  });

  it('when several numbers are asked of one line at the same moment, then its bridge gets one call with each number once, and each caller gets its own answer', async () => {
    const bridge = await startBridge();
    bridges.push(bridge);
    const ask = createCapabilityAsker(5000);
    const target = { lineId: 'line-a', bridgeUrl: bridge.url, secret: 's'.repeat(32) };
    const answers = await Promise.all(['+15550000001', '+15550000002', '+15550000003', '+15550000001', '+15550000010'].map((number) => ask(target, number)));
    expect(bridge.calls).to.have.length(1);
    expect(bridge.calls[0]).to.have.members(['+15550000001', '+15550000002', '+15550000003', '+15550000010']);
    expect(answers.map((answer) => answer && [answer.number, answer.imessage])).to.deep.equal([
      ['+15550000001', true],
      ['+15550000002', false],
      ['+15550000003', true],
      ['+15550000001', true],
      null,
    ]);
  });

  it('when two lines are asked at once, then each line\'s bridge is asked only its own numbers', async () => {
    const first = await startBridge();
    const second = await startBridge();
    bridges.push(first, second);
    const ask = createCapabilityAsker(5000);
    await Promise.all([
      ask({ lineId: 'line-1', bridgeUrl: first.url, secret: 's'.repeat(32) }, '+15550000011'),
      ask({ lineId: 'line-2', bridgeUrl: second.url, secret: 's'.repeat(32) }, '+15550000021'),
      ask({ lineId: 'line-1', bridgeUrl: first.url, secret: 's'.repeat(32) }, '+15550000013'),
    ]);
    expect(first.calls.flat()).to.have.members(['+15550000011', '+15550000013']);
    expect(second.calls.flat()).to.deep.equal(['+15550000021']);
  });

  it('when the bridge fails the call, then every number in it fails once and the bridge is not asked again number by number', async () => {
    const bridge = await startBridge(500);
    bridges.push(bridge);
    const ask = createCapabilityAsker(5000);
    const target = { lineId: 'line-b', bridgeUrl: bridge.url, secret: 's'.repeat(32) };
    const settled = await Promise.allSettled(['+15550000031', '+15550000033', '+15550000035'].map((number) => ask(target, number)));
    expect(settled.map((result) => result.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
    expect(bridge.calls).to.have.length(1);
  });

  it('when the bridge is slow, then a number queued behind its calls fails after the timeout in all rather than after each call ahead of it', async () => {
    const bridge = await startBridge(200, 600);
    bridges.push(bridge);
    const ask = createCapabilityAsker(400);
    const target = { lineId: 'line-c', bridgeUrl: bridge.url, secret: 's'.repeat(32) };
    const started = Date.now();
    // Two calls in flight (each number asked on its own turn), then a third number queued behind them.
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const first = ask(target, '+15550000041').catch(() => null);
    await turn();
    const second = ask(target, '+15550000043').catch(() => null);
    await turn();
    const queued = await Promise.allSettled([ask(target, '+15550000045')]);
    expect(queued[0].status).to.equal('rejected');
    expect(Date.now() - started).to.be.lessThan(800);
    await Promise.all([first, second]);
  });
});
