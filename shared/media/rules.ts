import crypto from 'node:crypto';
import { constantTimeEqual, hmacSha256Hex } from '../crypto';

/** At most this many attachments per message (iMessage and RCS clients show about as many per bubble group). */
export const MAX_MEDIA_PER_MESSAGE = 10;
/** Each attachment at most 5 MiB: above what carriers pass for MMS, and what RCS and iMessage bridges handle without chunking. */
export const MAX_MEDIA_BYTES = 5 * 1024 * 1024;
/** How long one attachment's download may take, DNS to last byte. */
export const MEDIA_FETCH_TIMEOUT_MS = 10000;
/** How long a signed URL handed to a bridge stays valid (each push signs afresh). */
export const MEDIA_URL_TTL_SECONDS = 3600;

/**
 * The types a message may carry: pictures, video, audio, PDF and contact
 * cards. SVG is refused (a script-capable document, not a picture).
 */
export function isAllowedMediaType(contentType: string): boolean {
  const type = contentType.toLowerCase();
  if (type === 'image/svg+xml') return false;
  if (/^(image|video|audio)\/[a-z0-9.+-]+$/.test(type)) return true;
  return ['application/pdf', 'text/vcard', 'text/x-vcard'].includes(type);
}

/** The bare MIME type of a Content-Type header ("image/png; q=1" → "image/png"). */
export function mediaTypeOf(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** A file name to show for an attachment: the last path segment of its URL, when it has one. */
export function filenameOf(url: string): string | null {
  try {
    return cleanFilename(decodeURIComponent(new URL(url).pathname.split('/').pop() ?? ''));
  } catch {
    return null;
  }
}

/** A file name safe to show and to put in a Content-Disposition: letters, digits, `._ -`, at most 200 characters. */
export function cleanFilename(name: string): string | null {
  return name.replace(/[^\p{L}\p{N}._ -]/gu, '').slice(0, 200) || null;
}

/**
 * The key that signs bridges' download URLs, derived from the encryption key
 * so no new secret has to be configured, and distinct from it so a signature
 * never reveals anything about the key that protects secrets at rest.
 */
function signingKey(encryptionKey: Buffer): Buffer {
  return crypto.createHmac('sha256', encryptionKey).update('senderz media download URLs v1').digest();
}

function signature(encryptionKey: Buffer, tenantId: string, mediaId: string, expires: number): string {
  return hmacSha256Hex(signingKey(encryptionKey), `${tenantId}.${mediaId}.${expires}`);
}

/** A download URL for a bridge: one attachment of one tenant, valid until `expires`. */
export function signedMediaUrl(publicUrl: string, encryptionKey: Buffer, tenantId: string, mediaId: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + MEDIA_URL_TTL_SECONDS;
  const base = publicUrl.replace(/\/+$/, '');
  return `${base}/media/v1/${encodeURIComponent(tenantId)}/${encodeURIComponent(mediaId)}?expires=${expires}&signature=${signature(encryptionKey, tenantId, mediaId, expires)}`;
}

/** Whether a download URL's signature is the platform's and has not expired. */
export function verifyMediaSignature(encryptionKey: Buffer, tenantId: string, mediaId: string, expires: string, given: string, now = Date.now()): boolean {
  if (!/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(given)) return false;
  if (Number(expires) < Math.floor(now / 1000)) return false;
  return constantTimeEqual(signature(encryptionKey, tenantId, mediaId, Number(expires)), given);
}
