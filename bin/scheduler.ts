import cron from 'node-cron';
import { bootConfig, connectRedis, onShutdown, runMain } from '../shared/boot';
import { createQueues } from '../shared/queues';
import { logger } from '../shared/logger';
import { SCHEDULE, tickJobId } from '../workers/schedule';

/**
 * The one process that runs cron. A tick only enqueues a maintenance job with a
 * deterministic id; the maintenance pool does the work.
 */
runMain('scheduler', async () => {
  const config = bootConfig();
  const redis = await connectRedis(config, 'worker');
  const queues = createQueues(redis, config.queuePrefix);
  const tasks = SCHEDULE.map((tick) =>
    cron.schedule(tick.cron, () => {
      queues
        .add('maintenance', tick.job, {}, { jobId: tickJobId(tick, new Date()), removeOnComplete: { age: 2 * tick.slotSeconds }, attempts: 1 })
        .catch((error: unknown) => logger.warn({ err: (error as Error).message, job: tick.job }, 'tick not enqueued'));
    }),
  );
  onShutdown('scheduler', async () => {
    for (const task of tasks) await task.stop();
    await queues.close();
    redis.disconnect();
  });
  // Ready only once SIGTERM is handled: a supervisor may signal the moment it reads this line.
  logger.info({ ticks: SCHEDULE.map((tick) => `${tick.job} ${tick.cron}`) }, 'scheduler started');
});
