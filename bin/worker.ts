import { bootConfig, BootError, connectDatabase, connectRedis, onShutdown, runMain } from '../shared/boot';
import { createQueues } from '../shared/queues';
import { logger } from '../shared/logger';
import { closeWorkers } from '../workers/runtime';
import { isPoolName, POOLS, startPool } from '../workers/pools';

runMain('worker', async () => {
  const name = process.argv[2] ?? '';
  if (!isPoolName(name)) throw new BootError(`unknown pool "${name}"; pools: ${Object.keys(POOLS).join(', ')}`);
  const config = bootConfig();
  const envConcurrency = process.env[`${name.toUpperCase()}_CONCURRENCY`];
  const concurrency = envConcurrency ? Number(envConcurrency) : undefined;
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) {
    throw new BootError(`${name.toUpperCase()}_CONCURRENCY must be a positive integer`);
  }
  const db = await connectDatabase(config, { appPoolMax: Math.min(40, (concurrency ?? POOLS[name].concurrency) + 4) });
  const producer = await connectRedis(config, 'producer');
  const workerConnection = await connectRedis(config, 'worker');
  const queues = createQueues(producer, config.queuePrefix);
  const log = logger.child({ pool: name });
  const worker = startPool(name, { config, db, queues, redis: producer, log }, workerConnection, concurrency);

  onShutdown(name, async () => {
    await closeWorkers([worker], 20000);
    await queues.close();
    producer.disconnect();
    workerConnection.disconnect();
    await db.destroy();
  });
  // Ready only once SIGTERM is handled: a supervisor may signal the moment it reads this line.
  log.info({ concurrency: worker.opts.concurrency }, 'worker pool started');
});
