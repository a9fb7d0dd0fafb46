import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { deleteRedisPrefix, harness, testEnv } from '../helpers/harness';

const START = path.resolve(__dirname, '..', '..', 'bin', 'start.js');
const SIMULATOR_CLI = path.resolve(__dirname, '..', '..', 'simulator', 'cli.js');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Started {
  child: ChildProcess;
  output: string;
  apiPort: number;
  simulatorPort: number;
}

/** `npm start` as a user runs it (node dist/bin/start.js), in `cwd`, until it prints its banner. */
async function startPlatform(cwd: string, env: Record<string, string>): Promise<Started> {
  const apiPort = await freePort();
  const simulatorPort = await freePort();
  const child = spawn(process.execPath, [START], { cwd, env: { ...process.env, ...env, PORT: String(apiPort), SIMULATOR_PORT: String(simulatorPort), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60000;
  while (!output.includes('senderz is running at') && Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
  if (!output.includes('senderz is running at')) {
    child.kill('SIGKILL');
    throw new Error(`npm start did not come up:\n${output.slice(-2000)}`);
  }
  return { child, get output() { return output; }, apiPort, simulatorPort };
}

async function stop(started: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => started.child.once('exit', (code) => resolve(code)));
  started.child.kill('SIGTERM');
  return exited;
}

function withoutControlToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.SIMULATOR_CONTROL_TOKEN;
  return copy;
}

async function simulatorAnswers(port: number, token?: string): Promise<number> {
  for (let i = 0; i < 50; i += 1) {
    const res = await fetch(`http://127.0.0.1:${port}/control/lines`, { headers: token ? { Authorization: `Bearer ${token}` } : {} }).catch(() => null);
    if (res) return res.status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the simulator did not answer');
}

describe('npm start', function () {
  this.timeout(180000);
  const runId = `${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;
  const databaseName = `senderz_test_start_${runId}`;
  const base = testEnv(databaseName, `senderz_test_start_${runId}`);
  const env: Record<string, string> = { DATABASE_URL: base.DATABASE_URL, REDIS_URL: base.REDIS_URL, QUEUE_PREFIX: base.QUEUE_PREFIX, NODE_ENV: 'development' };
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'senderz-start-'));

  after(async () => {
    await deleteRedisPrefix(harness().redis, base.QUEUE_PREFIX);
    const admin = new URL(harness().config.databaseUrl);
    admin.pathname = '/postgres';
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(databaseName)} WITH (FORCE)`);
    await client.end();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it('when started without ADMIN_API_KEY, then it prints the admin key it generated, the simulator\'s control API needs the generated token, and SIGTERM stops the tree with 0', async () => {
    const started = await startPlatform(cwd, env);
    try {
      const secrets = JSON.parse(fs.readFileSync(path.join(cwd, '.senderz', 'secrets.json'), 'utf8')) as { adminApiKey: string; simulatorControlToken: string };
      expect(started.output).to.contain(`Admin key:       ${secrets.adminApiKey}`);
      expect(started.output).not.to.contain(secrets.simulatorControlToken);
      expect(await simulatorAnswers(started.simulatorPort)).to.equal(401);
      expect(await simulatorAnswers(started.simulatorPort, 'not-the-token')).to.equal(401);
      expect(await simulatorAnswers(started.simulatorPort, secrets.simulatorControlToken)).to.equal(200);
      // The simulator's CLI, run from the same folder, finds the token in .senderz/secrets.json.
      const cli = spawnSync(process.execPath, [SIMULATOR_CLI, 'lines', '--url', `http://127.0.0.1:${started.simulatorPort}`], { cwd, env: withoutControlToken(process.env), encoding: 'utf8' });
      expect(cli.status, cli.stderr + cli.stdout).to.equal(0);
      expect(JSON.parse(cli.stdout)).to.have.property('lines').that.is.an('array');
      const health = await fetch(`http://127.0.0.1:${started.apiPort}/readyz`);
      expect(health.status).to.equal(200);
    } finally {
      expect(await stop(started)).to.equal(0);
    }
  });

  it('when ADMIN_API_KEY is set, then npm start never prints it, and the key works', async () => {
    const adminKey = 'operator_' + crypto.randomBytes(16).toString('hex');
    const started = await startPlatform(cwd, { ...env, ADMIN_API_KEY: adminKey });
    try {
      expect(started.output).not.to.contain(adminKey);
      expect(started.output).to.contain('Admin key:       from ADMIN_API_KEY');
      const tenants = await fetch(`http://127.0.0.1:${started.apiPort}/admin/tenants`, { headers: { Authorization: `Bearer ${adminKey}` } });
      expect(tenants.status).to.equal(200);
    } finally {
      expect(await stop(started)).to.equal(0);
    }
  });
});
