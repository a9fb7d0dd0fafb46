import { Router } from 'express';
import { ping } from '../../shared/db';
import type { ApiDeps } from '../types';

async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: Pick<ApiDeps, 'db' | 'redis'>): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([
      within(ping(deps.db.app), 2000).then(() => true, () => false),
      within(deps.redis.ping(), 2000).then(() => true, () => false),
    ]);
    const down = [!postgres && 'postgresql', !redis && 'redis'].filter(Boolean);
    res.status(down.length ? 503 : 200).json({ ok: down.length === 0, postgresql: postgres ? 'up' : 'down', redis: redis ? 'up' : 'down' });
  });
  return router;
}
