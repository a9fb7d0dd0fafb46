import type { ChildProcess } from 'node:child_process';
import { createSimulator } from '../simulator/server';
import { POOLS } from '../workers/pools';
import { benchOperator, cpuMeter, createBenchEnv, percentile, PGSTAT_SETTLE_MS, rssMb, printTable, progress, Row, stagePercentiles, stageTimes, startProcess, stopProcess, summarize, transactions, waitForHttp, freePort } from './lib';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How long the simulated bridge holds a line's events for others to join the
 * same post: 20 ms, as a bridge under load would (BENCH_EVENT_FLUSH_MS=0 posts
 * each turn's events at once).
 */
function eventFlushMs(): number {
  const value = Number(process.env.BENCH_EVENT_FLUSH_MS ?? 20);
  return Number.isInteger(value) && value >= 0 ? value : 20;
}

/**
 * Accept → bridge through the processes `npm start` runs on one box: the web
 * process, every pool in one worker process, and the scheduler (the device
 * simulator runs in this process). Two measures:
 * - latency: messages posted at a steady `rate`, timed from just before the
 *   POST to the moment the simulated bridge receives the push; the bridge's
 *   `sent` and `delivered` reports flow back meanwhile;
 * - capacity: `burst` messages posted by 64 concurrent clients as fast as the
 *   platform takes them, timed from the first POST to the last push, with
 *   every message required to reach the bridge exactly once.
 * Both report CPU ms per message of each process and of PostgreSQL and Redis,
 * PostgreSQL transactions per message, and memory.
 */
export async function runEndToEndBench(
  options: { runs?: number; seconds?: number; rate?: number; burst?: number; /** Added to the processes' environment (e.g. REDIS_CLUSTER_NODES). */ env?: Record<string, string>; /** Appended to every row's benchmark name. */ variant?: string } = {},
): Promise<Row[]> {
  const runs = options.runs ?? 3;
  const seconds = options.seconds ?? 8;
  const rate = options.rate ?? 100;
  const burst = options.burst ?? 0;
  const bench = await createBenchEnv('e2e');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { ...bench.env, ...options.env, PORT: String(port), HOST: '127.0.0.1' };
  const simulator = createSimulator({ port: 0, platformUrl: url, heartbeatIntervalMs: 20000, eventFlushMs: eventFlushMs(), latencyMs: { sent: 10, delivered: 20, read: null } });
  const named: Record<string, ChildProcess> = {
    web: startProcess('bin/web.js', [], env),
    workers: startProcess('bin/worker.js', Object.keys(POOLS), env),
    scheduler: startProcess('bin/scheduler.js', [], env),
  };
  const variant = options.variant ? ` (${options.variant})` : '';
  const label = `accept → bridge @${rate}/s${variant}`;
  try {
    const { url: simulatorUrl } = await simulator.start();
    await waitForHttp(`${url}/healthz`);
    const operator = benchOperator(url, bench.adminKey);
    const tenant = await operator.tenantKey('bench', 'bench');
    await operator.simulatedLine(simulator, simulatorUrl, '+15550008888', 'bench');
    await sleep(1000);
    const auth = { Authorization: tenant.authorization, 'Content-Type': 'application/json' };
    const pids = Object.fromEntries(Object.entries(named).map(([name, child]) => [name, child.pid]));
    const restRss = Object.fromEntries(Object.keys(named).map((name) => [name, rssMb(pids[name]) ?? NaN]));
    const loadRss: Record<string, number[]> = Object.fromEntries(Object.keys(named).map((name) => [name, []]));
    const treeRss: number[] = [];
    const sampler = setInterval(() => {
      let tree = 0;
      for (const name of Object.keys(named)) {
        const rss = rssMb(pids[name]);
        if (rss) loadRss[name].push(rss);
        tree += rss ?? 0;
      }
      treeRss.push(tree);
    }, 500);

    let counter = 0;
    const post = (started: Map<string, number>) => {
      counter += 1;
      const to = `+1555${String(2000000 + (counter % 7000000)).padStart(7, '0')}`;
      const sentAt = Date.now();
      return fetch(`${url}/v1/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ to, body: 'latency' }) })
        .then((res) => res.json() as Promise<{ data?: { message_id: string } }>)
        .then((body) => {
          if (body.data) started.set(body.data.message_id, sentAt);
        });
    };
    /** Waits until every accepted message reached the bridge and the reports are in. */
    const settle = async (started: Map<string, number>) => {
      const deadline = Date.now() + 60000;
      while (simulator.sendCount() < started.size && Date.now() < deadline) await sleep(50);
      await simulator.whenIdle(30000).catch(() => undefined);
      await sleep(1000);
    };

    const p50s: number[] = [];
    const p99s: number[] = [];
    const xacts: number[] = [];
    const cpu: Record<string, number[]> = {};
    const stages: Record<string, number[]> = {};
    for (let run = 0; run < runs + 1; run += 1) {
      const warmup = run === 0;
      progress(warmup ? 'e2e: warming up' : `e2e: run ${run}/${runs} at ${rate} msg/s for ${seconds} s`);
      simulator.reset();
      if (!warmup) await sleep(PGSTAT_SETTLE_MS);
      const xactBefore = warmup ? 0 : await transactions(bench.env.DATABASE_URL);
      const meter = cpuMeter({ ...pids, 'bench + simulator': process.pid });
      const started = new Map<string, number>();
      const total = warmup ? rate * 2 : rate * seconds;
      const begin = Date.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < total; i += 1) {
        const wait = begin + (i * 1000) / rate - Date.now();
        if (wait > 0) await sleep(wait);
        inflight.push(post(started));
      }
      await Promise.all(inflight);
      await settle(started);
      const perMessage = meter.stop(started.size);
      if (warmup) continue;
      await sleep(PGSTAT_SETTLE_MS);
      // The reading itself is one transaction; heartbeats and scheduler ticks add a few.
      xacts.push((await transactions(bench.env.DATABASE_URL)) - xactBefore - 1);
      xacts[xacts.length - 1] /= started.size;
      for (const [name, ms] of Object.entries(perMessage)) (cpu[name] ??= []).push(ms);
      const arrived = simulator.sends().filter((send) => started.has(send.message_id));
      const latencies = arrived.map((send) => new Date(send.received_at).getTime() - started.get(send.message_id)!);
      const times = await stageTimes(bench.env.DATABASE_URL, arrived.map((send) => send.message_id));
      const perStage = stagePercentiles(arrived.map((send) => ({ messageId: send.message_id, postedAt: started.get(send.message_id)!, atBridge: new Date(send.received_at).getTime() })), times);
      for (const [metric, value] of Object.entries(perStage)) (stages[metric] ??= []).push(value);
      p50s.push(percentile(latencies, 50));
      p99s.push(percentile(latencies, 99));
      progress(`e2e: ${latencies.length}/${started.size} reached the bridge; p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`);
    }

    const rows: Row[] = [
      summarize(label, 'p50', p50s, 'ms', 'target ≤ 20'),
      summarize(label, 'p99', p99s, 'ms', 'target ≤ 60'),
      ...Object.entries(stages).map(([metric, values]) => summarize(label, metric, values, 'ms', 'stage of the above, from the history rows (PostgreSQL clock)')),
      summarize(label, 'PostgreSQL transactions per message', xacts, 'xact', 'pg_stat_database; send → delivered; target ≤ 3'),
      ...Object.entries(cpu).map(([name, values]) => summarize(label, `CPU per message: ${name}`, values, 'ms', 'send, route, push, sent + delivered reports')),
    ];

    if (burst > 0) {
      const capacities: number[] = [];
      const burstCpu: Record<string, number[]> = {};
      const burstXacts: number[] = [];
      let duplicates = 0;
      let missing = 0;
      for (let run = 1; run <= runs; run += 1) {
        progress(`e2e: capacity run ${run}/${runs}, ${burst} messages from 64 clients`);
        simulator.reset();
        await sleep(PGSTAT_SETTLE_MS);
        const xactBefore = await transactions(bench.env.DATABASE_URL);
        const meter = cpuMeter({ ...pids, 'bench + simulator': process.pid });
        const started = new Map<string, number>();
        const begin = Date.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 64 }, async () => {
            while (next < burst) {
              next += 1;
              await post(started);
            }
          }),
        );
        const deadline = Date.now() + 120000;
        // sendCount(), not sends(): copying every record each 20 ms would take CPU from the run.
        while (simulator.sendCount() < started.size && Date.now() < deadline) await sleep(20);
        const sends = simulator.sends().filter((send) => started.has(send.message_id));
        const last = Math.max(...sends.map((send) => new Date(send.received_at).getTime()));
        capacities.push((sends.length * 1000) / (last - begin));
        duplicates += sends.length - new Set(sends.map((send) => send.message_id)).size;
        missing += started.size - new Set(sends.map((send) => send.message_id)).size;
        await settle(started);
        for (const [name, ms] of Object.entries(meter.stop(started.size))) (burstCpu[name] ??= []).push(ms);
        await sleep(PGSTAT_SETTLE_MS);
        burstXacts.push(((await transactions(bench.env.DATABASE_URL)) - xactBefore - 1) / started.size);
        progress(`e2e: capacity ${capacities[capacities.length - 1].toFixed(0)} msg/s (${sends.length}/${started.size} at the bridge)`);
      }
      const capacityLabel = `capacity (${burst} msgs, 64 clients)${variant}`;
      rows.push(
        summarize(capacityLabel, 'accept → bridge throughput', capacities, 'msg/s', `target ≥ 400; not at the bridge: ${missing}, pushed twice: ${duplicates}`),
        summarize(capacityLabel, 'PostgreSQL transactions per message', burstXacts, 'xact', 'send → delivered'),
        ...Object.entries(burstCpu).map(([name, values]) => summarize(capacityLabel, `CPU per message: ${name}`, values, 'ms', 'send, route, push, sent + delivered reports')),
      );
    }

    clearInterval(sampler);
    rows.push(
      ...Object.keys(named).flatMap((name) => [
        summarize(`rss (npm start layout)${variant}`, `${name} at rest`, [restRss[name]], 'MB'),
        summarize(`rss (npm start layout)${variant}`, `${name} under load`, loadRss[name].length ? loadRss[name] : [NaN], 'MB', 'samples every 0.5 s; target ≤ 150'),
      ]),
      summarize(`rss (npm start layout)${variant}`, 'whole tree under load', treeRss.length ? treeRss : [NaN], 'MB', 'web + workers + scheduler (npm start adds its supervisor and the simulator); target ≤ 600'),
    );
    return rows;
  } finally {
    for (const child of Object.values(named)) await stopProcess(child);
    await simulator.stop();
    await bench.cleanup();
  }
}

if (require.main === module) void runEndToEndBench().then(printTable);
