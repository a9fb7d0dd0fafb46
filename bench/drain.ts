import pg from 'pg';
import { Queue, Worker } from 'bullmq';
import { createRedis } from '../shared/redis';
import { progress } from './lib';

/**
 * The raw BullMQ drain rate of this machine, as the yardstick for the campaign
 * figure: `jobs` jobs through one queue, worked by a plain BullMQ Worker
 * (concurrency as the sending pool's) whose processor runs
 * `transactionsPerJob` PostgreSQL transactions per job, each
 * BEGIN / set_config / one single-row UPDATE / COMMIT: the transaction count a
 * campaign message costs the platform, measured in the same run, without any
 * of the platform's own logic.
 */
export async function runDrainBaseline(options: { databaseUrl: string; redisUrl: string; prefix: string; jobs: number; transactionsPerJob: number; concurrency?: number }): Promise<number> {
  const { jobs, transactionsPerJob } = options;
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_drain (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)');
  await pool.query('INSERT INTO bench_drain (id) SELECT g FROM generate_series(0, 999) g ON CONFLICT DO NOTHING');
  const producer = createRedis(options.redisUrl, 'producer');
  const connection = createRedis(options.redisUrl, 'worker');
  const queue = new Queue('drain', { connection: producer, prefix: options.prefix });
  const whole = Math.floor(transactionsPerJob);
  const fraction = transactionsPerJob - whole;
  let done = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const worker = new Worker(
    'drain',
    async (job) => {
      const index = Number(job.data.i);
      // A fractional average is met on average: some jobs do one transaction more.
      const count = whole + (((index * 7919) % 1000) / 1000 < fraction ? 1 : 0);
      for (let i = 0; i < count; i += 1) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query("SELECT set_config('app.tenant_id', $1, true)", [String(job.data.tenant)]);
          await client.query('UPDATE bench_drain SET n = n + 1 WHERE id = $1', [(index + i) % 1000]);
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      }
    },
    { connection, prefix: options.prefix, concurrency: options.concurrency ?? 16, autorun: false },
  );
  worker.on('completed', () => {
    done += 1;
    if (done === jobs) finished();
  });
  try {
    for (let start = 0; start < jobs; start += 1000) {
      const chunk = Array.from({ length: Math.min(1000, jobs - start) }, (_v, k) => ({ name: 'drain', data: { i: start + k, tenant: 'bench' } }));
      await queue.addBulk(chunk);
    }
    progress(`drain baseline: ${jobs} jobs queued, ${transactionsPerJob.toFixed(1)} transactions each`);
    const started = Date.now();
    void worker.run();
    await allDone;
    return jobs / ((Date.now() - started) / 1000);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    producer.disconnect();
    connection.disconnect();
    await pool.query('DROP TABLE IF EXISTS bench_drain');
    await pool.end();
  }
}
