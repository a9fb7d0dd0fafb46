import pg from 'pg';
import { createSimulator } from '../simulator/server';
import { benchOperator, cpuMeter, createBenchEnv, percentile, rssMb, printTable, progress, Row, startProcess, stopProcess, summarize, waitForHttp } from './lib';

/**
 * Transactions committed in the bench database so far (pg_stat_database).
 * Backends report their counts when idle for a while, so a reading is taken
 * after the pipeline has been quiet for PGSTAT_SETTLE_MS.
 */
const PGSTAT_SETTLE_MS = 11000;
async function transactions(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(result.rows[0].n);
  } finally {
    await client.end();
  }
}

/**
 * Accept → bridge latency: messages posted at a steady rate through the real
 * processes (web, sending, dispatch), timed from just before the POST to the
 * moment the simulated bridge receives the push.
 */
export async function runEndToEndBench(options: { runs?: number; seconds?: number; rate?: number } = {}): Promise<Row[]> {
  const runs = options.runs ?? 3;
  const seconds = options.seconds ?? 8;
  const rate = options.rate ?? 100;
  const bench = await createBenchEnv('e2e');
  const port = 4100 + Math.floor(Math.random() * 100);
  const url = `http://127.0.0.1:${port}`;
  const env = { ...bench.env, PORT: String(port), HOST: '127.0.0.1' };
  const simulator = createSimulator({ port: 0, platformUrl: url, heartbeatIntervalMs: 20000, latencyMs: { sent: 10, delivered: 20, read: null } });
  const processes = [
    startProcess('bin/web.js', [], env),
    startProcess('bin/worker.js', ['sending'], env),
    startProcess('bin/worker.js', ['dispatch'], env),
  ];
  try {
    const { url: simulatorUrl } = await simulator.start();
    await waitForHttp(`${url}/healthz`);
    const operator = benchOperator(url, bench.adminKey);
    const tenant = await operator.tenantKey('bench', 'bench');
    await operator.simulatedLine(simulator, simulatorUrl, '+15550008888', 'bench');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const auth = { Authorization: tenant.authorization, 'Content-Type': 'application/json' };

    const p50s: number[] = [];
    const p99s: number[] = [];
    const xacts: number[] = [];
    const cpu: Record<string, number[]> = {};
    const [web, sending, dispatch] = processes;
    const named = { web, sending, dispatch };
    const restRss = Object.fromEntries(Object.entries(named).map(([name, child]) => [name, rssMb(child.pid) ?? NaN]));
    const loadRss: Record<string, number[]> = { web: [], sending: [], dispatch: [] };
    const sampler = setInterval(() => {
      for (const [name, child] of Object.entries(named)) {
        const rss = rssMb(child.pid);
        if (rss) loadRss[name].push(rss);
      }
    }, 500);
    let counter = 0;
    for (let run = 0; run < runs + 1; run += 1) {
      const warmup = run === 0;
      progress(warmup ? 'e2e: warming up' : `e2e: run ${run}/${runs} at ${rate} msg/s for ${seconds} s`);
      simulator.reset();
      if (!warmup) await new Promise((resolve) => setTimeout(resolve, PGSTAT_SETTLE_MS));
      const xactBefore = warmup ? 0 : await transactions(bench.env.DATABASE_URL);
      const meter = cpuMeter({ web: web.pid, sending: sending.pid, dispatch: dispatch.pid, 'bench + simulator': process.pid });
      const started = new Map<string, number>();
      const total = warmup ? rate : rate * seconds;
      const begin = Date.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < total; i += 1) {
        const due = begin + (i * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        counter += 1;
        const to = `+1555${String(2000000 + (counter % 7000000)).padStart(7, '0')}`;
        const sentAt = Date.now();
        inflight.push(
          fetch(`${url}/v1/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ to: to.replace(/\d$/, '8'), body: 'latency' }) })
            .then((res) => res.json() as Promise<{ data?: { message_id: string } }>)
            .then((body) => {
              if (body.data) started.set(body.data.message_id, sentAt);
            }),
        );
      }
      await Promise.all(inflight);
      const deadline = Date.now() + 30000;
      while (simulator.sends().length < started.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      // Reports (sent, delivered) go on after the push: let them settle before the CPU is read.
      await simulator.whenIdle(30000).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const perMessage = meter.stop(started.size);
      if (warmup) continue;
      await new Promise((resolve) => setTimeout(resolve, PGSTAT_SETTLE_MS));
      // The reading itself is one transaction; heartbeats add a few.
      xacts.push((await transactions(bench.env.DATABASE_URL) - xactBefore - 1) / started.size);
      for (const [name, ms] of Object.entries(perMessage)) (cpu[name] ??= []).push(ms);
      const latencies = simulator
        .sends()
        .filter((send) => started.has(send.message_id))
        .map((send) => new Date(send.received_at).getTime() - started.get(send.message_id)!);
      p50s.push(percentile(latencies, 50));
      p99s.push(percentile(latencies, 99));
      progress(`e2e: ${latencies.length}/${started.size} reached the bridge; p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`);
    }
    clearInterval(sampler);
    return [
      ...Object.keys(named).flatMap((name) => [
        summarize('rss', `${name} at rest`, [restRss[name]], 'MB'),
        summarize('rss', `${name} at ${rate} msg/s`, loadRss[name].length ? loadRss[name] : [NaN], 'MB', 'samples every 0.5 s'),
      ]),
      summarize(`accept → bridge @${rate}/s`, 'p50', p50s, 'ms', 'target ≤ 20'),
      summarize(`accept → bridge @${rate}/s`, 'p99', p99s, 'ms', 'target ≤ 60'),
      summarize(`accept → bridge @${rate}/s`, 'PostgreSQL transactions per message', xacts, 'xact', 'pg_stat_database.xact_commit; send → delivered; target ≤ 3'),
      ...Object.entries(cpu).map(([name, values]) => summarize(`accept → bridge @${rate}/s`, `CPU per message: ${name}`, values, 'ms', 'send, route, push, sent + delivered reports')),
    ];
  } finally {
    for (const child of processes) await stopProcess(child);
    await simulator.stop();
    await bench.cleanup();
  }
}

if (require.main === module) void runEndToEndBench().then(printTable);
