import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { printTable, progress, Row } from './lib';
import { runAcceptBench } from './accept';
import { runEndToEndBench } from './e2e';
import { runClusterEndToEndBench } from './e2e-cluster';
import { runRlsBench } from './rls';

// The in-process simulator logs every push at info: that would be most of the output and take CPU from the run.
process.env.LOG_LEVEL ??= 'warn';

type Bench = { name: string; run: () => Promise<Row[]> };

/** Optional suites live in their own files; a suite that is not there is skipped, not faked. */
function optional(name: string, file: string, exported: string): Bench | null {
  const full = path.join(__dirname, `${file}.js`);
  if (!fs.existsSync(full)) return null;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const suite = require(full) as Record<string, () => Promise<Row[]>>;
  return typeof suite[exported] === 'function' ? { name, run: suite[exported] } : null;
}

/** The e2e latency run at 100 msg/s once per STATEMENT_GATHER_MS value: transactions a message against latency. */
async function runGatherWindows(windows: number[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const window of windows) {
    progress(`gather: STATEMENT_GATHER_MS=${window}`);
    rows.push(...(await runEndToEndBench({ rate: 100, env: { STATEMENT_GATHER_MS: String(window) }, variant: `STATEMENT_GATHER_MS=${window}` })));
  }
  return rows;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const suites: Bench[] = [
    { name: 'rls', run: () => runRlsBench() },
    { name: 'accept', run: () => runAcceptBench() },
    // The target rate, and a lower one that shows the pipeline's latency when it is not saturated.
    { name: 'e2e', run: async () => [...(await runEndToEndBench({ rate: 100, burst: 3000 })), ...(await runEndToEndBench({ rate: 30 }))] },
    optional('webhooks', 'webhooks', 'runWebhookBench'),
    optional('campaign', 'campaign', 'runCampaignBench'),
    optional('scaling', 'scaling', 'runScalingBench'),
  ]
    .filter((suite): suite is Bench => suite !== null && (only.length === 0 || only.includes(suite.name)))
    // Opt-in (it starts a Redis Cluster of its own): `npm run bench -- e2e-cluster`.
    .concat(only.includes('e2e-cluster') ? [{ name: 'e2e-cluster', run: () => runClusterEndToEndBench() }] : [])
    // Opt-in: `npm run bench -- gather`, the 100 msg/s latency run at three gather windows (README "Gather window").
    .concat(only.includes('gather') ? [{ name: 'gather', run: () => runGatherWindows([0, 4, 8]) }] : []);
  const rows: Row[] = [];
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const started = new Date().toISOString();
  const file = path.join(dir, `bench-${started.replace(/[:.]/g, '-')}.json`);
  const machine = () => ({ cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 1e9), node: process.version, loadAverage: os.loadavg() });
  // Written after every suite, so a long run that stops part-way keeps what it measured.
  const save = () => {
    const report = JSON.stringify({ at: started, machine: machine(), rows }, null, 2);
    fs.writeFileSync(file, report);
    fs.writeFileSync(path.join(dir, 'latest.json'), report);
  };
  // A suite waiting only on promises must not let the process end early.
  const keepAlive = setInterval(() => undefined, 60000);
  let finished = false;
  process.on('beforeExit', () => {
    if (!finished) progress('stopped before every suite had finished');
  });
  for (const suite of suites) {
    progress(`suite ${suite.name}`);
    try {
      rows.push(...(await suite.run()));
    } catch (error) {
      progress(`suite ${suite.name} failed: ${(error as Error).stack ?? String(error)}`);
      rows.push({ benchmark: suite.name, metric: 'failed', median: NaN, min: NaN, max: NaN, unit: '', note: String((error as Error).message).slice(0, 120) });
    }
    save();
    printTable(rows);
  }
  clearInterval(keepAlive);
  finished = true;
  const info = machine();
  process.stdout.write(`\nmachine: ${info.cpus} × ${info.model}, ${info.memoryGb} GB, node ${info.node}, load average at end ${info.loadAverage.map((n) => n.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`written to ${path.relative(process.cwd(), file)}\n`);
}

void main();
