import { signDeviceRequest } from './signing';
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
