import { context, trace, isSpanContextValid, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, Attributes, Context } from '@opentelemetry/api';
import { currentContext, runWithContext } from './context';

/**
 * Traces through `@opentelemetry/api` only: without an SDK registered (the
 * default) every span is a no-op. Load an SDK in the process (e.g. `node
 * --import ./otel-setup.mjs dist/bin/web.js`) and the request, each job and
 * each bridge call become spans of one trace: the span running when a job is
 * enqueued rides in the job's payload as a W3C `traceparent` string, and the
 * worker's span for that job is its child.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export const traceparentPattern = TRACEPARENT.source;

function tracer() {
  return trace.getTracer('senderz');
}

/** The parent a `traceparent` names (or the running span's context when there is none). */
function parentFrom(traceparent: string | undefined): Context {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!match) return context.active();
  const spanContext = { traceId: match[1], spanId: match[2], traceFlags: parseInt(match[3], 16), isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : context.active();
}

export function traceparentOf(span: Span): string | undefined {
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return undefined;
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent, as carried in a job; otherwise the work context's current span. */
  traceparent?: string;
}

/**
 * Opens a span for `fn` and makes it the current one of the work context, so
 * jobs enqueued and bridges called inside it are its children. An error thrown
 * by `fn` is recorded on the span unless `expected(error)` says it is not one.
 */
export function startSpan(name: string, options: SpanOptions = {}): { span: Span; run<T>(fn: () => T): T } {
  const parent = parentFrom(options.traceparent ?? currentContext()?.traceparent);
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  const active = trace.setSpan(parent, span);
  return {
    span,
    run: (fn) => {
      const traceparent = traceparentOf(span);
      if (!traceparent) return context.with(active, fn);
      return runWithContext({ ...currentContext(), traceparent }, () => context.with(active, fn));
    },
  };
}

export async function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>, expected: (error: unknown) => boolean = () => false): Promise<T> {
  const { span, run } = startSpan(name, options);
  try {
    return await run(() => fn(span));
  } catch (error) {
    if (!expected(error)) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    }
    throw error;
  } finally {
    span.end();
  }
}

/** The payload with the current span's `traceparent` added, when a trace is running. */
export function withTraceparent<P extends Record<string, unknown>>(payload: P): P {
  const traceparent = currentContext()?.traceparent;
  return traceparent ? { ...payload, traceparent } : payload;
}

export { SpanKind, SpanStatusCode };
