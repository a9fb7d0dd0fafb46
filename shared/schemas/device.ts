import { e164 } from './common';
import { MAX_MEDIA_BYTES, MAX_MEDIA_PER_MESSAGE } from '../media/rules';
import type { SchemaType } from './common';

export const DEVICE_EVENT_TYPES = ['sent', 'delivered', 'read', 'failed', 'received', 'heartbeat'] as const;
export type DeviceEventType = (typeof DEVICE_EVENT_TYPES)[number];

export type DeviceEvent = SchemaType<(typeof deviceEventsSchema)['properties']['events']['items']>;

// PostgreSQL text cannot hold NUL: refuse it up front so a batch is refused whole.
const NO_NUL = '^[^\\u0000]*$';
const dispatchId = { type: 'string', minLength: 1, maxLength: 64, pattern: NO_NUL } as const;

/**
 * An inbound attachment as the bridge announces it (docs/device-protocol.md,
 * Media): where to download it and what the bridge says it is. The platform
 * trusts only what it downloads: the served type and the measured size.
 */
const inboundMedia = {
  type: 'array',
  minItems: 1,
  maxItems: MAX_MEDIA_PER_MESSAGE,
  items: {
    type: 'object',
    required: ['url'],
    properties: {
      url: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\u0000]+$' },
      content_type: { type: 'string', minLength: 1, maxLength: 255, pattern: NO_NUL },
      size: { type: 'integer', minimum: 0, maximum: MAX_MEDIA_BYTES },
      filename: { type: 'string', maxLength: 255, pattern: NO_NUL },
    },
  },
} as const;

/**
 * docs/device-protocol.md "Bridge → platform". Extra fields a bridge adds are
 * tolerated (bridges are written by third parties and evolve); missing or
 * mistyped required fields are not.
 */
export const deviceEventsSchema = {
  type: 'object',
  required: ['events'],
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        required: ['id', 'type', 'occurred_at'],
        properties: {
          id: { type: 'string', minLength: 1, maxLength: 128, pattern: NO_NUL },
          type: { type: 'string', enum: DEVICE_EVENT_TYPES },
          occurred_at: { type: 'string', format: 'date-time' },
          dispatch_id: dispatchId,
          reason: { type: 'string', minLength: 1, maxLength: 64, pattern: NO_NUL },
          from: e164,
          to: e164,
          body: { type: 'string', maxLength: 10000 },
          channel: { type: 'string', enum: ['imessage', 'sms', 'rcs'] },
          battery: { type: 'number' },
          signal: { type: 'number' },
          media: inboundMedia,
        },
        allOf: [
          { if: { properties: { type: { enum: ['sent', 'delivered', 'read'] } } }, then: { required: ['dispatch_id'] } },
          { if: { properties: { type: { const: 'failed' } } }, then: { required: ['dispatch_id', 'reason'] } },
          { if: { properties: { type: { const: 'received' } } }, then: { required: ['from', 'to', 'channel'], anyOf: [{ required: ['body'] }, { required: ['media'] }] } },
        ],
      },
    },
  },
} as const;
