import type { Knex } from 'knex';
import type { TenantTx } from '../db/tenant';
import { NotFoundError } from '../errors';
import { newId } from '../ids';
import { cleanFilename, filenameOf, mediaTypeOf } from '../media/rules';

/**
 * Media attachments of messages (message_media): recorded as `pending` with
 * their source URL when the message is accepted, `stored` with their bytes
 * once fetched, or `failed` with the reason. Reads list metadata; only
 * `mediaContent` loads the bytes.
 */
export type MediaStatus = 'pending' | 'stored' | 'failed' | 'purged';

export interface MediaSummary {
  id: string;
  position: number;
  status: MediaStatus;
  content_type: string | null;
  size_bytes: number | null;
  filename: string | null;
  error: string | null;
}

const SUMMARY_COLUMNS = ['id', 'position', 'status', 'content_type', 'size_bytes', 'filename', 'error'];

/** Records a message's attachments, in order, as pending. */
export async function insertMessageMedia(t: TenantTx, messageId: string, urls: string[]): Promise<void> {
  if (urls.length === 0) return;
  await t.insert(
    'message_media',
    urls.map((url, position) => ({ id: newId(), message_id: messageId, position, source_url: url, filename: filenameOf(url) })),
  );
}

/**
 * Records an inbound message's attachments, in order, as pending, with what
 * the bridge said of them (type, size, name). The download replaces the type
 * and size with what was actually served.
 */
export async function insertInboundMedia(
  t: TenantTx,
  messageId: string,
  items: { url: string; content_type?: string; size?: number; filename?: string }[],
): Promise<void> {
  if (items.length === 0) return;
  await t.insert(
    'message_media',
    items.map((item, position) => ({
      id: newId(),
      message_id: messageId,
      position,
      source_url: item.url,
      content_type: mediaTypeOf(item.content_type) || null,
      size_bytes: item.size ?? null,
      filename: (item.filename !== undefined ? cleanFilename(item.filename) : null) ?? filenameOf(item.url),
    })),
  );
}

/** A message's attachments in order, without their bytes. */
export async function listMessageMedia(t: TenantTx, messageId: string): Promise<MediaSummary[]> {
  return (await t.from('message_media').where({ message_id: messageId }).orderBy('position').select(SUMMARY_COLUMNS)) as MediaSummary[];
}

/** The attachments of several messages (a page of a list), by message id. */
export async function mediaOfMessages(t: TenantTx, messageIds: string[]): Promise<Map<string, MediaSummary[]>> {
  const byMessage = new Map<string, MediaSummary[]>();
  if (messageIds.length === 0) return byMessage;
  const rows = (await t
    .from('message_media')
    .whereIn('message_id', messageIds)
    .orderBy(['message_id', 'position'])
    .select(['message_id', ...SUMMARY_COLUMNS])) as (MediaSummary & { message_id: string })[];
  for (const { message_id: messageId, ...summary } of rows) {
    const list = byMessage.get(messageId) ?? [];
    list.push(summary);
    byMessage.set(messageId, list);
  }
  return byMessage;
}

/**
 * An attachment as the API shows it: `url` is the authenticated download
 * (GET /v1/messages/{id}/media/{media_id}) once the bytes are stored, null
 * before; `error` says why a failed one could not be taken.
 */
export function presentMedia(publicUrl: string, messageId: string, media: MediaSummary) {
  return {
    id: media.id,
    status: media.status,
    content_type: media.content_type,
    size: media.size_bytes,
    filename: media.filename,
    url: media.status === 'stored' ? `${publicUrl.replace(/\/+$/, '')}/v1/messages/${messageId}/media/${media.id}` : null,
    error: media.error,
  };
}

/** The attachments of a message still to be fetched, with where to fetch them from. */
export async function pendingMessageMedia(t: TenantTx, messageId: string): Promise<{ id: string; source_url: string }[]> {
  return (await t.from('message_media').where({ message_id: messageId, status: 'pending' }).orderBy('position').select('id', 'source_url')) as {
    id: string;
    source_url: string;
  }[];
}

/** Stores a fetched attachment; a second run finds it no longer pending and changes nothing. */
export async function storeMessageMedia(t: TenantTx, mediaId: string, content: Buffer, contentType: string): Promise<boolean> {
  const updated = await t
    .from('message_media')
    .where({ id: mediaId, status: 'pending' })
    .update({ status: 'stored', content, content_type: contentType, size_bytes: content.length, stored_at: new Date(), error: null });
  return updated > 0;
}

/** Marks a pending attachment as failed with a reason (one of shared/media/fetch.ts's MediaFailure). */
export async function failMessageMedia(t: TenantTx, mediaId: string, reason: string): Promise<void> {
  await t.from('message_media').where({ id: mediaId, status: 'pending' }).update({ status: 'failed', error: reason });
}

/**
 * One stored attachment's bytes, for a download. `messageId`, when given, must
 * be the attachment's message. Missing, another tenant's, not stored yet:
 * the same not-found.
 */
export async function mediaContent(t: TenantTx, mediaId: string, messageId?: string): Promise<{ content: Buffer; content_type: string; filename: string | null; message_id: string }> {
  const query = t.from('message_media').where({ id: mediaId, status: 'stored' });
  if (messageId !== undefined) void query.where({ message_id: messageId });
  const row = (await query.first('content', 'content_type', 'filename', 'message_id')) as
    | { content: Buffer; content_type: string; filename: string | null; message_id: string }
    | undefined;
  if (!row) throw new NotFoundError('media');
  return row;
}

/**
 * Retention, across tenants on the owner pool, with the message bodies: clears
 * the bytes of attachments older than `days` (their metadata stays, as
 * `purged`), in batches of `batch`; returns how many.
 */
export async function purgeOldMedia(owner: Knex, days: number, batch = 500): Promise<number> {
  let purged = 0;
  for (;;) {
    const result = await owner.raw(
      `UPDATE message_media SET content = NULL, status = 'purged'
        WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM message_media
                WHERE status = 'stored' AND created_at < now() - make_interval(days => ?) LIMIT ?)`,
      [days, batch],
    );
    purged += result.rowCount ?? 0;
    if ((result.rowCount ?? 0) < batch) return purged;
  }
}
