// Request signing exactly as docs/device-protocol.md describes it, written independently of the
// platform's own code so that a signing bug on either side shows up instead of cancelling out.
import crypto from 'node:crypto';

export const MAX_CLOCK_SKEW_SECONDS = 300;

export const TIMESTAMP_HEADER = 'x-senderz-timestamp';
export const SIGNATURE_HEADER = 'x-senderz-signature';
export const LINE_HEADER = 'x-senderz-line';

export function unixSeconds(nowMs: number = Date.now()): number {
  return Math.floor(nowMs / 1000);
}

/** Hex HMAC-SHA256(secret, "<timestamp>.<raw body>"). The secret's UTF-8 bytes are the key. */
export function computeSignatureHex(secret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = crypto.createHmac('sha256', secret);
  hmac.update(`${timestamp}.`);
  hmac.update(rawBody);
  return hmac.digest('hex');
}

export function signatureHeaders(secret: string, rawBody: Buffer | string, nowMs: number = Date.now()): {
  timestamp: string;
  signature: string;
} {
  const timestamp = String(unixSeconds(nowMs));
  return { timestamp, signature: `sha256=${computeSignatureHex(secret, timestamp, rawBody)}` };
}

export type SignatureCheck =
  | { ok: true }
  | { ok: false; reason: 'missing_timestamp' | 'bad_timestamp' | 'stale_timestamp' | 'missing_signature' | 'bad_signature' };

const SIGNATURE_PATTERN = /^sha256=([0-9a-fA-F]{64})$/;
const TIMESTAMP_PATTERN = /^\d{1,12}$/;

export function verifySignature(
  secret: string,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  rawBody: Buffer,
  nowMs: number = Date.now(),
): SignatureCheck {
  if (!timestampHeader) return { ok: false, reason: 'missing_timestamp' };
  if (!TIMESTAMP_PATTERN.test(timestampHeader)) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs(unixSeconds(nowMs) - Number(timestampHeader)) > MAX_CLOCK_SKEW_SECONDS) {
    return { ok: false, reason: 'stale_timestamp' };
  }
  if (!signatureHeader) return { ok: false, reason: 'missing_signature' };
  const match = SIGNATURE_PATTERN.exec(signatureHeader.trim());
  if (!match) return { ok: false, reason: 'bad_signature' };
  const expected = Buffer.from(computeSignatureHex(secret, timestampHeader, rawBody), 'hex');
  const given = Buffer.from(match[1], 'hex');
  // timingSafeEqual throws on unequal lengths; the pattern above already pins 32 bytes, this is belt and braces.
  if (given.length !== expected.length) return { ok: false, reason: 'bad_signature' };
  return crypto.timingSafeEqual(given, expected) ? { ok: true } : { ok: false, reason: 'bad_signature' };
}

/** Constant-time string comparison for the control token. */
export function safeEqualStrings(a: string, b: string): boolean {
  const left = crypto.createHash('sha256').update(a).digest();
  const right = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(left, right);
}
