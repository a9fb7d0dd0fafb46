import express from 'express';
import pg from 'pg';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { ulid } from 'ulid';

/**
 * The bare baseline the accept path is compared with, on the same machine and
 * run: Express + one INSERT (autocommit) + one queue add + 202.
 */
async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
  await pool.query('CREATE TABLE IF NOT EXISTS baseline_messages (id text PRIMARY KEY, account text, to_number text, body text, created_at timestamptz DEFAULT now())');
  const redis = new IORedis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const queue = new Queue('baseline', { connection: redis, prefix: process.env.QUEUE_PREFIX });
  const app = express();
  app.use(express.json());
  app.post('/v1/messages', async (req, res) => {
    const id = ulid();
    await pool.query('INSERT INTO baseline_messages (id, account, to_number, body) VALUES ($1, $2, $3, $4)', [id, 't', req.body.to, req.body.body]);
    await queue.add('route', { id }, { jobId: id, removeOnComplete: true });
    res.status(202).json({ data: { message_id: id, status: 'queued' } });
  });
  const port = Number(process.env.PORT);
  app.listen(port, '127.0.0.1', () => process.send?.('ready'));
}

void main();
