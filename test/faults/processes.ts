import path from 'node:path';
import net from 'node:net';
import { fork, spawn, ChildProcess } from 'node:child_process';

/**
 * The real processes a fault is injected into: pools and the scheduler as
 * `dist/bin/*.js` children (exactly what the Procfile runs), and a private
 * redis-server. Each keeps the tail of its output so a failing test can show
 * what the process said.
 */

const distRoot = path.resolve(__dirname, '..', '..');
const TAIL_LINES = 200;

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function keepTail(tail: string[], chunk: Buffer | string): void {
  for (const line of chunk.toString('utf8').split('\n')) {
    if (!line) continue;
    tail.push(line.length > 600 ? `${line.slice(0, 600)}…` : line);
    if (tail.length > TAIL_LINES) tail.shift();
  }
}

/** One Procfile-style process (`bin/worker.js <pool>` or `bin/scheduler.js`), restartable. */
export class PlatformProcess {
  child: ChildProcess | null = null;
  readonly tail: string[] = [];
  starts = 0;

  constructor(
    readonly label: string,
    private readonly script: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {}

  static worker(pool: string, env: Record<string, string>, label = pool): PlatformProcess {
    return new PlatformProcess(label, 'bin/worker.js', [pool], env);
  }

  static scheduler(env: Record<string, string>): PlatformProcess {
    return new PlatformProcess('scheduler', 'bin/scheduler.js', [], env);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error(`${this.label} is already running`);
    this.starts += 1;
    const child = fork(path.join(distRoot, this.script), this.args, {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.on('data', (chunk: Buffer) => keepTail(this.tail, chunk));
    child.stderr?.on('data', (chunk: Buffer) => keepTail(this.tail, chunk));
    child.once('exit', (code, signal) => keepTail(this.tail, `[${this.label} exited: ${signal ?? code}]`));
    this.child = child;
  }

  /** kill -9: no shutdown hook runs, active jobs are left locked in Redis. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await waitForExit(child);
  }

  /** Graceful stop (SIGTERM), SIGKILL after `graceMs`. */
  async stop(graceMs = 15000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.kill('SIGTERM');
    await waitForExit(child);
    clearTimeout(timer);
  }

  running(): boolean {
    return Boolean(this.child && this.child.exitCode === null && this.child.signalCode === null);
  }
}

/** Sends one inline command and resolves with the first reply line, or null when nothing answers. */
function redisCommand(port: number, command: string, timeoutMs = 500): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (value: string | null) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.once('error', () => done(null));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.once('data', (data) => done(data.toString('utf8').split('\r\n')[0]));
  });
}

/**
 * A private Redis for the fault suite: the shared one on 6379 serves other
 * test runs and is never touched. No persistence, so a restart loses every key
 * (every job), as on the development machines.
 */
export class RedisServer {
  private child: ChildProcess | null = null;
  readonly tail: string[] = [];

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(timeoutMs = 10000): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--maxmemory-policy', 'noeviction'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (chunk: Buffer) => keepTail(this.tail, chunk));
    child.stderr?.on('data', (chunk: Buffer) => keepTail(this.tail, chunk));
    this.child = child;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`redis-server exited at start: ${this.tail.slice(-5).join(' | ')}`);
      if ((await redisCommand(this.port, 'PING')) === '+PONG') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not answer within ${timeoutMs} ms`);
  }

  /** Dies at once, taking every key with it. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await waitForExit(child);
    this.child = null;
  }

  /** Synchronous kill, for a process 'exit' handler. */
  killNow(): void {
    this.child?.kill('SIGKILL');
  }

  async dbsize(): Promise<number> {
    const answer = await redisCommand(this.port, 'DBSIZE');
    return answer ? Number(answer.replace(/^:/, '')) : NaN;
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}
