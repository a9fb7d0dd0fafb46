import type { ChildProcess } from 'node:child_process';
import pino from 'pino';
import { createSimulator, Simulator } from '../simulator/server';
import { benchOperator, createBenchEnv, printTable, progress, Row, startProcess, stopProcess, summarize, waitForHttp, freePort } from './lib';

/**
 * Horizontal scaling: the same burst of sends through 1 and then 2 processes
 * of each of the sending and dispatch pools, all against one PostgreSQL, one
 * Redis and one API process. Throughput is messages per second from the first
 * accepted POST to the last push the simulated bridges received. Every run is
 * also checked for duplicate dispatches (two dispatch ids reaching a bridge for
 * one message); any duplicate is printed and makes the process exit non-zero.
 *
 * Pools run at their default concurrency, as shipped. Their PostgreSQL pools
 * are sized concurrency + 4 per process (web 20, sending 20, dispatch 36), so
 * 2 + 2 processes may open ~130 connections under a burst: more than a
 * default max_connections of 100 when the cluster is shared (refused sends
 * are counted in the note). SCALING_MESSAGES and SCALING_RUNS shrink a run.
 */
export interface ScalingOptions {
  runs?: number;
  messages?: number;
  /** POSTs in flight at once while the burst is accepted. */
  concurrency?: number;
  lines?: number;
  /** Process counts to compare, as [sending, dispatch]. */
  configurations?: Array<[number, number]>;
}

interface BurstResult {
  seconds: number;
  accepted: number;
  /** Answers other than 202, by status. */
  refused: Record<string, number>;
  duplicates: number;
  missing: number;
}

async function burst(url: string, auth: Record<string, string>, simulator: Simulator, count: number, concurrency: number, firstNumber: number): Promise<BurstResult> {
  simulator.reset();
  const ids = new Set<string>();
  const refused: Record<string, number> = {};
  let firstAccept = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next;
      next += 1;
      const to = `+1555${String(firstNumber + index).padStart(7, '0')}`;
      const res = await fetch(`${url}/v1/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ to, body: 'scaling' }) }).catch(() => null);
      const body = res ? ((await res.json().catch(() => ({}))) as { data?: { message_id: string } }) : {};
      if (res?.status === 202 && body.data) {
        if (firstAccept === 0) firstAccept = Date.now();
        ids.add(body.data.message_id);
      } else {
        const status = res ? String(res.status) : 'no answer';
        refused[status] = (refused[status] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  // Polled slowly: sends() copies every record, and this process must not take CPU from the platform's.
  // The receipt times come from the records themselves, so the polling interval costs no precision.
  const deadline = Date.now() + 180000;
  const reached = () => new Set(simulator.sends().filter((send) => ids.has(send.message_id)).map((send) => send.message_id)).size;
  while (reached() < ids.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  const sends = simulator.sends().filter((send) => ids.has(send.message_id));
  const lastReceipt = Math.max(...sends.map((send) => new Date(send.received_at).getTime()));
  const perMessage = new Map<string, Set<string>>();
  for (const send of sends) perMessage.set(send.message_id, (perMessage.get(send.message_id) ?? new Set()).add(send.dispatch_id));
  const duplicates = [...perMessage.values()].filter((dispatches) => dispatches.size > 1).length;
  // Let the reports of this burst drain before the next one starts.
  const settleDeadline = Date.now() + 60000;
  while (simulator.sends().some((send) => !send.reported.includes('delivered')) && Date.now() < settleDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await simulator.whenIdle(30000).catch(() => undefined);
  return { seconds: (lastReceipt - firstAccept) / 1000, accepted: ids.size, refused, duplicates, missing: ids.size - perMessage.size };
}

export async function runScalingBench(options: ScalingOptions = {}): Promise<Row[]> {
  const runs = options.runs ?? Number(process.env.SCALING_RUNS || 3);
  const messages = options.messages ?? Number(process.env.SCALING_MESSAGES || 3000);
  const concurrency = options.concurrency ?? 32;
  const lineCount = options.lines ?? 4;
  const configurations = options.configurations ?? [
    [1, 1],
    [2, 2],
  ];
  const bench = await createBenchEnv('scaling');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { ...bench.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  const simulator = createSimulator({ port: 0, platformUrl: url, heartbeatIntervalMs: 20000, latencyMs: { sent: 10, delivered: 20, read: null }, imessageRule: 'all', logger: pino({ level: 'warn' }) });
  const web = startProcess('bin/web.js', [], env);
  let workers: ChildProcess[] = [];
  const rows: Row[] = [];
  let failures = 0;
  try {
    const { url: simulatorUrl } = await simulator.start();
    await waitForHttp(`${url}/healthz`);
    const operator = benchOperator(url, bench.adminKey);
    const tenant = await operator.tenantKey('scaling', 'scaling');
    for (let i = 0; i < lineCount; i += 1) await operator.simulatedLine(simulator, simulatorUrl, `+1555000${7000 + i}`, 'scaling');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const auth = { Authorization: tenant.authorization, 'Content-Type': 'application/json' };

    let numbers = 0;
    for (const [sending, dispatch] of configurations) {
      const label = `${sending} sending + ${dispatch} dispatch`;
      workers = [
        ...Array.from({ length: sending }, () => startProcess('bin/worker.js', ['sending'], env)),
        ...Array.from({ length: dispatch }, () => startProcess('bin/worker.js', ['dispatch'], env)),
      ];
      progress(`scaling: ${label}: warming up`);
      await burst(url, auth, simulator, 200, concurrency, numbers);
      numbers += 200;
      const throughputs: number[] = [];
      let duplicates = 0;
      let missing = 0;
      let refusedTotal = 0;
      for (let run = 1; run <= runs; run += 1) {
        const result = await burst(url, auth, simulator, messages, concurrency, numbers);
        numbers += messages;
        throughputs.push(result.accepted / result.seconds);
        duplicates += result.duplicates;
        missing += result.missing;
        refusedTotal += Object.values(result.refused).reduce((sum, count) => sum + count, 0);
        progress(`scaling: ${label}: run ${run}/${runs}: ${result.accepted} accepted (refused ${JSON.stringify(result.refused)}), ${(result.accepted / result.seconds).toFixed(0)} msg/s, ${result.duplicates} dispatched twice, ${result.missing} never reached a bridge`);
      }
      if (duplicates > 0 || missing > 0) {
        failures += 1;
        process.stderr.write(`[bench] scaling: ${label}: ${duplicates} message(s) dispatched twice, ${missing} never reached a bridge\n`);
      }
      const note = duplicates === 0 && missing === 0 ? 'no duplicate dispatches' : `DUPLICATES ${duplicates}, MISSING ${missing}`;
      rows.push(summarize(`burst of ${messages}, ${label}`, 'accept → last bridge receipt', throughputs, 'msg/s', refusedTotal > 0 ? `${note}; ${refusedTotal} sends refused` : note));
      for (const child of workers) await stopProcess(child);
      workers = [];
    }
    if (rows.length === 2) {
      const ratio = rows[1].median / rows[0].median;
      rows.push({ benchmark: 'scaling factor', metric: `${configurations[1].join('+')} vs ${configurations[0].join('+')}`, median: Math.round(ratio * 100) / 100, min: Math.round(ratio * 100) / 100, max: Math.round(ratio * 100) / 100, unit: '×', note: 'ratio of medians' });
    }
    if (failures > 0) process.exitCode = 1;
    return rows;
  } finally {
    for (const child of workers) await stopProcess(child);
    await stopProcess(web);
    await simulator.stop();
    await bench.cleanup();
  }
}

if (require.main === module) void runScalingBench().then(printTable);
