import crypto from 'node:crypto';
import { fork, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import IORedis from 'ioredis';
import { createDatabase, ensureDatabaseExists, migrateLatest } from '../shared/db';
import { loadConfig } from '../shared/config';

/** Shared plumbing for benchmarks: a throwaway database and queue prefix, child processes, statistics. */
export interface BenchEnv {
  env: Record<string, string>;
  databaseName: string;
  prefix: string;
  adminKey: string;
  cleanup(): Promise<void>;
}

export async function createBenchEnv(label: string): Promise<BenchEnv> {
  const id = `${label}_${Date.now().toString(36)}${crypto.randomBytes(2).toString('hex')}`;
  const base = new URL(process.env.DATABASE_URL || 'postgres://localhost:5432/postgres');
  base.pathname = `/senderz_bench_${id}`;
  const adminKey = 'bench_admin_' + crypto.randomBytes(16).toString('hex');
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: base.toString(),
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: `senderz_bench_${id}`,
    ADMIN_API_KEY: adminKey,
    ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: '1',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig(env);
  env.DATABASE_URL = config.databaseUrl;
  await ensureDatabaseExists(config.databaseUrl);
  const db = createDatabase(config);
  await migrateLatest(db.owner, config.appDatabaseRole, null);
  await db.destroy();
  return {
    env,
    databaseName: `senderz_bench_${id}`,
    prefix: env.QUEUE_PREFIX,
    adminKey,
    async cleanup() {
      // BENCH_KEEP_DB=1 keeps the database for inspection (pg_stat_user_tables, EXPLAIN) after a run.
      if (process.env.BENCH_KEEP_DB === '1') {
        progress(`kept database senderz_bench_${id}`);
        return;
      }
      const redis = new IORedis(env.REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.QUEUE_PREFIX}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
      const admin = new URL(config.databaseUrl);
      admin.pathname = '/postgres';
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(`senderz_bench_${id}`)} WITH (FORCE)`);
      await client.end();
    },
  };
}

const distRoot = path.resolve(__dirname, '..');

export function startProcess(script: string, args: string[], env: Record<string, string>): ChildProcess {
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every child on exit (what `--cpu-prof` shows is quoted in the README).
  const execArgv = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF, '--cpu-prof-name', `${path.basename(script, '.js')}-${args.join('-') || 'main'}-${Date.now()}.cpuprofile`] : [];
  return fork(path.join(distRoot, script), args, { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  // A child killed by a signal has no exit code, only a signal code: it is gone all the same.
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}

export async function waitForHttp(url: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fetch(url).then((res) => res.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up`);
}

export function rssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Math.round(Number(match[1]) / 1024) : null;
  } catch {
    return null;
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface Row {
  benchmark: string;
  metric: string;
  median: number;
  min: number;
  max: number;
  unit: string;
  note?: string;
}

export function summarize(benchmark: string, metric: string, values: number[], unit: string, note?: string): Row {
  return { benchmark, metric, median: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)), unit, note };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export function printTable(rows: Row[]): void {
  const header = ['benchmark', 'metric', 'median', 'min', 'max', 'unit', 'note'];
  const cells = rows.map((row) => [row.benchmark, row.metric, String(row.median), String(row.min), String(row.max), row.unit, row.note ?? '']);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i].length)));
  const line = (values: string[]) => '| ' + values.map((value, i) => value.padEnd(widths[i])).join(' | ') + ' |';
  process.stdout.write([line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n');
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** CPU seconds (user + system) a process has used so far, from /proc; null when it is gone. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** CPU seconds used so far by every process whose command is `name` (postgres backends, redis-server). */
export function cpuSecondsOf(name: string): number {
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== name && !comm.startsWith(`${name}:`)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // the process ended between the listing and the read
    }
  }
  return total;
}

/** CPU used by named processes between two moments, in ms per unit of work. */
export function cpuMeter(processes: Record<string, number | undefined>): { stop(units: number): Record<string, number> } {
  const read = () => {
    const values: Record<string, number> = {};
    for (const [name, pid] of Object.entries(processes)) values[name] = cpuSeconds(pid) ?? NaN;
    values.postgres = cpuSecondsOf('postgres');
    values.redis = cpuSecondsOf('redis-server');
    return values;
  };
  const before = read();
  return {
    stop(units) {
      const after = read();
      return Object.fromEntries(Object.keys(after).map((name) => [name, ((after[name] - before[name]) * 1000) / units]));
    },
  };
}

/** Operator calls a benchmark needs: a tenant without limits, its live key, and simulated lines. */
export interface BenchOperator {
  /** A tenant of plan `scale` without any limit, and a live key without a rate limit: the `Authorization` header. */
  tenantKey(name: string, pool: string): Promise<{ tenantId: string; authorization: string }>;
  /** A pooled line (no per-minute cap, no warm-up) at `bridgeUrl`, for `pool`. */
  line(options: { phone: string; pool: string; bridgeUrl: string; secret: string; capabilities?: { imessage: boolean; sms: boolean; rcs: boolean } }): Promise<string>;
  /** A line served by the in-process device simulator: registered there and online. */
  simulatedLine(simulator: { registerLine(line: { line_id: string; phone_number: string; secret: string }): unknown; heartbeat(lineId: string): unknown }, simulatorUrl: string, phone: string, pool: string): Promise<string>;
}

export function benchOperator(url: string, adminKey: string): BenchOperator {
  const post = async (path: string, body: object): Promise<Record<string, string>> => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const answer = (await res.json()) as { data?: Record<string, string> };
    if (!res.ok || !answer.data) throw new Error(`${path}: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
    return answer.data;
  };
  const operator: BenchOperator = {
    async tenantKey(name, pool) {
      const unlimited = { requests_per_minute: null, new_contacts_per_day: null, new_contacts_per_month: null, messages_per_day: null };
      const tenant = await post('/admin/tenants', { name, plan: 'scale', pool, limits: unlimited });
      const key = await post('/admin/api-keys', { tenant_id: tenant.id, name: 'bench', prefix: 'tf_live', rate_limit: null });
      return { tenantId: tenant.id, authorization: `Bearer ${key.key}` };
    },
    async line({ phone, pool, bridgeUrl, secret, capabilities }) {
      const line = await post('/admin/phone-lines', {
        phone_number: phone,
        bridge_url: bridgeUrl,
        secret,
        capabilities: capabilities ?? { imessage: true, sms: true, rcs: false },
        mode: 'pooled',
        pool,
        max_per_minute: null,
        warmup: false,
      });
      return line.id;
    },
    async simulatedLine(simulator, simulatorUrl, phone, pool) {
      const secret = crypto.randomBytes(32).toString('hex');
      const lineId = await operator.line({ phone, pool, bridgeUrl: `${simulatorUrl}/lines/${encodeURIComponent(phone)}`, secret });
      simulator.registerLine({ line_id: lineId, phone_number: phone, secret });
      simulator.heartbeat(lineId);
      return lineId;
    },
  };
  return operator;
}

/**
 * Transactions committed and rolled back in a bench database so far
 * (pg_stat_database). Backends report their counts when idle for a while, so
 * read it after the pipeline has been quiet for PGSTAT_SETTLE_MS.
 */
export const PGSTAT_SETTLE_MS = 11000;
export async function transactions(databaseUrl: string): Promise<number> {
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
 * When each message was accepted (its `queued` history row) and routed (its
 * `sending` row), from PostgreSQL's clock, which is this machine's: with the
 * POST's start and the bridge's receipt it splits a send's latency into
 * accept, route (queue wait included) and dispatch.
 */
export async function stageTimes(databaseUrl: string, messageIds: string[]): Promise<Map<string, { queued: number; sending: number }>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query(
      `SELECT message_id, min(occurred_at) FILTER (WHERE status = 'queued') AS queued, min(occurred_at) FILTER (WHERE status = 'sending') AS sending
         FROM message_events WHERE message_id = ANY($1) GROUP BY message_id`,
      [messageIds],
    );
    const times = new Map<string, { queued: number; sending: number }>();
    for (const row of result.rows as { message_id: string; queued: Date | null; sending: Date | null }[]) {
      if (row.queued && row.sending) times.set(row.message_id, { queued: row.queued.getTime(), sending: row.sending.getTime() });
    }
    return times;
  } finally {
    await client.end();
  }
}

/** p50 and p99 of each stage of the sends given (POST → accepted, accepted → routed, routed → at the bridge), by metric name. */
export function stagePercentiles(
  sends: { messageId: string; postedAt: number; atBridge: number }[],
  times: Map<string, { queued: number; sending: number }>,
): Record<string, number> {
  const stages: Record<string, number[]> = { 'POST → accepted': [], 'accepted → routed': [], 'routed → at the bridge': [] };
  for (const send of sends) {
    const time = times.get(send.messageId);
    if (!time) continue;
    stages['POST → accepted'].push(time.queued - send.postedAt);
    stages['accepted → routed'].push(time.sending - time.queued);
    stages['routed → at the bridge'].push(send.atBridge - time.sending);
  }
  return Object.fromEntries(Object.entries(stages).flatMap(([stage, values]) => [[`${stage}, p50`, percentile(values, 50)], [`${stage}, p99`, percentile(values, 99)]]));
}

/** A TCP port nothing listens on right now (a random port in a fixed range can collide with a process still closing). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
