import http from 'node:http';
import { collectProcessMetrics } from '../shared/metrics';
import { bootConfig, connectDatabase, connectRedis, onShutdown, runMain } from '../shared/boot';
import { createQueues } from '../shared/queues';
import { logger } from '../shared/logger';
import { createApiApp } from '../api/app';

runMain('web', async () => {
  const config = bootConfig();
  if (config.processMetrics) collectProcessMetrics();
  const db = await connectDatabase(config, { appPoolMax: 20 });
  const redis = await connectRedis(config, 'producer');
  const subscriber = await connectRedis(config, 'worker');
  const queues = createQueues(redis, config.queuePrefix);
  const api = createApiApp({ config, db, redis, subscriber, queues, log: logger });
  const server = http.createServer(api.app);
  server.keepAliveTimeout = 65000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });

  onShutdown('web', async () => {
    // Stop accepting connections, let in-flight requests finish, then release resources.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await api.close();
    await queues.close();
    redis.disconnect();
    subscriber.disconnect();
    await db.destroy();
  });
  // Ready only once SIGTERM is handled: a supervisor may signal the moment it reads this line.
  logger.info({ url: config.publicUrl, port: config.port, host: config.host }, 'API listening');
});
