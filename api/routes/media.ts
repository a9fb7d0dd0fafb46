import { Router, type Response } from 'express';
import { withTenant } from '../../shared/db/tenant';
import { NotFoundError } from '../../shared/errors';
import { mediaContent } from '../../shared/data/media';
import { verifyMediaSignature } from '../../shared/media/rules';
import { signedMediaQuery } from '../../shared/schemas/messages';
import { queryValidator } from '../validate';
import type { ApiDeps } from '../types';

const parseSignedQuery = queryValidator<{ expires?: string; signature?: string }>(signedMediaQuery);

/**
 * Answers with an attachment's bytes. `nosniff` and an attachment disposition
 * for anything that is not a picture, video or audio keep a browser from
 * rendering a stored document as a page of the platform's origin.
 */
export function sendMedia(res: Response, media: { content: Buffer; content_type: string; filename: string | null }): void {
  const inline = /^(image|video|audio)\//.test(media.content_type);
  const filename = (media.filename ?? 'attachment').replace(/["\\\r\n]/g, '');
  res.set({
    'Content-Type': media.content_type,
    'Content-Length': String(media.content.length),
    'Content-Disposition': `${inline ? 'inline' : 'attachment'}; filename="${filename}"`,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'private, max-age=300',
  });
  res.status(200).end(media.content);
}

/**
 * The bridges' download of an outbound attachment (docs/device-protocol.md,
 * Media): no API key, the URL's signature is the permission. It names one
 * attachment of one tenant and expires; a wrong, expired or foreign URL is the
 * same 404 as an unknown one.
 */
export function mediaDownloadRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/v1/:tenantId/:mediaId', async (req, res) => {
    const { tenantId, mediaId } = req.params;
    const { expires = '', signature = '' } = parseSignedQuery(req);
    if (!verifyMediaSignature(deps.config.encryptionKey, tenantId, mediaId, expires, signature)) throw new NotFoundError('media');
    const media = await withTenant(deps.db.app, tenantId, (t) => mediaContent(t, mediaId));
    sendMedia(res, media);
  });
  return router;
}
