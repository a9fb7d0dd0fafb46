import { signDeviceRequest } from './signing';
import { createBatcher } from '../db/batcher';
import { requestText } from '../http-request';
import { bridgeDuration } from '../metrics';
import { inSpan, SpanKind } from '../tracing';

export interface BridgeTarget {
  bridgeUrl: string;
  secret: string;
  /** The line, for the latency histogram and the span (operator-provisioned, so a bounded label). */
  lineId?: string;
}

export interface BridgeAnswer {
  status: number;
  body: Record<string, unknown> | null;
}

/**
 * One signed request to a bridge. Throws on network errors and timeouts (the
 * caller treats those as "no answer"); returns every HTTP answer as is.
 */
export async function callBridge(target: BridgeTarget, method: 'GET' | 'POST', path: string, payload: unknown, timeoutMs: number): Promise<BridgeAnswer> {
  const line = target.lineId ?? 'unknown';
  const started = process.hrtime.bigint();
  let status = 'error';
  try {
    return await inSpan(`bridge ${method} ${path}`, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.path': path, 'senderz.line_id': line } }, async (span) => {
      const answer = await bridgeRequest(target, method, path, payload, timeoutMs);
      status = String(answer.status);
      span.setAttribute('http.response.status_code', answer.status);
      return answer;
    });
  } finally {
    bridgeDuration.observe({ line, path, status }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

async function bridgeRequest(target: BridgeTarget, method: 'GET' | 'POST', path: string, payload: unknown, timeoutMs: number): Promise<BridgeAnswer> {
  const raw = method === 'GET' ? '' : JSON.stringify(payload);
  const timestamp = Math.floor(Date.now() / 1000);
  const response = await requestText(`${target.bridgeUrl}${path}`, {
    method,
    headers: {
      'Content-Type': 'application/json',
      'X-Senderz-Timestamp': String(timestamp),
      'X-Senderz-Signature': signDeviceRequest(target.secret, timestamp, raw),
    },
    body: method === 'GET' ? undefined : raw,
    timeoutMs,
  });
  const text = response.text;
  let body: Record<string, unknown> | null = null;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

export interface SendPush {
  dispatch_id: string;
  message_id: string;
  line_id: string;
  from: string;
  to: string;
  body: string;
  channel: 'imessage' | 'rcs' | 'sms';
  /** docs/device-protocol.md, Media: present only when the message has attachments. */
  media?: SendMedia[];
}

export interface SendMedia {
  /** A signed, expiring download URL on the platform (shared/media/rules.ts). */
  url: string;
  content_type: string;
  size: number;
  filename?: string;
}

export interface CapabilityResult {
  number: string;
  imessage: boolean;
  sms: boolean;
  rcs: boolean;
}

export async function askCapabilities(target: BridgeTarget, numbers: string[], timeoutMs: number): Promise<CapabilityResult[]> {
  const answer = await callBridge(target, 'POST', '/v1/capabilities', { numbers }, timeoutMs);
  if (answer.status !== 200 || !Array.isArray(answer.body?.results)) throw new Error(`capability check answered ${answer.status}`);
  return (answer.body.results as CapabilityResult[]).filter((result) => numbers.includes(result.number));
}

/** Asks a line's bridge for one number's capabilities; null when the bridge's answer leaves it out. */
export type CapabilityAsker = (target: BridgeTarget, number: string) => Promise<CapabilityResult | null>;

/**
 * A capability asker that gathers the numbers asked of one line at the same
 * moment into one POST /v1/capabilities (up to the protocol's 100), as the
 * database batcher gathers statements: a lone number goes at once, and the
 * numbers asked while that call is in flight go together in the next. A
 * failed call fails each of its numbers once (no retry one by one: the
 * bridge, not a number, is what failed), and no number waits longer than
 * `timeoutMs` in all, queued or asked.
 */
export function createCapabilityAsker(timeoutMs: number): CapabilityAsker {
  const perLine = new Map<string, (item: { target: BridgeTarget; number: string }) => Promise<CapabilityResult | null>>();
  return (target, number) => {
    const key = target.lineId ?? target.bridgeUrl;
    let ask = perLine.get(key);
    if (!ask) {
      ask = createBatcher<{ target: BridgeTarget; number: string }, CapabilityResult | null>({
        maxBatch: 100,
        maxInFlight: 2,
        retryAlone: false,
        async run(items) {
          const numbers = [...new Set(items.map((item) => item.number))];
          // The newest item's target: a line whose address or secret changed meanwhile is asked at the new one.
          const results = await askCapabilities(items[items.length - 1].target, numbers, timeoutMs);
          const byNumber = new Map(results.map((result) => [result.number, result]));
          return items.map((item) => byNumber.get(item.number) ?? null);
        },
      });
      perLine.set(key, ask);
    }
    // A number queued behind calls to a bridge that does not answer waits no longer than one call would.
    return new Promise<CapabilityResult | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('capability check timed out')), timeoutMs);
      ask({ target, number }).then(
        (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  };
}
