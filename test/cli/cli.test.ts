import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { expect } from 'chai';
import { buildProgram } from '../../cli/index';
import { createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { RunningPlatform, startPlatform } from '../helpers/platform';

/** The compiled CLI, as `npm install` leaves it (bin `senderz` → dist/cli/index.js). */
const CLI = path.resolve(__dirname, '..', '..', 'cli', 'index.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function json<T = Record<string, unknown>>(result: Run): T {
  expect(result.code, `exit code; stderr: ${result.stderr}`).to.equal(0);
  return JSON.parse(result.stdout.trim()) as T;
}

describe('senderz CLI (compiled, as a child process)', function () {
  // Each step starts a Node process: generous under a loaded CI machine.
  this.timeout(60000);
  let platform: RunningPlatform;
  let tenant: TestTenant;
  let env: Record<string, string>;

  before(async function () {
    platform = await startPlatform({ pools: ['sending', 'dispatch', 'campaigns'] });
    const pool = `p-cli-${crypto.randomBytes(3).toString('hex')}`;
    tenant = await createTenant({ pool });
    await platform.addLine({ pool });
    env = { SENDERZ_URL: platform.url, SENDERZ_API_KEY: tenant.key, SENDERZ_ADMIN_KEY: harness().config.adminApiKey };
  });

  after(async function () {
    this.timeout(20000);
    await platform.stop();
  });

  it('when the program is built, then it has the documented commands', () => {
    const names = (command: ReturnType<typeof buildProgram>): string[] => command.commands.flatMap((sub) => [sub.name(), ...names(sub).map((inner) => `${sub.name()} ${inner}`)]);
    expect(names(buildProgram())).to.include.members(['send', 'message', 'tail', 'contacts import', 'admin tenants create', 'admin keys create', 'admin lines create', 'admin lines list']);
  });

  it('when `send --json` runs, then it prints the queued message as one JSON line', async () => {
    const accepted = json<{ message_id: string; status: string; channel: string }>(await run(['send', '--to', '+15551234570', '--body', 'from the CLI', '--json'], env));
    expect(accepted.status).to.equal('queued');
    expect(accepted.message_id).to.match(/^[0-9A-Z]{26}$/);
    expect(accepted.channel).to.equal('auto');
  });

  it('when `send --wait` and then `message <id> --json` run, then the message is delivered and its events are listed in order', async () => {
    const delivered = json<{ id: string; status: string }>(await run(['send', '--to', '+15551234571', '--body', 'wait for me', '--wait', '--json'], env));
    expect(['delivered', 'read']).to.include(delivered.status);
    const shown = json<{ message: { id: string; body: string }; events: { sequence: number; status: string }[] }>(await run(['message', delivered.id, '--json'], env));
    expect(shown.message).to.include({ id: delivered.id, body: 'wait for me' });
    expect(shown.events.map((event) => event.status)).to.include.members(['queued', 'sent', 'delivered']);
    const human = await run(['message', delivered.id], env);
    expect(human.code).to.equal(0);
    expect(human.stdout).to.contain(delivered.id).and.to.contain('delivered');
  });

  it('when flags are given, then they win over the environment (--url, --api-key)', async () => {
    const accepted = json<{ message_id: string }>(
      await run(['--url', platform.url, '--api-key', tenant.testKey, '--json', 'send', '--to', '+15555550001', '--body', 'sandbox via flags'], { SENDERZ_URL: 'http://127.0.0.1:9', SENDERZ_API_KEY: 'tf_live_wrong' }),
    );
    expect(accepted.message_id).to.match(/^sb_/);
  });

  it('when a message is unknown, then exit 1 and the error envelope (code, status, request id) on stderr', async () => {
    const result = await run(['message', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--json'], env);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal('');
    const error = JSON.parse(result.stderr.trim()) as { code: string; status: number; request_id: string };
    expect(error).to.include({ code: 'NOT_FOUND', status: 404 });
    expect(error.request_id).to.match(/^[0-9A-Z]{26}$/);

    const invalid = await run(['send', '--to', '12345', '--body', 'x'], env);
    expect(invalid.code).to.equal(1);
    expect(invalid.stderr).to.contain('VALIDATION_ERROR').and.to.contain('to:');

    const noKey = await run(['send', '--to', '+15551234570', '--body', 'x'], { SENDERZ_URL: platform.url });
    expect(noKey.code).to.equal(2);
    expect(noKey.stderr).to.contain('SENDERZ_API_KEY');
  });

  it('when the operator creates a tenant, a key and a line with --json, then each prints the created record and the key works', async () => {
    const created = json<{ id: string; name: string; plan: string; status: string }>(await run(['admin', 'tenants', 'create', '--name', 'CLI Co', '--plan', 'growth', '--json'], env));
    expect(created).to.include({ name: 'CLI Co', plan: 'growth', status: 'active' });

    const key = json<{ key: string; tenant_id: string; prefix: string }>(await run(['admin', 'keys', 'create', '--tenant', created.id, '--prefix', 'tf_test', '--json'], env));
    expect(key.tenant_id).to.equal(created.id);
    expect(key.key).to.match(/^tf_test_/);
    const sent = json<{ message_id: string }>(await run(['send', '--to', '+15555550001', '--body', 'new tenant', '--json'], { ...env, SENDERZ_API_KEY: key.key }));
    expect(sent.message_id).to.match(/^sb_/);

    const number = `+1555880${String(crypto.randomInt(1000, 9999))}`;
    const line = json<{ id: string; phone_number: string; mode: string; tenant_id: string; status: string }>(
      await run(['admin', 'lines', 'create', '--number', number, '--bridge-url', 'http://127.0.0.1:9/lines/x', '--secret', 's'.repeat(40), '--mode', 'dedicated', '--tenant', created.id, '--capabilities', 'imessage,sms,rcs', '--json'], env),
    );
    expect(line).to.include({ phone_number: number, mode: 'dedicated', tenant_id: created.id, status: 'offline' });
    const listed = json<{ id: string }[]>(await run(['admin', 'lines', 'list', '--json'], env));
    expect(listed.map((item) => item.id)).to.include(line.id);
    const tenants = json<{ id: string }[]>(await run(['admin', 'tenants', 'list', '--json'], env));
    expect(tenants.map((item) => item.id)).to.include(created.id);

    const refused = await run(['admin', 'tenants', 'list', '--json'], { ...env, SENDERZ_ADMIN_KEY: 'wrong' });
    expect(refused.code).to.equal(1);
    expect(JSON.parse(refused.stderr)).to.include({ status: 401 });
  });

  it('when `contacts import <file.csv>` runs, then it waits for the job and reports created rows and per-row errors', async function () {
    const own = await createTenant();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'senderz-cli-')), 'contacts.csv');
    fs.writeFileSync(file, 'phone_number,name,email\n+15551110001,Ada,ada@example.com\n+15551110002,Grace,\nnot-a-number,Bad,\n');
    const done = json<{ status: string; created: number; failed: number; errors: { row: number; field: string }[] }>(await run(['contacts', 'import', file, '--json'], { ...env, SENDERZ_API_KEY: own.key }));
    expect(done).to.include({ status: 'completed', created: 2, failed: 1 });
    expect(done.errors).to.have.length(1);
    expect(done.errors[0]).to.include({ row: 3, field: 'phone_number' });
  });

  it('when `tail --json` runs and a message is sent, then it prints the new message and its status changes as JSON lines', async function () {
    const child = spawn(process.execPath, [CLI, 'tail', '--json', '--interval', '150', '--polls', '200'], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await eventually(async () => stderr.includes('following'), 10000, 'tail started');
      const sent = json<{ message_id: string }>(await run(['send', '--to', '+15551234572', '--body', 'tail me', '--json'], env));
      const lines = await eventually(
        async () => {
          const parsed = stdout
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as { change: string; message: { id: string; status: string } })
            .filter((line) => line.message.id === sent.message_id);
          return parsed.some((line) => line.message.status === 'delivered') ? parsed : null;
        },
        30000,
        'tail to print the delivery',
      );
      expect(lines[0].change).to.equal('new');
      expect(lines.slice(1).every((line) => line.change === 'status')).to.equal(true);
      expect(new Set(lines.map((line) => line.message.status)).size).to.equal(lines.length);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
