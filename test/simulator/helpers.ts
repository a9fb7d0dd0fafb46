// Test-side stand-ins for the platform. The HMAC code here is written again on purpose, straight
// from docs/device-protocol.md, so it checks the simulator rather than agreeing with it by construction.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedEvent {
  id: string;
  type: string;
  occurred_at: string;
  [field: string]: unknown;
}

export interface RecordedPost {
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  events: ReceivedEvent[];
  signatureValid: boolean;
  status: number;
}

export interface FakePlatform {
  url: string;
  posts: RecordedPost[];
  /** Statuses to answer the next event posts with, one each, before answering 202 again. */
  answerNext: number[];
  /** Events from posts the fake platform accepted (202), in arrival order. */
  acceptedEvents(lineId?: string): ReceivedEvent[];
  stop(): Promise<void>;
}

export function hmacHex(secret: string, timestamp: string, rawBody: string): string {
  return crypto.createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function startFakePlatform(secretsByLine: Map<string, string>): Promise<FakePlatform> {
  const posts: RecordedPost[] = [];
  const answerNext: number[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const lineId = header(req.headers, 'x-senderz-line') ?? '';
      const timestamp = header(req.headers, 'x-senderz-timestamp') ?? '';
      const signature = header(req.headers, 'x-senderz-signature') ?? '';
      const secret = secretsByLine.get(lineId);
      const expected = secret === undefined ? '' : `sha256=${hmacHex(secret, timestamp, rawBody)}`;
      const fresh = Math.abs(Math.floor(Date.now() / 1000) - Number(timestamp)) <= 300;
      const signatureValid =
        secret !== undefined &&
        fresh &&
        signature.length === expected.length &&
        crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected));

      let events: ReceivedEvent[] = [];
      try {
        events = (JSON.parse(rawBody) as { events: ReceivedEvent[] }).events;
      } catch {
        events = [];
      }
      let status = 202;
      if (req.method !== 'POST' || req.url !== '/device/v1/events') status = 404;
      else if (!signatureValid) status = 401;
      else if (answerNext.length > 0) status = answerNext.shift() as number;

      posts.push({ path: req.url ?? '', headers: req.headers, rawBody, events, signatureValid, status });
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(status === 202 ? { accepted: events.length } : { error: 'nope' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    posts,
    answerNext,
    acceptedEvents(lineId) {
      return posts
        .filter((post) => post.status === 202 && (lineId === undefined || post.headers['x-senderz-line'] === lineId))
        .flatMap((post) => post.events);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A platform → bridge request signed the way the protocol says. */
export async function signedRequest(
  url: string,
  secret: string,
  options: { method?: string; body?: unknown; timestamp?: number; signature?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const rawBody = options.body === undefined ? '' : JSON.stringify(options.body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = options.signature ?? `sha256=${hmacHex(secret, timestamp, rawBody)}`;
  const response = await fetch(url, {
    method,
    headers: {
      'Content-Type': 'application/json',
      'X-Senderz-Timestamp': timestamp,
      'X-Senderz-Signature': signature,
    },
    body: method === 'GET' ? undefined : rawBody,
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export async function controlRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Polls until `probe` returns something truthy, or fails after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | null | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
