import type { Worker } from 'bullmq';
import { bootConfig, BootError, connectDatabase, connectRedis, onShutdown, runMain } from '../shared/boot';
import { createQueues } from '../shared/queues';
import { logger } from '../shared/logger';
import { collectProcessMetrics, startMetricsServer, watchQueueDepth, MetricsServer } from '../shared/metrics';
import { closeWorkers } from '../workers/runtime';
import { isPoolName, metricsPort, POOLS, PoolName, startPool } from '../workers/pools';

/**
 * `worker.js <pool> [<pool> …]`: one BullMQ Worker per named pool, each on its
 * own queue. The Procfile runs one pool per process type; `npm start` runs
 * every pool in one process to keep a single box's memory down.
 */
runMain('worker', async () => {
  const names = process.argv.slice(2);
  if (names.length === 0) throw new BootError(`name a pool; pools: ${Object.keys(POOLS).join(', ')}`);
  const unknown = names.find((name) => !isPoolName(name));
  if (unknown !== undefined) throw new BootError(`unknown pool "${unknown}"; pools: ${Object.keys(POOLS).join(', ')}`);
  const pools = [...new Set(names)] as PoolName[];
  const config = bootConfig();
  const concurrency = new Map<PoolName, number | undefined>(pools.map((name) => [name, config.workers.concurrency[name]]));
  const connections = pools.reduce((sum, name) => sum + (concurrency.get(name) ?? POOLS[name].concurrency), 0);
  const db = await connectDatabase(config, { appPoolMax: Math.min(40, connections + 4) });
  const producer = await connectRedis(config, 'producer');
  const workerConnection = await connectRedis(config, 'worker');
  const queues = createQueues(producer, config.queuePrefix);
  const label = pools.join('+');
  // Prometheus: GET /metrics on WORKER_METRICS_PORT + the pool's index, when set (README "Metrics and traces").
  let metrics: MetricsServer | null = null;
  if (config.workers.metricsPort !== null) {
    if (config.processMetrics) collectProcessMetrics();
    watchQueueDepth(queues, pools.map((name) => POOLS[name].queue));
    const port = metricsPort(config.workers.metricsPort, pools);
    metrics = await startMetricsServer(port, config.workers.metricsHost, logger).catch((error: unknown) => {
      throw new BootError(`metrics listener on ${config.workers.metricsHost}:${port}: ${(error as Error).message}`);
    });
    logger.child({ pool: label }).info({ port: metrics.port }, 'metrics listener started');
  }

  const workers: Worker[] = pools.map((name) => startPool(name, { config, db, queues, redis: producer, log: logger.child({ pool: name }) }, workerConnection, concurrency.get(name)));

  onShutdown(label, async () => {
    await metrics?.close();
    await closeWorkers(workers, 20000);
    await queues.close();
    producer.disconnect();
    workerConnection.disconnect();
    await db.destroy();
  });
  // Ready only once SIGTERM is handled: a supervisor may signal the moment it reads this line.
  logger.child({ pool: label }).info({ concurrency: Object.fromEntries(pools.map((name, i) => [name, workers[i].opts.concurrency])) }, 'worker pool started');
});
