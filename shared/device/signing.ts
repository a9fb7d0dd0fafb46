import { constantTimeEqual, hmacSha256Hex } from '../crypto';

/** docs/device-protocol.md "Signing": HMAC-SHA256(secret, "<timestamp>.<raw body>"). */
export function signDeviceRequest(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return `sha256=${hmacSha256Hex(secret, Buffer.concat([Buffer.from(`${timestamp}.`), Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody)]))}`;
}

export type SignatureProblem = 'missing' | 'stale' | 'mismatch';

export function verifyDeviceSignature(
  secret: string,
  headers: { timestamp?: string; signature?: string },
  rawBody: Buffer,
  toleranceSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignatureProblem | null {
  if (!headers.timestamp || !headers.signature) return 'missing';
  if (!/^\d{1,12}$/.test(headers.timestamp)) return 'missing';
  const timestamp = Number(headers.timestamp);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return 'stale';
  return constantTimeEqual(signDeviceRequest(secret, timestamp, rawBody), headers.signature) ? null : 'mismatch';
}
