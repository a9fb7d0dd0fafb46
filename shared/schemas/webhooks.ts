import { EVENT_TYPES, EventType } from '../events';
import { listQuery } from './common';
import type { SchemaType } from './common';

/** `message.inbound` is accepted on subscribe and stored as `message.received`. */
export const EVENT_ALIASES: Record<string, EventType> = { 'message.inbound': 'message.received' };
export const SUBSCRIBABLE_EVENTS = [...EVENT_TYPES, ...Object.keys(EVENT_ALIASES)];

/** Long enough for signed receiver URLs with tokens, short enough to index and log. */
export const MAX_URL_LENGTH = 2048;

const url = { type: 'string', minLength: 1, maxLength: MAX_URL_LENGTH } as const;
const events = { type: 'array', minItems: 1, maxItems: 20, items: { type: 'string', enum: SUBSCRIBABLE_EVENTS } } as const;
const secret = { type: 'string', minLength: 1, maxLength: 200 } as const;

export type CreateWebhookBody = SchemaType<typeof createWebhookSchema>;

export const createWebhookSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['url', 'events'],
  properties: { url, events, secret },
} as const;

export type UpdateWebhookBody = SchemaType<typeof updateWebhookSchema>;

export const updateWebhookSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { url, events, enabled: { type: 'boolean' } },
} as const;

export type RotateSecretBody = SchemaType<typeof rotateSecretSchema>;

export const rotateSecretSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { secret },
} as const;

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const listDeliveriesQuery = {
  ...listQuery,
  status: { type: 'string', enum: DELIVERY_STATUSES },
} as const;

/** Maps aliases to their stored name and collapses duplicates, keeping the given order. */
export function normalizeEvents(list: string[]): EventType[] {
  const out: EventType[] = [];
  for (const name of list) {
    const stored = (EVENT_ALIASES[name] ?? name) as EventType;
    if (!out.includes(stored)) out.push(stored);
  }
  return out;
}
