import { SenderzError, SenderzErrorDetail } from './errors';

export interface TransportOptions {
  /** e.g. `http://127.0.0.1:3000`; default `$SENDERZ_URL` or `http://127.0.0.1:3000`. */
  baseUrl?: string;
  /** Retries after the first attempt on 429, 5xx and connection errors (default 2). */
  maxRetries?: number;
  /** The longest wait before a retry; a `Retry-After` beyond it is not waited for (default 60 s, one rate-limit window). */
  maxRetryDelayMs?: number;
  /** Per attempt (default 30 s). */
  timeoutMs?: number;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** How to wait before a retry (default: a timer); called with the delay it honours. */
  sleep?: (ms: number) => Promise<void>;
}

export interface RawRequest {
  method: string;
  path: string;
  query?: Record<string, unknown>;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is, e.g. a CSV upload. */
  text?: { contentType: string; data: string };
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
  requestId: string | null;
}

const DEFAULT_BASE_URL = 'http://127.0.0.1:3000';
const BASE_BACKOFF_MS = 500;

/** An environment variable where there is an environment (Node), else undefined (browsers, workers). */
export function fromEnv(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env[name];
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function queryString(query: Record<string, unknown> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function retryAfterSeconds(headers: Headers): number | null {
  const value = headers.get('retry-after');
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

async function parseBody(response: Response): Promise<unknown> {
  const type = response.headers.get('content-type') ?? '';
  // Attachments (pictures, video, audio, PDF) come back as bytes; JSON and CSV as text.
  if (response.ok && type && !type.includes('json') && !type.startsWith('text/')) return new Uint8Array(await response.arrayBuffer());
  const text = await response.text();
  if (!type.includes('json')) return text;
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

function errorFrom(status: number, headers: Headers, body: unknown): SenderzError {
  const envelope = (body && typeof body === 'object' ? body : {}) as { error?: unknown; code?: unknown; details?: unknown };
  return new SenderzError({
    message: typeof envelope.error === 'string' ? envelope.error : `HTTP ${status}`,
    status,
    code: typeof envelope.code === 'string' ? envelope.code : `HTTP_${status}`,
    details: Array.isArray(envelope.details) ? (envelope.details as SenderzErrorDetail[]) : undefined,
    requestId: headers.get('x-request-id'),
    retryAfter: retryAfterSeconds(headers),
  });
}

/**
 * One authenticated HTTP connection to the API: JSON in and out, typed
 * errors, and bounded retries. 429 is always retried (the request was not
 * executed) after `Retry-After`; 5xx and connection errors are retried with
 * exponential backoff only when repeating is safe: any method but POST, or a
 * POST carrying an `Idempotency-Key` (the same key on every attempt).
 */
export class Transport {
  readonly baseUrl: string;
  private readonly maxRetries: number;
  private readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly authorization: string,
    options: TransportOptions = {},
  ) {
    this.baseUrl = (options.baseUrl ?? fromEnv('SENDERZ_URL') ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.maxRetries = options.maxRetries ?? 2;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? fetch;
    this.sleep = options.sleep ?? defaultSleep;
  }

  async request(request: RawRequest): Promise<RawResponse> {
    const url = `${this.baseUrl}${request.path}${queryString(request.query)}`;
    const headers: Record<string, string> = { Authorization: this.authorization, Accept: 'application/json, text/csv, */*;q=0.1' };
    let payload: string | undefined;
    if (request.text) {
      headers['Content-Type'] = request.text.contentType;
      payload = request.text.data;
    } else if (request.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(request.body);
    }
    if (request.idempotencyKey) headers['Idempotency-Key'] = request.idempotencyKey;
    const repeatable = request.method !== 'POST' || Boolean(request.idempotencyKey);

    for (let attempt = 0; ; attempt += 1) {
      const signals = [AbortSignal.timeout(this.timeoutMs), ...(request.signal ? [request.signal] : [])];
      let response: Response;
      try {
        response = await this.fetchImpl(url, { method: request.method, headers, body: payload, signal: AbortSignal.any(signals) });
      } catch (cause) {
        if (request.signal?.aborted) throw cause;
        const error = new SenderzError({ message: `Could not reach ${this.baseUrl}: ${(cause as Error).message}`, status: 0, code: 'CONNECTION_ERROR', cause });
        if (!repeatable || attempt >= this.maxRetries) throw error;
        await this.sleep(this.backoff(attempt));
        continue;
      }
      const body = await parseBody(response);
      if (response.ok) return { status: response.status, headers: response.headers, body, requestId: response.headers.get('x-request-id') };

      const error = errorFrom(response.status, response.headers, body);
      const retryable = response.status === 429 || (response.status >= 500 && repeatable);
      if (!retryable || attempt >= this.maxRetries) throw error;
      const delay = error.retryAfter !== null ? error.retryAfter * 1000 : this.backoff(attempt);
      // Waiting less than Retry-After would only earn another 429: give the caller the error instead.
      if (delay > this.maxRetryDelayMs) throw error;
      await this.sleep(delay);
    }
  }

  /** 0.5 s, 1 s, 2 s … with ±25 % jitter, capped by maxRetryDelayMs. */
  private backoff(attempt: number): number {
    const base = BASE_BACKOFF_MS * 2 ** attempt;
    return Math.min(this.maxRetryDelayMs, Math.round(base * (0.75 + Math.random() * 0.5)));
  }
}
