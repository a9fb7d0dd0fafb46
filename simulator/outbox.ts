// Per-line queue of events owed to the platform. One post in flight per line keeps reports in
// order (sent before delivered); failed posts are retried with backoff so that nothing is lost
// while the platform restarts.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { signatureHeaders } from './signing';
import { postJson, PostAnswer } from './http';

export const MAX_EVENTS_PER_POST = 100;

export type OutgoingEvent = {
  id: string;
  type: string;
  occurred_at: string;
  [field: string]: unknown;
};

export function newEventId(): string {
  // Time prefix keeps ids roughly sortable, the random part keeps them unique per line.
  return `evt_${Date.now().toString(36).padStart(9, '0')}${crypto.randomBytes(10).toString('hex')}`;
}

export interface OutboxSettings {
  eventsUrl: string;
  lineId: string;
  currentSecret: () => string;
  /** While true (line offline) events wait instead of being posted. */
  isPaused: () => boolean;
  logger: Logger;
  retryInitialMs: number;
  retryMaxMs: number;
  requestTimeoutMs: number;
  /**
   * How long an event may wait for others to go out in the same post (0: only
   * those that become ready in the same turn). A bridge that posts every few
   * milliseconds under load spares itself and the platform a request per event.
   */
  flushMs: number;
  stopSignal: AbortSignal;
}

export interface Outbox {
  enqueue(events: OutgoingEvent[]): void;
  /** Try to post now, e.g. after the line comes back online. */
  kick(): void;
  pendingCount(): number;
  isBusy(): boolean;
  /** Resolves when the post in flight (if any) settles. */
  settled(): Promise<void>;
  close(): void;
}

type PostOutcome = 'accepted' | 'retry' | 'dropped';

export function createOutbox(settings: OutboxSettings): Outbox {
  const { logger } = settings;
  const pending: OutgoingEvent[] = [];
  let closed = false;
  let drainScheduled: (() => void) | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let backoffMs = settings.retryInitialMs;
  let draining: Promise<void> | null = null;

  function scheduleDrain(): void {
    if (closed || drainScheduled || retryTimer || draining) return;
    // Waiting one macrotask (or the flush window) lets events that become ready together go out in one post.
    const go = () => {
      drainScheduled = null;
      startDrain();
    };
    if (settings.flushMs > 0) {
      const timer = setTimeout(go, settings.flushMs);
      drainScheduled = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(go);
      drainScheduled = () => clearImmediate(immediate);
    }
  }

  function startDrain(): void {
    if (closed || draining || settings.isPaused() || pending.length === 0) return;
    draining = drain()
      .catch((err: unknown) => logger.error({ err, line_id: settings.lineId }, 'event drain crashed'))
      .finally(() => {
        draining = null;
      });
  }

  async function drain(): Promise<void> {
    while (!closed && !settings.isPaused() && pending.length > 0) {
      const batch = pending.splice(0, MAX_EVENTS_PER_POST);
      const outcome = await postBatch(batch);
      if (outcome === 'accepted') {
        backoffMs = settings.retryInitialMs;
        continue;
      }
      if (outcome === 'dropped') continue;
      pending.unshift(...batch);
      scheduleRetry();
      return;
    }
  }

  function scheduleRetry(): void {
    if (closed) return;
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, settings.retryMaxMs);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      startDrain();
    }, delay);
  }

  async function postBatch(batch: OutgoingEvent[]): Promise<PostOutcome> {
    const rawBody = JSON.stringify({ events: batch });
    const { timestamp, signature } = signatureHeaders(settings.currentSecret(), rawBody);
    const logContext = {
      line_id: settings.lineId,
      events: batch.length,
      types: [...new Set(batch.map((event) => event.type))],
    };
    let response: PostAnswer;
    try {
      response = await postJson(settings.eventsUrl, {
        headers: {
          'Content-Type': 'application/json',
          'X-Senderz-Timestamp': timestamp,
          'X-Senderz-Signature': signature,
          'X-Senderz-Line': settings.lineId,
        },
        body: rawBody,
        timeoutMs: settings.requestTimeoutMs,
        signal: settings.stopSignal,
      });
    } catch (err) {
      if (!closed) {
        logger.warn({ ...logContext, err: describeError(err), retry_in_ms: backoffMs }, 'event post failed; will retry');
      }
      return 'retry';
    }
    const responseText = response.text;
    if (response.status >= 200 && response.status < 300) {
      logger.debug({ ...logContext, status: response.status }, 'events accepted');
      return 'accepted';
    }
    if (response.status === 429 || response.status >= 500) {
      logger.warn({ ...logContext, status: response.status, retry_in_ms: backoffMs }, 'platform refused events; will retry');
      return 'retry';
    }
    // Another 4xx is the platform saying "never": resending the same bytes would loop forever.
    logger.error(
      {
        ...logContext,
        status: response.status,
        response: responseText.slice(0, 500),
        event_ids: batch.map((event) => event.id),
      },
      'platform rejected events; dropped',
    );
    return 'dropped';
  }

  return {
    enqueue(events) {
      if (closed || events.length === 0) return;
      // A queued-but-unsent heartbeat is stale once a newer one exists.
      if (events.some((event) => event.type === 'heartbeat')) {
        for (let index = pending.length - 1; index >= 0; index -= 1) {
          if (pending[index].type === 'heartbeat') pending.splice(index, 1);
        }
      }
      pending.push(...events);
      scheduleDrain();
    },
    kick() {
      if (retryTimer) {
        clearTimeout(retryTimer);
        retryTimer = null;
      }
      scheduleDrain();
    },
    pendingCount: () => pending.length,
    isBusy: () => draining !== null || drainScheduled !== null,
    settled: () => draining ?? Promise.resolve(),
    close() {
      closed = true;
      drainScheduled?.();
      if (retryTimer) clearTimeout(retryTimer);
      drainScheduled = null;
      retryTimer = null;
      if (pending.length > 0) {
        logger.warn({ line_id: settings.lineId, events: pending.length }, 'outbox closed with unsent events');
      }
    },
  };
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
