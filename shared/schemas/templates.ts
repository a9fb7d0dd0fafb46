import { listQuery, name } from './common';
import type { SchemaType } from './common';
import { MAX_BODY_LENGTH } from './messages';

export const TEMPLATE_TYPES = ['otp', 'alert', 'marketing'] as const;
export const TEMPLATE_CHANNELS = ['imessage', 'sms', 'both'] as const;
export type TemplateType = (typeof TEMPLATE_TYPES)[number];
export type TemplateChannel = (typeof TEMPLATE_CHANNELS)[number];

export type CreateTemplateBody = SchemaType<typeof createTemplateSchema>;

const properties = {
  name,
  type: { type: 'string', enum: TEMPLATE_TYPES },
  channel: { type: 'string', enum: TEMPLATE_CHANNELS },
  body: { type: 'string', minLength: 1, maxLength: MAX_BODY_LENGTH },
} as const;

export const createTemplateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'body'],
  properties,
} as const;

export type UpdateTemplateBody = SchemaType<typeof updateTemplateSchema>;

export const updateTemplateSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties,
} as const;

export const listTemplatesQuery = {
  ...listQuery,
  type: { type: 'string', enum: TEMPLATE_TYPES },
} as const;
