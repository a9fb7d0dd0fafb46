import type { MessageRow } from '../data/messages';
import type { MediaSummary } from '../data/media';

/** A message history row (`message_events`). */
export interface MessageHistoryRow {
  tenant_id: string;
  message_id: string;
  sequence: number;
  status: string;
  reason: string | null;
  occurred_at: Date;
}

/**
 * The payload of `message.<status>` (PRODUCT.md, Webhooks): the status is the
 * history row's, not the message's current one, so a late job still describes
 * the step it announces. The body travels only on inbound messages, and so
 * do their attachments (`media`), as known when the event is made: usually
 * still `pending`, since the webhook does not wait for the downloads.
 */
export function messageEventPayload(eventId: string, message: MessageRow, history: MessageHistoryRow, media: MediaSummary[] = []): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    event: `message.${history.status}`,
    event_id: eventId,
    sequence: history.sequence,
    message_id: message.id,
    tenant_id: message.tenant_id,
    from: message.from_number,
    to: message.to_number,
    channel: message.channel ?? message.requested_channel,
    status: history.status,
  };
  if (history.reason) payload.reason = history.reason;
  if (message.direction === 'inbound' && message.body !== null) payload.body = message.body;
  if (message.direction === 'inbound' && media.length > 0) {
    payload.media = media.map((item) => ({ id: item.id, status: item.status, content_type: item.content_type, size: item.size_bytes, filename: item.filename }));
  }
  if (message.campaign_id) payload.campaign_id = message.campaign_id;
  if (message.direction === 'outbound') payload.was_downgraded = message.was_downgraded;
  if (message.client_reference !== null) payload.client_reference = message.client_reference;
  payload[`${history.status}_at`] = new Date(history.occurred_at).toISOString();
  return payload;
}

/** Leading keys in the order the documentation shows them; the rest follow. */
const KEY_ORDER = ['event', 'event_id', 'sequence', 'message_id', 'tenant_id', 'from', 'to', 'channel', 'status', 'reason', 'body'];

/**
 * The exact bytes POSTed and signed. Payloads are stored as jsonb, which does
 * not keep key order; this puts the documented keys first so every attempt of
 * an event sends the same, readable bytes.
 */
export function serializeEventPayload(payload: Record<string, unknown>): Buffer {
  const ordered: Record<string, unknown> = {};
  for (const key of KEY_ORDER) if (key in payload) ordered[key] = payload[key];
  for (const [key, value] of Object.entries(payload)) if (!(key in ordered)) ordered[key] = value;
  return Buffer.from(JSON.stringify(ordered), 'utf8');
}
