import { Queue, JobsOptions } from 'bullmq';
import type { RedisClient } from './redis';
import Ajv, { ValidateFunction } from 'ajv';
import { traceparentPattern, withTraceparent } from './tracing';

/**
 * The job registry: queue name → job name → payload. Queue and job names are a
 * wire contract (jobs in Redis outlive deploys): never rename one without a
 * drain plan. Payloads carry ids and the tenant id only — never a record
 * snapshot, a message body or a secret; the worker reloads what it needs.
 */
export interface JobRegistry {
  sending: {
    'route-message': { tenantId: string; messageId: string };
    'process-inbound': { tenantId: string; messageId: string };
    /** Sandbox messages: the synthetic delivery steps, no device involved. */
    'sandbox-advance': { tenantId: string; messageId: string };
    /** A scheduled send at its send_at: scheduled → queued, then routed (or advanced, in the sandbox). */
    'release-scheduled': { tenantId: string; messageId: string };
    /**
     * A message with attachments: download and store them, then route it (or fail it naming the
     * attachment's problem). For an inbound message: download and store them; one that cannot be
     * taken is marked failed, the message stays received.
     */
    'fetch-media': { tenantId: string; messageId: string };
  };
  dispatch: {
    'dispatch-message': { tenantId: string; messageId: string; dispatchId: string };
  };
  webhooks: {
    /** A message changed status (its history row `sequence`): fan out to subscribed endpoints. */
    'message-event': { tenantId: string; messageId: string; sequence: number };
    /** Any other event (opt-outs, campaigns, tests): fan out the stored event. */
    'fan-out-event': { tenantId: string; eventId: string };
    deliver: { tenantId: string; deliveryId: string };
    /** One history row of a message with its own status_callback: POSTed, signed, to that URL. */
    'status-callback': { tenantId: string; messageId: string; sequence: number };
  };
  billing: {
    /** One tenant's totals for one UTC month ('YYYY-MM-01') into usage_records. */
    'roll-up-usage': { tenantId: string; periodStart: string };
  };
  campaigns: {
    'launch-campaign': { tenantId: string; campaignId: string };
    /** One link of a campaign's fan-out chain; chunkId names this link's outbox row (see shared/data/campaigns.ts). */
    'fan-out-chunk': { tenantId: string; campaignId: string; chunkId: string };
    /** Re-delays itself until every recipient's message is terminal, then records campaign.completed once. */
    'check-completion': { tenantId: string; campaignId: string };
    /** After a cancel: fails the campaign's still-queued messages with reason `cancelled`. */
    'cancel-campaign': { tenantId: string; campaignId: string };
    'import-contacts': { tenantId: string; importId: string };
  };
  maintenance: {
    'relay-outbox': Record<string, never>;
    'sweep-lines': Record<string, never>;
    /** Asks each line's bridge GET /v1/health; an unhealthy or silent bridge's line goes offline. */
    'probe-lines': Record<string, never>;
    /** Records usage.cap_approaching / usage.cap_reached once per tenant, cap and period. */
    'check-usage-alerts': Record<string, never>;
    'purge-bodies': Record<string, never>;
    'expire-idempotency-keys': Record<string, never>;
    /** Daily: enqueues billing/roll-up-usage for every tenant (current and previous month). */
    'roll-up-usage': Record<string, never>;
  };
}

export type QueueName = keyof JobRegistry;
export type JobName<Q extends QueueName> = keyof JobRegistry[Q] & string;
export type JobPayload<Q extends QueueName, J extends JobName<Q>> = JobRegistry[Q][J];

export const QUEUE_NAMES: QueueName[] = ['sending', 'dispatch', 'webhooks', 'billing', 'campaigns', 'maintenance'];

const idField = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_]+$' };

function idsSchema(...fields: string[]) {
  return {
    type: 'object',
    required: fields,
    additionalProperties: false,
    properties: Object.fromEntries(fields.map((field) => [field, idField])),
  };
}

/** A message history row: the message's ids and its `sequence`. */
const messageSequenceSchema = {
  ...idsSchema('tenantId', 'messageId'),
  required: ['tenantId', 'messageId', 'sequence'],
  properties: { tenantId: idField, messageId: idField, sequence: { type: 'integer', minimum: 1 } },
};

const noPayload = { type: 'object', additionalProperties: false, properties: {} };

const schemas: { [Q in QueueName]: { [J in JobName<Q>]: object } } = {
  sending: {
    'route-message': idsSchema('tenantId', 'messageId'),
    'process-inbound': idsSchema('tenantId', 'messageId'),
    'sandbox-advance': idsSchema('tenantId', 'messageId'),
    'release-scheduled': idsSchema('tenantId', 'messageId'),
    'fetch-media': idsSchema('tenantId', 'messageId'),
  },
  dispatch: { 'dispatch-message': idsSchema('tenantId', 'messageId', 'dispatchId') },
  webhooks: {
    'message-event': messageSequenceSchema,
    'fan-out-event': idsSchema('tenantId', 'eventId'),
    deliver: idsSchema('tenantId', 'deliveryId'),
    'status-callback': messageSequenceSchema,
  },
  billing: {
    'roll-up-usage': {
      type: 'object',
      required: ['tenantId', 'periodStart'],
      additionalProperties: false,
      properties: { tenantId: idField, periodStart: { type: 'string', pattern: '^[0-9]{4}-(0[1-9]|1[0-2])-01$' } },
    },
  },
  campaigns: {
    'launch-campaign': idsSchema('tenantId', 'campaignId'),
    'fan-out-chunk': idsSchema('tenantId', 'campaignId', 'chunkId'),
    'check-completion': idsSchema('tenantId', 'campaignId'),
    'cancel-campaign': idsSchema('tenantId', 'campaignId'),
    'import-contacts': idsSchema('tenantId', 'importId'),
  },
  maintenance: {
    'relay-outbox': noPayload,
    'sweep-lines': noPayload,
    'probe-lines': noPayload,
    'check-usage-alerts': noPayload,
    'purge-bodies': noPayload,
    'expire-idempotency-keys': noPayload,
    'roll-up-usage': noPayload,
  },
};

/**
 * Any payload may also carry `traceparent`: the W3C trace context of the span
 * that enqueued it (shared/tracing.ts), an id like the others, never data.
 */
const traceparentField = { type: 'string', pattern: traceparentPattern };

const ajv = new Ajv({ allErrors: true });
const validators = new Map<string, ValidateFunction>();
for (const queue of QUEUE_NAMES) {
  for (const [job, schema] of Object.entries(schemas[queue]) as [string, { properties: Record<string, unknown> }][]) {
    validators.set(`${queue}/${job}`, ajv.compile({ ...schema, properties: { ...schema.properties, traceparent: traceparentField } }));
  }
}

export function jobNames<Q extends QueueName>(queue: Q): JobName<Q>[] {
  return Object.keys(schemas[queue]) as JobName<Q>[];
}

/** Checks a pulled payload against the registry; returns a reason when it does not fit. */
export function payloadProblem(queue: QueueName, job: string, payload: unknown): string | null {
  const validate = validators.get(`${queue}/${job}`);
  if (!validate) return `no job "${job}" on queue "${queue}"`;
  if (validate(payload)) return null;
  return ajv.errorsText(validate.errors);
}

/** BullMQ job ids may not contain ':' nor be all digits. */
export function jobId(...parts: string[]): string {
  return parts.join('__');
}

export interface Queues {
  prefix: string;
  get(name: QueueName): Queue;
  add<Q extends QueueName, J extends JobName<Q>>(queue: Q, job: J, payload: JobPayload<Q, J>, options?: JobsOptions): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 10000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * The BullMQ prefix of one queue. On a Redis Cluster every key of a queue must
 * hash to one slot (BullMQ's scripts touch many of them at once), so each queue
 * gets its own hash tag, `{senderz:sending}`, and the queues spread over the
 * cluster's masters. One Redis keeps the plain prefix, so an existing
 * deployment keeps its keys and the jobs in them.
 */
export function queuePrefix(prefix: string, queue: string, cluster: boolean): string {
  return cluster ? `{${prefix}:${queue}}` : prefix;
}

export function createQueues(connection: RedisClient, prefix: string): Queues {
  const queues = new Map<QueueName, Queue>();
  const get = (name: QueueName): Queue => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection, prefix: queuePrefix(prefix, name, connection.isCluster), defaultJobOptions: DEFAULT_JOB_OPTIONS });
      queue.on('error', () => undefined); // connection errors surface on add(); avoid unhandled 'error'
      queues.set(name, queue);
    }
    return queue;
  };
  return {
    prefix,
    get,
    async add(queue, job, payload, options) {
      await get(queue).add(job, withTraceparent(payload as Record<string, unknown>), options);
    },
    async close() {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
    },
  };
}
