import crypto from 'node:crypto';

/**
 * Sender-side signatures. Two schemes on every delivery, over the exact bytes
 * sent:
 * - `X-Senderz-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, the key
 *   being the whole secret string as the tenant received it;
 * - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature:
 *   v1,<base64 HMAC-SHA256(base64-decoded secret, "id.timestamp.body")>`), so
 *   stock verifier libraries work.
 * During a secret rotation both secrets sign and both signatures are sent.
 */
export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
/** Standard Webhooks: secrets are 24 to 64 random bytes. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

export function generateWebhookSecret(): string {
  return SECRET_PREFIX + crypto.randomBytes(SECRET_BYTES).toString('base64');
}

/** Why a tenant-chosen secret is refused, or null when it is usable. */
export function webhookSecretProblem(secret: string): string | null {
  if (!secret.startsWith(SECRET_PREFIX)) return `must start with "${SECRET_PREFIX}"`;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return `must be "${SECRET_PREFIX}" followed by base64`;
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
    return `must encode between ${MIN_SECRET_BYTES} and ${MAX_SECRET_BYTES} random bytes (got ${bytes})`;
  }
  return null;
}

function secretKeyBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

export type SignatureHeaders = {
  'X-Senderz-Signature': string;
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/**
 * Signs one attempt. `secrets` is the current secret first, then the previous
 * one while its rotation overlap lasts; `timestamp` is unix seconds.
 */
export function signDelivery(input: { id: string; timestamp: number; body: Buffer; secrets: string[] }): SignatureHeaders {
  const signed = Buffer.concat([Buffer.from(`${input.id}.${input.timestamp}.`, 'utf8'), input.body]);
  return {
    'X-Senderz-Signature': input.secrets.map((secret) => `sha256=${crypto.createHmac('sha256', secret).update(input.body).digest('hex')}`).join(','),
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': input.secrets.map((secret) => `v1,${crypto.createHmac('sha256', secretKeyBytes(secret)).update(signed).digest('base64')}`).join(' '),
  };
}
