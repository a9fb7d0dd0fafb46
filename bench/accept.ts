import autocannon from 'autocannon';
import { benchOperator, createBenchEnv, printTable, progress, rssMb, Row, startProcess, stopProcess, summarize, waitForHttp, freePort } from './lib';

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

let recipientCounter = 0;

/**
 * 50 connections for `seconds`. `unique`: every request to another recipient
 * (+1555 numbers never seen before), so the per-recipient work (opt-out
 * lookup, index entries by number) is paid on every request as in real
 * traffic; otherwise every request goes to one number.
 */
async function load(url: string, headers: Record<string, string>, seconds: number, unique: boolean): Promise<Run> {
  const result = await autocannon({
    url: `${url}/v1/messages`,
    method: 'POST',
    connections: 50,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ to: '+15551234568', body: 'benchmark message' }),
    requests: unique
      ? [
          {
            setupRequest: (request) => {
              recipientCounter += 1;
              const to = `+1555${String(1000000 + (recipientCounter % 8999999)).padStart(7, '0')}`;
              return { ...request, body: JSON.stringify({ to, body: 'benchmark message' }) };
            },
          },
        ]
      : undefined,
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors };
}

/**
 * POST /v1/messages accepted per second at 50 connections against the bare
 * baseline (Express + one INSERT + one queue add), alternating runs in one go.
 */
export async function runAcceptBench(options: { runs?: number; seconds?: number } = {}): Promise<Row[]> {
  const runs = options.runs ?? 3;
  const seconds = options.seconds ?? 10;
  const bench = await createBenchEnv('accept');
  const basePort = await freePort();
  let webPort = await freePort();
  while (webPort === basePort) webPort = await freePort();
  const baseline = startProcess('bench/baseline-server.js', [], { ...bench.env, PORT: String(basePort) });
  const web = startProcess('bin/web.js', [], { ...bench.env, PORT: String(webPort), HOST: '127.0.0.1', AUTH_CACHE_SECONDS: '5' });
  const baseUrl = `http://127.0.0.1:${basePort}`;
  const webUrl = `http://127.0.0.1:${webPort}`;
  try {
    await waitForHttp(`${webUrl}/healthz`);
    await new Promise<void>((resolve) => baseline.once('message', () => resolve()));
    const operator = benchOperator(webUrl, bench.adminKey);
    const tenant = await operator.tenantKey('bench', 'bench');
    // A line must exist for the send to be accepted; nothing is dispatched (no sending pool runs).
    await operator.line({ phone: '+15550009999', pool: 'bench', bridgeUrl: 'http://127.0.0.1:9/none', secret: 'x'.repeat(40) });
    const auth = { authorization: tenant.authorization };
    const restRss = rssMb(web.pid);

    progress('accept: warming up');
    await load(webUrl, auth, 2, true);
    await load(baseUrl, {}, 2, true);
    const result: Record<'one' | 'unique', { baseline: Run[]; senderz: Run[] }> = { one: { baseline: [], senderz: [] }, unique: { baseline: [], senderz: [] } };
    const loadRss: number[] = [];
    // A B A B: the baseline and senderz alternate, so a noisy moment hits both.
    for (let i = 0; i < runs; i += 1) {
      for (const mode of ['unique', 'one'] as const) {
        progress(`accept: run ${i + 1}/${runs} baseline (${mode === 'unique' ? 'unique recipients' : 'one recipient'})`);
        result[mode].baseline.push(await load(baseUrl, {}, seconds, mode === 'unique'));
        progress(`accept: run ${i + 1}/${runs} senderz (${mode === 'unique' ? 'unique recipients' : 'one recipient'})`);
        const sampler = setInterval(() => {
          const rss = rssMb(web.pid);
          if (rss) loadRss.push(rss);
        }, 500);
        result[mode].senderz.push(await load(webUrl, auth, seconds, mode === 'unique'));
        clearInterval(sampler);
      }
    }
    const rows = (['unique', 'one'] as const).flatMap((mode) => {
      const label = mode === 'unique' ? 'accept (50 conns, unique to)' : 'accept (50 conns, one to)';
      const { baseline: baselineRuns, senderz: senderzRuns } = result[mode];
      const errors = senderzRuns.reduce((sum, run) => sum + run.errors, 0);
      return [
        summarize(label, 'baseline req/s', baselineRuns.map((run) => run.rps), 'req/s', 'Express + INSERT + queue add'),
        summarize(label, 'POST /v1/messages req/s', senderzRuns.map((run) => run.rps), 'req/s', `non-2xx/errors: ${errors}`),
        summarize(label, 'throughput vs baseline', senderzRuns.map((run, i) => run.rps / baselineRuns[i].rps), 'ratio', 'per run pair; target ≥ 0.75'),
        summarize(label, 'baseline p50', baselineRuns.map((run) => run.p50), 'ms'),
        summarize(label, 'POST p50', senderzRuns.map((run) => run.p50), 'ms'),
        summarize(label, 'baseline p99', baselineRuns.map((run) => run.p99), 'ms'),
        summarize(label, 'POST p99', senderzRuns.map((run) => run.p99), 'ms'),
        summarize(label, 'p99 vs baseline', senderzRuns.map((run, i) => run.p99 / baselineRuns[i].p99), 'ratio', 'per run pair; target ≤ 1.5'),
      ];
    });
    return [
      ...rows,
      summarize('rss', 'web at rest', [restRss ?? NaN], 'MB'),
      summarize('rss', 'web under accept load', loadRss.length ? loadRss : [NaN], 'MB'),
    ];
  } finally {
    await stopProcess(web);
    await stopProcess(baseline);
    await bench.cleanup();
  }
}

if (require.main === module) void runAcceptBench().then(printTable);
