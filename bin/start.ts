import { fork, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { bootConfig, BootError, runMain } from '../shared/boot';
import { createDatabase, ensureDatabaseExists, migrateLatest } from '../shared/db';
import { withTenant } from '../shared/db/tenant';
import { createTenant } from '../shared/data/tenants';
import { createApiKey } from '../shared/data/api-keys';
import { createPhoneLine, PhoneLineRow } from '../shared/data/phone-lines';
import { decryptSecret } from '../shared/crypto';
import { logger } from '../shared/logger';
import { POOLS } from '../workers/pools';
import type { Config } from '../shared/config';

/**
 * `npm start`: migrate, seed a demo on an empty database, then run the web
 * process, every pool (in one worker process), the scheduler and the device
 * simulator as one supervised tree that restarts a crashed child and stops
 * cleanly on SIGTERM.
 */
const DEMO_FILE = path.resolve(process.cwd(), '.senderz', 'demo.json');
const DEMO_LINE_NUMBER = '+15550001000';

interface Demo {
  tenantId: string;
  liveKey: string;
  testKey: string;
}

function simulatorBase(config: Config): string {
  return `http://127.0.0.1:${config.simulator.port}/lines/`;
}

async function seedDemo(config: Config): Promise<Demo | null> {
  const db = createDatabase(config);
  try {
    const tenants = await db.owner('tenants').count<{ count: number }[]>({ count: '*' });
    if (Number(tenants[0].count) > 0) return null;
    const tenant = await createTenant(db.owner, { name: 'Demo', plan: 'growth' });
    const live = await withTenant(db.app, tenant.id, (t) => createApiKey(t, { name: 'demo live key', prefix: 'tf_live', createdBy: 'operator' }));
    const test = await withTenant(db.app, tenant.id, (t) => createApiKey(t, { name: 'demo test key', prefix: 'tf_test', createdBy: 'operator' }));
    if (config.simulator.enabled) {
      await createPhoneLine(db.owner, config.encryptionKey, {
        phone_number: DEMO_LINE_NUMBER,
        bridge_url: `${simulatorBase(config)}${encodeURIComponent(DEMO_LINE_NUMBER)}`,
        secret: crypto.randomBytes(32).toString('hex'),
        capabilities: { imessage: true, sms: true, rcs: true },
        mode: 'pooled',
        pool: 'default',
        max_per_minute: 600,
        warmup: false,
      });
    }
    const demo = { tenantId: tenant.id, liveKey: live.key, testKey: test.key };
    fs.mkdirSync(path.dirname(DEMO_FILE), { recursive: true, mode: 0o700 });
    fs.writeFileSync(DEMO_FILE, JSON.stringify(demo, null, 2), { mode: 0o600 });
    return demo;
  } finally {
    await db.destroy();
  }
}

/** Lines whose bridge is the built-in simulator, with their secrets, for the simulator to serve. */
async function simulatedLines(config: Config): Promise<{ line_id: string; phone_number: string; secret: string }[]> {
  const db = createDatabase(config);
  try {
    const rows = (await db.owner('phone_lines').where('bridge_url', 'like', `${simulatorBase(config)}%`)) as PhoneLineRow[];
    return rows.map((row) => ({ line_id: row.id, phone_number: row.phone_number, secret: decryptSecret(config.encryptionKey, row.secret_encrypted) }));
  } finally {
    await db.destroy();
  }
}

interface Child {
  name: string;
  script: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  process: ChildProcess | null;
  restarts: number;
}

runMain('start', async () => {
  const config = bootConfig({ generateLocalSecrets: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ADMIN_API_KEY: config.adminApiKey,
    ENCRYPTION_KEY: config.encryptionKey.toString('hex'),
    HOST: config.host,
    PORT: String(config.port),
  };

  try {
    await ensureDatabaseExists(config.databaseUrl);
  } catch (error) {
    throw new BootError(`could not create the database: ${(error as Error).message}`);
  }
  const db = createDatabase(config);
  try {
    await db.owner.raw('SELECT 1').catch((error: Error) => {
      throw new BootError(`PostgreSQL is unreachable at ${new URL(config.databaseUrl).host}: ${error.message}`);
    });
    const applied = await migrateLatest(db.owner, config.appDatabaseRole, config.appDatabasePassword);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  } finally {
    await db.destroy();
  }
  const seeded = await seedDemo(config);
  let demo: Demo | null = seeded;
  if (!demo && fs.existsSync(DEMO_FILE)) demo = JSON.parse(fs.readFileSync(DEMO_FILE, 'utf8')) as Demo;

  const dist = path.resolve(__dirname, '..');
  const children: Child[] = [
    { name: 'web', script: path.join(dist, 'bin', 'web.js'), args: [], env, process: null, restarts: 0 },
    // Every pool in one process (each still its own BullMQ Worker on its own queue): one box's
    // memory goes to the work, not to six Node.js runtimes. The Procfile keeps one type per pool.
    { name: 'workers', script: path.join(dist, 'bin', 'worker.js'), args: Object.keys(POOLS), env, process: null, restarts: 0 },
    { name: 'scheduler', script: path.join(dist, 'bin', 'scheduler.js'), args: [], env, process: null, restarts: 0 },
  ];
  if (config.simulator.enabled) {
    const lines = await simulatedLines(config);
    children.push({
      name: 'simulator',
      script: path.join(dist, 'simulator', 'main.js'),
      args: [],
      env: {
        ...env,
        SIMULATOR_PORT: String(config.simulator.port),
        SIMULATOR_HOST: '127.0.0.1',
        SIMULATOR_PLATFORM_URL: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`,
        SIMULATOR_LINES: JSON.stringify(lines),
        // The control API can inject inbound messages: under npm start it needs the token.
        ...(config.simulator.controlToken ? { SIMULATOR_CONTROL_TOKEN: config.simulator.controlToken } : {}),
      },
      process: null,
      restarts: 0,
    });
  }

  let stopping = false;
  const launch = (child: Child) => {
    const started = Date.now();
    const proc = fork(child.script, child.args, { env: child.env, stdio: 'inherit' });
    child.process = proc;
    proc.on('exit', (code, signal) => {
      child.process = null;
      if (stopping) return;
      if (Date.now() - started > 60000) child.restarts = 0;
      const delay = Math.min(30000, 1000 * 2 ** child.restarts);
      child.restarts += 1;
      logger.error({ child: child.name, code, signal, restartInMs: delay }, 'process exited; restarting');
      setTimeout(() => !stopping && launch(child), delay).unref();
    });
  };
  // The simulator starts once the API answers, so its first heartbeats land.
  for (const child of children) if (child.name !== 'simulator') launch(child);

  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping all processes');
    for (const child of children) child.process?.kill('SIGTERM');
    const deadline = setTimeout(() => {
      for (const child of children) child.process?.kill('SIGKILL');
      process.exit(0);
    }, 30000);
    deadline.unref();
    const check = setInterval(() => {
      if (children.every((child) => !child.process)) {
        clearInterval(check);
        process.exit(0);
      }
    }, 100);
  };
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);

  const url = config.publicUrl;
  for (let i = 0; i < 100; i += 1) {
    const ok = await fetch(`${url}/healthz`).then((res) => res.ok, () => false);
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const simulator = children.find((child) => child.name === 'simulator');
  if (simulator && !stopping) launch(simulator);
  const lines = [
    '',
    `senderz is running at ${url}`,
    `  Queues (Bull Board): ${url}/admin/queues  (any user name, the admin key as password)`,
    // An operator's own key (ADMIN_API_KEY) is never echoed to the terminal or its logs.
    config.adminApiKeyFromEnv ? '  Admin key:       from ADMIN_API_KEY' : `  Admin key:       ${config.adminApiKey}  (generated; kept in .senderz/secrets.json)`,
  ];
  if (config.simulator.enabled && config.simulator.controlToken && !process.env.SIMULATOR_CONTROL_TOKEN) {
    lines.push(`  Simulator control token: kept in .senderz/secrets.json (the simulator CLI reads it from there)`);
  }
  if (demo) {
    lines.push(
      `  Demo tenant:     ${demo.tenantId}`,
      `  Live key:        ${demo.liveKey}`,
      `  Test key:        ${demo.testKey}`,
      '',
      'Send a message through the simulated phone line:',
      `  curl -s -X POST ${url}/v1/messages -H "Authorization: Bearer ${demo.liveKey}" -H "Content-Type: application/json" -d '{"to": "+15551234568", "body": "Hello from senderz"}'`,
      'Then read it back (it is delivered within a second):',
      `  curl -s ${url}/v1/messages -H "Authorization: Bearer ${demo.liveKey}"`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n\n');
});
