import { e164 } from './common';
import type { SchemaType } from './common';

/** A reply travels as one message: nothing the persona says may exceed a message body. */
export const MAX_REPLY_CHARS = 1600;
/** PRODUCT.md leaves source sizes open; these keep one tenant's index small enough to build per reply. */
export const MAX_SOURCES_PER_TENANT = 500;
export const MAX_TEXT_SOURCE_CHARS = 20_000;
/**
 * All of a tenant's sources together. The reply index is built per reply from
 * the tenant's own rows; measured here, 1M characters build in 0.2-0.6 s and
 * ~50 MB, while 500 × 20,000 (10M) took 3+ s and 200+ MB per reply.
 */
export const MAX_TOTAL_SOURCE_CHARS = 1_000_000;

const nullableText = (maxLength: number) => ({ type: ['string', 'null'], minLength: 1, maxLength }) as const;

export type ProviderInput = SchemaType<typeof providerSchema>;

export type PutPersonaBody = SchemaType<typeof putPersonaSchema>;

export const providerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['base_url', 'model'],
  properties: {
    base_url: { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2000 },
    model: { type: 'string', minLength: 1, maxLength: 200 },
    api_key: { type: ['string', 'null'], minLength: 1, maxLength: 1000 },
  },
} as const;

export const putPersonaSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    business_name: nullableText(200),
    help_response: nullableText(MAX_REPLY_CHARS),
    voice_handoff_number: { anyOf: [e164, { type: 'null' }] },
    auto_reply_enabled: { type: 'boolean' },
    instructions: nullableText(4000),
    tone: nullableText(200),
    provider: { anyOf: [providerSchema, { type: 'null' }] },
  },
} as const;

export type SourceType = 'text' | 'faq';

export type TextSourceBody = SchemaType<typeof textSourceSchema>;

export type FaqSourceBody = SchemaType<typeof faqSourceSchema>;

export type CreateSourceBody = TextSourceBody | FaqSourceBody;

/** Picks the shape by `type` first, so errors name the fields of the shape the client meant. */
export const sourceTypeSchema = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: ['text', 'faq'] } },
} as const;

export const textSourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'title', 'content'],
  properties: {
    type: { const: 'text' },
    title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
    content: { type: 'string', minLength: 1, maxLength: MAX_TEXT_SOURCE_CHARS, pattern: '\\S' },
  },
} as const;

export const faqSourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'question', 'answer'],
  properties: {
    type: { const: 'faq' },
    question: { type: 'string', minLength: 1, maxLength: 1000, pattern: '\\S' },
    answer: { type: 'string', minLength: 1, maxLength: MAX_REPLY_CHARS, pattern: '\\S' },
  },
} as const;

export type PreviewBody = SchemaType<typeof previewSchema>;

export const previewSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['message'],
  properties: { message: { type: 'string', minLength: 1, maxLength: MAX_REPLY_CHARS, pattern: '\\S' } },
} as const;
