import path from 'node:path';
import { fork } from 'node:child_process';
import { expect } from 'chai';
import { harness } from '../helpers/harness';

const dist = path.resolve(__dirname, '..', '..');

interface Exit {
  code: number | null;
  stderr: string;
  ms: number;
}

function run(script: string, args: string[], env: Record<string, string>, options: { killAfterReady?: string; timeoutMs?: number } = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = fork(path.join(dist, script), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let stderr = '';
    let stdout = '';
    let signalled = 0;
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (options.killAfterReady && !signalled && stdout.includes(options.killAfterReady)) {
        signalled = Date.now();
        child.kill('SIGTERM');
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not exit in time; stdout: ${stdout.slice(-500)}`));
    }, options.timeoutMs ?? 40000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - (signalled || started) });
    });
  });
}

describe('processes: boot checks and graceful shutdown', function () {
  this.timeout(60000);

  it('when Redis is unreachable, then the web process exits 1 with one clear line naming Redis and where', async () => {
    const exit = await run('bin/web.js', [], { ...harness().env, REDIS_URL: 'redis://127.0.0.1:1', PORT: '0', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr.trim()).to.equal('senderz web: Redis is unreachable at 127.0.0.1:1');
  });

  it('when PostgreSQL is unreachable, then a worker exits 1 with one line naming PostgreSQL and where', async () => {
    const exit = await run('bin/worker.js', ['sending'], { ...harness().env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr.trim().split('\n')).to.have.length(1);
    expect(exit.stderr).to.match(/^senderz worker: PostgreSQL is unreachable at 127\.0\.0\.1:1\/none/);
  });

  it('when the configuration is invalid, then the process names the variable', async () => {
    const exit = await run('bin/web.js', [], { ...harness().env, PORT: 'eighty', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr).to.contain('PORT must be an integer');
  });

  it('when production is asked for without secrets, then it refuses to start', async () => {
    const exit = await run('bin/web.js', [], { ...harness().env, NODE_ENV: 'production', ADMIN_API_KEY: '', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr).to.contain('ADMIN_API_KEY is required');
  });

  it('when a pool\'s concurrency is not a positive integer, then the worker refuses to start naming the variable', async () => {
    const exit = await run('bin/worker.js', ['dispatch'], { ...harness().env, DISPATCH_CONCURRENCY: '0', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr).to.contain('DISPATCH_CONCURRENCY must be an integer between 1 and 1000');
  });

  it('when a pool\'s concurrency is not an integer, then the worker refuses to start naming the variable', async () => {
    const exit = await run('bin/worker.js', ['dispatch'], { ...harness().env, DISPATCH_CONCURRENCY: '2.5', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr).to.contain('DISPATCH_CONCURRENCY must be an integer between 1 and 1000');
  });

  it('when HEAP_GROWING_PERCENT is not an integer from 0 to 1000, then the process refuses to start naming the variable', async () => {
    const exit = await run('bin/web.js', [], { ...harness().env, PORT: '0', HEAP_GROWING_PERCENT: '-5', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr).to.contain('HEAP_GROWING_PERCENT must be an integer between 0 and 1000');
  });

  it('when STATEMENT_GATHER_MS is not an integer from 0 to 50, then the process refuses to start naming the variable', async () => {
    const exit = await run('bin/worker.js', ['dispatch'], { ...harness().env, STATEMENT_GATHER_MS: '75', LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr).to.contain('STATEMENT_GATHER_MS must be an integer between 0 and 50');
  });

  it('when LOG_LEVEL is not a pino level, then the process exits 1 with one line naming the variable and the levels', async () => {
    const exit = await run('bin/web.js', [], { ...harness().env, PORT: '0', LOG_LEVEL: 'verbose' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr.trim().split('\n')).to.have.length(1);
    expect(exit.stderr.trim()).to.equal('senderz web: configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"');
  });

  it('when an unknown pool is named, then the worker refuses to start and lists the pools', async () => {
    const exit = await run('bin/worker.js', ['teleport'], { ...harness().env, LOG_LEVEL: 'silent' });
    expect(exit.code).to.equal(1);
    expect(exit.stderr).to.match(/unknown pool "teleport"; pools: .*sending.*dispatch/);
  });

  for (const [script, args, ready] of [
    ['bin/web.js', [], 'API listening'],
    ['bin/worker.js', ['dispatch'], 'worker pool started'],
    ['bin/scheduler.js', [], 'scheduler started'],
  ] as [string, string[], string][]) {
    it(`when ${script} ${args.join(' ')} gets SIGTERM, then it exits 0 well within 30 s`, async () => {
      const exit = await run(script, args, { ...harness().env, PORT: '0', LOG_LEVEL: 'info' }, { killAfterReady: ready });
      expect(exit.code).to.equal(0);
      expect(exit.ms).to.be.lessThan(30000);
    });
  }
});
