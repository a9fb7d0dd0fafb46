import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Queue } from 'bullmq';
import type { QueueName } from './queues';
import type { Logger } from './logger';

/**
 * Every Prometheus series the platform exposes, in one registry per process.
 * Labels are bounded: queue and job names, route patterns, statuses, line ids
 * (operator-provisioned) and line pools — never a tenant id, a message id or
 * a phone number. Counters and histograms are bumped in memory on the hot
 * path; queue depth is read from Redis only when Prometheus scrapes.
 */
export const registry = new Registry();

let processMetrics = false;

/**
 * prom-client's process and Node.js series (CPU, memory, event-loop lag, GC),
 * when METRICS_PROCESS=1. Off by default: their event-loop and GC observers
 * cost about a fifth of the pipeline's capacity on a 2-core box (README
 * "Metrics and traces").
 */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry, prefix: 'senderz_' });
}

const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const watchedQueues = new Map<QueueName, Queue>();

/** Jobs per state per queue, read on scrape (one Redis round trip per queue). */
export const queueDepth = new Gauge({
  name: 'senderz_queue_jobs',
  help: 'Jobs in a queue by state, read when scraped',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    // A queue Redis cannot answer for right now has no series in this scrape; the rest still answer.
    await Promise.allSettled(
      [...watchedQueues].map(async ([name, queue]) => {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
        for (const [state, count] of Object.entries(counts)) this.set({ queue: name, state }, count);
      }),
    );
  },
});

/** Reports the depth of these queues on every scrape of this process. */
export function watchQueueDepth(queues: { get(name: QueueName): Queue }, names: readonly QueueName[]): void {
  for (const name of names) watchedQueues.set(name, queues.get(name));
}

/** Stops reporting these queues (their connection is closing); queues watched since stay watched. */
export function unwatchQueueDepth(queues: { get(name: QueueName): Queue }, names: readonly QueueName[]): void {
  for (const name of names) if (watchedQueues.get(name) === queues.get(name)) watchedQueues.delete(name);
}

/** One count per job run, by what came of it: completed, skipped, deferred, retried (an error, attempts left) or failed (terminal). */
export const jobsTotal = new Counter({
  name: 'senderz_jobs_total',
  help: 'Job runs by queue, job name and outcome',
  labelNames: ['queue', 'job', 'outcome'] as const,
  registers: [registry],
});

export const jobDuration = new Histogram({
  name: 'senderz_job_duration_seconds',
  help: 'Time a worker spent on one job run',
  labelNames: ['queue', 'job', 'outcome'] as const,
  buckets: seconds,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'senderz_http_request_duration_seconds',
  help: 'HTTP requests by method, route pattern and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: seconds,
  registers: [registry],
});

/** POST /v1/messages alone: from the request arriving to the 202 (or the refusal). */
export const acceptDuration = new Histogram({
  name: 'senderz_message_accept_duration_seconds',
  help: 'Latency of POST /v1/messages by status',
  labelNames: ['status'] as const,
  buckets: seconds,
  registers: [registry],
});

/** Messages accepted per line pool: the bounded per-tenant dimension (pools are operator-defined). */
export const messagesAccepted = new Counter({
  name: 'senderz_messages_accepted_total',
  help: 'Outbound messages accepted by the API, by line pool and first status',
  labelNames: ['pool', 'status'] as const,
  registers: [registry],
});

/** Status changes this process recorded (accepts, device reports, worker transitions). */
export const messageStatusTotal = new Counter({
  name: 'senderz_message_status_total',
  help: 'Message status changes recorded, by new status',
  labelNames: ['status'] as const,
  registers: [registry],
});

export const webhookDeliveries = new Counter({
  name: 'senderz_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome (succeeded, retrying, failed)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const bridgeDuration = new Histogram({
  name: 'senderz_bridge_request_duration_seconds',
  help: 'Signed requests to a line bridge, by line, path and answer (status code, or "error")',
  labelNames: ['line', 'path', 'status'] as const,
  buckets: seconds,
  registers: [registry],
});

export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** A worker process's scrape endpoint: `GET /metrics` and nothing else, no credential. */
export async function startMetricsServer(port: number, host: string, log: Logger): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    metricsText().then(
      ({ contentType, body }) => res.writeHead(200, { 'Content-Type': contentType }).end(body),
      (error: unknown) => {
        log.warn({ err: (error as Error).message }, 'metrics scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('scrape failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
