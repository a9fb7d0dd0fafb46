import pino from 'pino';
import { currentContext } from './context';

export type Logger = pino.Logger;

/**
 * Structured JSON logs. Every line carries reqId / jobId / tenantId of the work
 * it belongs to. Secrets and message bodies are redacted by path as a second
 * line of defence; the first is never passing them to a logger.
 */
export function createLogger(level = 'info', name = 'senderz'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin() {
      const context = currentContext();
      if (!context) return {};
      const fields: Record<string, string> = {};
      if (context.reqId) fields.reqId = context.reqId;
      if (context.jobId) fields.jobId = context.jobId;
      if (context.queue) fields.queue = context.queue;
      if (context.tenantId) fields.tenantId = context.tenantId;
      if (context.traceparent) fields.traceId = context.traceparent.slice(3, 35);
      return fields;
    },
    redact: {
      paths: ['*.body', '*.secret', '*.key', '*.password', '*.authorization', 'body', 'secret', 'key', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}

/** The process-wide logger; boot sets its level from the configuration (LOG_LEVEL, validated in shared/config.ts). */
export const logger = createLogger();
