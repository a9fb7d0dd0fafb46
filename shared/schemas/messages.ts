import { e164, listQuery, ulid } from './common';
import { MAX_MEDIA_PER_MESSAGE } from '../media/rules';
import type { SchemaType } from './common';
import { MAX_URL_LENGTH } from './webhooks';

export const CHANNELS = ['auto', 'imessage', 'sms', 'rcs'] as const;
export const MESSAGE_TYPES = ['otp', 'alert', 'marketing'] as const;
export const MESSAGE_STATUSES = ['scheduled', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'blocked', 'received', 'cancelled'] as const;
export const MAX_BODY_LENGTH = 1600;
/** How far ahead a send may be scheduled: a month and a few days, so "same day next month" always fits. */
export const MAX_SCHEDULE_DAYS = 35;
export const MAX_CLIENT_REFERENCE_LENGTH = 256;

export type SendMessageBody = SchemaType<typeof sendMessageSchema>;

export const sendMessageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['to'],
  properties: {
    to: e164,
    body: { type: 'string', minLength: 1, maxLength: MAX_BODY_LENGTH },
    template: { type: 'string', minLength: 1, maxLength: 200 },
    data: {
      type: 'object',
      maxProperties: 100,
      additionalProperties: { type: ['string', 'number', 'boolean'], maxLength: 1600 },
    },
    channel: { type: 'string', enum: CHANNELS },
    from_number: e164,
    message_type: { type: 'string', enum: MESSAGE_TYPES },
    /** Checked like a webhook endpoint's URL (shared/webhooks/ssrf.ts), here and on every connection. */
    status_callback: { type: 'string', minLength: 1, maxLength: MAX_URL_LENGTH },
    client_reference: { type: 'string', minLength: 1, maxLength: MAX_CLIENT_REFERENCE_LENGTH },
    send_at: { type: 'string', format: 'date-time' },
    /** Attachments the platform downloads (in a worker) and carries to the device; see shared/media/rules.ts. */
    media_urls: { type: 'array', minItems: 1, maxItems: MAX_MEDIA_PER_MESSAGE, items: { type: 'string', minLength: 1, maxLength: 2048 } },
  },
} as const;

export const sendMessageQuery = {
  dispatch_webhook: { type: 'boolean' },
} as const;

/** The bridges' signed download of an attachment (docs/device-protocol.md, Media). */
export const signedMediaQuery = {
  expires: { type: 'string', maxLength: 12, description: 'Unix seconds.' },
  signature: { type: 'string', maxLength: 64, description: 'Hex HMAC-SHA256.' },
} as const;

export const listMessagesQuery = {
  ...listQuery,
  status: { type: 'string', enum: MESSAGE_STATUSES },
  direction: { type: 'string', enum: ['outbound', 'inbound'] },
  channel: { type: 'string', enum: ['imessage', 'sms', 'rcs'] },
  to: e164,
  from: e164,
  campaign_id: ulid,
  client_reference: { type: 'string', minLength: 1, maxLength: MAX_CLIENT_REFERENCE_LENGTH },
  created_after: { type: 'string', format: 'date-time' },
  created_before: { type: 'string', format: 'date-time' },
} as const;

export const capabilityNumbersSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['numbers'],
  properties: { numbers: { type: 'array', minItems: 1, maxItems: 100, items: e164 } },
} as const;
