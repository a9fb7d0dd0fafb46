import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { printTable, progress, Row } from './lib';
import { runAcceptBench } from './accept';
import { runEndToEndBench } from './e2e';
import { runRlsBench } from './rls';

type Bench = { name: string; run: () => Promise<Row[]> };

/** Optional suites live in their own files; a suite that is not there is skipped, not faked. */
function optional(name: string, file: string, exported: string): Bench | null {
  const full = path.join(__dirname, `${file}.js`);
  if (!fs.existsSync(full)) return null;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const suite = require(full) as Record<string, () => Promise<Row[]>>;
  return typeof suite[exported] === 'function' ? { name, run: suite[exported] } : null;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const suites: Bench[] = [
    { name: 'rls', run: () => runRlsBench() },
    { name: 'accept', run: () => runAcceptBench() },
    { name: 'e2e', run: () => runEndToEndBench() },
    optional('webhooks', 'webhooks', 'runWebhookBench'),
    optional('campaign', 'campaign', 'runCampaignBench'),
  ].filter((suite): suite is Bench => suite !== null && (only.length === 0 || only.includes(suite.name)));
  const rows: Row[] = [];
  for (const suite of suites) {
    progress(`suite ${suite.name}`);
    rows.push(...(await suite.run()));
  }
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 1e9), node: process.version, loadAverage: os.loadavg() };
  printTable(rows);
  process.stdout.write(`\nmachine: ${machine.cpus} × ${machine.model}, ${machine.memoryGb} GB, node ${machine.node}, load average at end ${machine.loadAverage.map((n) => n.toFixed(2)).join(' ')}\n`);
  const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), machine, rows }, null, 2));
  fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify({ at: new Date().toISOString(), machine, rows }, null, 2));
  process.stdout.write(`written to ${path.relative(process.cwd(), file)}\n`);
}

void main();
