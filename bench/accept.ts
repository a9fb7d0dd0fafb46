import autocannon from 'autocannon';
import { benchOperator, createBenchEnv, printTable, progress, rssMb, Row, startProcess, stopProcess, summarize, waitForHttp } from './lib';

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(url: string, headers: Record<string, string>, seconds: number): Promise<Run> {
  const result = await autocannon({
    url: `${url}/v1/messages`,
    method: 'POST',
    connections: 50,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ to: '+15551234568', body: 'benchmark message' }),
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
  const basePort = 3900 + Math.floor(Math.random() * 50);
  const baseline = startProcess('bench/baseline-server.js', [], { ...bench.env, PORT: String(basePort) });
  const webPort = basePort + 60;
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
    await load(webUrl, auth, 2);
    await load(baseUrl, {}, 2);
    const baselineRuns: Run[] = [];
    const senderzRuns: Run[] = [];
    const loadRss: number[] = [];
    for (let i = 0; i < runs; i += 1) {
      progress(`accept: run ${i + 1}/${runs} baseline`);
      baselineRuns.push(await load(baseUrl, {}, seconds));
      progress(`accept: run ${i + 1}/${runs} senderz`);
      const sampler = setInterval(() => {
        const rss = rssMb(web.pid);
        if (rss) loadRss.push(rss);
      }, 500);
      senderzRuns.push(await load(webUrl, auth, seconds));
      clearInterval(sampler);
    }
    const ratio = senderzRuns.map((run, i) => run.rps / baselineRuns[i].rps);
    const errors = senderzRuns.reduce((sum, run) => sum + run.errors, 0);
    return [
      summarize('accept (50 conns)', 'baseline req/s', baselineRuns.map((run) => run.rps), 'req/s', 'Express + INSERT + queue add'),
      summarize('accept (50 conns)', 'POST /v1/messages req/s', senderzRuns.map((run) => run.rps), 'req/s', `non-2xx/errors: ${errors}`),
      summarize('accept (50 conns)', 'throughput vs baseline', ratio, 'ratio', 'per run pair'),
      summarize('accept (50 conns)', 'baseline p50', baselineRuns.map((run) => run.p50), 'ms'),
      summarize('accept (50 conns)', 'POST p50', senderzRuns.map((run) => run.p50), 'ms'),
      summarize('accept (50 conns)', 'baseline p99', baselineRuns.map((run) => run.p99), 'ms'),
      summarize('accept (50 conns)', 'POST p99', senderzRuns.map((run) => run.p99), 'ms'),
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
