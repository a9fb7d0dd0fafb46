import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line and security event of a request or job is tagged with. */
export interface WorkContext {
  reqId?: string;
  jobId?: string;
  queue?: string;
  tenantId?: string;
  /** The running span as a W3C traceparent (shared/tracing.ts), when tracing is on. */
  traceparent?: string;
}

const storage = new AsyncLocalStorage<WorkContext>();

export function runWithContext<T>(context: WorkContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentContext(): WorkContext | undefined {
  return storage.getStore();
}

/** Adds fields (e.g. the tenant once authentication resolved it) to the running context. */
export function extendContext(fields: Partial<WorkContext>): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}
