import { listQuery, name, ulid } from './common';
import type { SchemaType } from './common';
import { CHANNELS, MESSAGE_TYPES } from './messages';

/** The most recipients one campaign may name (PRODUCT.md). */
export const MAX_CAMPAIGN_RECIPIENTS = 10000;
/** How far ahead a campaign may be scheduled. */
export const MAX_SCHEDULE_AHEAD_DAYS = 366;

export const CAMPAIGN_STATUSES = ['queued', 'scheduled', 'sending', 'paused', 'cancelled', 'completed'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export type CreateCampaignBody = SchemaType<typeof createCampaignSchema>;

export const createCampaignSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name,
    body: { type: 'string', minLength: 1, maxLength: 1600 },
    template: { type: 'string', minLength: 1, maxLength: 200 },
    data: {
      type: 'object',
      maxProperties: 100,
      additionalProperties: { type: ['string', 'number', 'boolean'], maxLength: 1600 },
    },
    // Each recipient is a contact id or an E.164 number; which one (and whether
    // the number is possible) is checked per item after the schema.
    recipients: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_CAMPAIGN_RECIPIENTS,
      items: { type: 'string', minLength: 1, maxLength: 32 },
    },
    group_id: ulid,
    channel: { type: 'string', enum: CHANNELS },
    message_type: { type: 'string', enum: MESSAGE_TYPES },
    scheduled_at: { type: 'string', format: 'date-time' },
  },
} as const;

export const listCampaignsQuery = {
  ...listQuery,
  status: { type: 'string', enum: CAMPAIGN_STATUSES },
} as const;
