import crypto from 'node:crypto';
import { SenderzSignatureError } from './errors';
import type { components } from './schema';

/**
 * Verifying senderz webhooks on the receiving side, written from the public
 * contract (PRODUCT.md "Webhooks") rather than shared with the platform's
 * signer, so a bug on one side cannot hide the same bug on the other:
 * - `X-Senderz-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`
 *   (several, comma-separated, while a rotated secret overlaps);
 * - Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
 *   keyed with the base64-decoded secret (`whsec_` prefix dropped).
 * Verify the RAW body (e.g. `express.raw({ type: 'application/json' })`): parsing
 * and re-serialising JSON changes the bytes that were signed.
 */

export type WebhookEvent = components['schemas']['WebhookEvent'];
export type RawBody = Buffer | Uint8Array | string;
export type WebhookHeaders = Record<string, string | string[] | undefined> | Headers;

/** Standard Webhooks' default allowance for clock skew (and replay window). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

function bytes(rawBody: RawBody): Buffer {
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  if (rawBody instanceof Uint8Array) return Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
  throw new TypeError('verify the raw request body (a Buffer or string), not parsed JSON');
}

function equal(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

/** True when `X-Senderz-Signature` matches the raw body with `secret`. */
export function verifySenderzSignature(rawBody: RawBody, signatureHeader: string | null | undefined, secret: string): boolean {
  const body = bytes(rawBody);
  if (!signatureHeader || !secret) return false;
  const expected = crypto.createHmac('sha256', secret).update(body).digest('hex');
  return signatureHeader
    .split(/[,\s]+/)
    .some((part) => part.startsWith('sha256=') && equal(part.slice('sha256='.length).toLowerCase(), expected));
}

/** True when the Standard Webhooks headers match and the timestamp is within `toleranceSeconds` of now. */
export function verifyStandardWebhook(rawBody: RawBody, headers: WebhookHeaders, secret: string, options: { toleranceSeconds?: number; now?: Date } = {}): boolean {
  const body = bytes(rawBody);
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp) || !secret) return false;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const expected = crypto.createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return signatures.split(' ').some((part) => part.startsWith('v1,') && equal(part.slice(3), expected));
}

/**
 * Verifies a delivery (`X-Senderz-Signature`) and returns its parsed event, or
 * throws SenderzSignatureError. De-duplicate on `event.event_id`: retries
 * resend the same event.
 */
export function parseWebhookEvent(rawBody: RawBody, headers: WebhookHeaders, secret: string): WebhookEvent {
  if (!verifySenderzSignature(rawBody, header(headers, 'x-senderz-signature'), secret)) throw new SenderzSignatureError();
  return JSON.parse(bytes(rawBody).toString('utf8')) as WebhookEvent;
}
