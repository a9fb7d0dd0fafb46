import crypto from 'node:crypto';

/**
 * Verifying senderz webhooks, for receivers. Self-contained (node:crypto only)
 * so it can be copied into a receiver's code base as is.
 *
 * Always verify the RAW request body: the bytes as received, before any JSON
 * parsing. Parsing and re-serialising changes whitespace, key order or number
 * formatting and the signature no longer matches. With Express:
 *
 *   app.post('/hooks', express.raw({ type: 'application/json' }), (req, res) => {
 *     if (!verifySenderzSignature(req.body, req.get('X-Senderz-Signature'), process.env.SENDERZ_WEBHOOK_SECRET)) {
 *       return res.sendStatus(400);
 *     }
 *     const event = JSON.parse(req.body.toString('utf8'));
 *     // de-duplicate on event.event_id (the `webhook-id` header): retries resend the same event
 *     res.sendStatus(200);
 *   });
 */

function assertRawBody(rawBody: unknown): Buffer {
  if (Buffer.isBuffer(rawBody)) return rawBody;
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  if (rawBody instanceof Uint8Array) return Buffer.from(rawBody);
  throw new TypeError(
    'verify the raw request body (a Buffer or string, e.g. from express.raw()), not parsed JSON: re-serialising changes the bytes that were signed',
  );
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

/**
 * Checks `X-Senderz-Signature` (`sha256=<hex>`, several comma-separated during a
 * secret rotation) against the raw body. True when any signature matches.
 */
export function verifySenderzSignature(rawBody: Buffer | string, header: string | null | undefined, secret: string): boolean {
  const body = assertRawBody(rawBody);
  if (!header || !secret) return false;
  const expected = crypto.createHmac('sha256', secret).update(body).digest('hex');
  return header
    .split(/[,\s]+/)
    .filter(Boolean)
    .some((part) => part.startsWith('sha256=') && safeEqual(part.slice('sha256='.length), expected));
}

/** Standard Webhooks allow this much clock skew between sender and receiver. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/**
 * Checks the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the raw body, refusing timestamps more than
 * `toleranceSeconds` away from `now` (replay protection). Equivalent to the
 * `standardwebhooks` package's `Webhook.verify`, without throwing.
 */
export function verifyStandardWebhook(
  rawBody: Buffer | string,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
  options: { toleranceSeconds?: number; now?: Date } = {},
): boolean {
  const body = assertRawBody(rawBody);
  const header = (name: string) => {
    const value = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const expected = crypto
    .createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), body]))
    .digest('base64');
  return signatures
    .split(' ')
    .filter(Boolean)
    .some((part) => part.startsWith('v1,') && safeEqual(part.slice(3), expected));
}
