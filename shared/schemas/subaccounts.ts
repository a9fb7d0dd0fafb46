import { name, ulid } from './common';
import type { SchemaType } from './common';
import { PLANS } from './admin';
import { PERMISSIONS } from './api-keys';

/**
 * The per-client limits an agency may set: message volume and new contacts
 * per day. `null` removes the agency's limit (the client's plan applies).
 */
export type SubaccountLimits = SchemaType<typeof subaccountLimits>;

const subaccountLimits = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    messages_per_day: { type: ['integer', 'null'], minimum: 0, maximum: 10_000_000 },
    new_contacts_per_day: { type: ['integer', 'null'], minimum: 0, maximum: 10_000_000 },
  },
} as const;

export type CreateSubaccountBody = SchemaType<typeof createSubaccountSchema>;

export const createSubaccountSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name, plan: { type: 'string', enum: PLANS }, limits: subaccountLimits },
} as const;

export type UpdateSubaccountBody = SchemaType<typeof updateSubaccountSchema>;

export const updateSubaccountSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { name, limits: subaccountLimits },
} as const;

export type CreateSubaccountKeyBody = SchemaType<typeof createSubaccountKeySchema>;

export const createSubaccountKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name,
    rate_limit: { type: 'integer', minimum: 1, maximum: 1000000 },
    permissions: { type: 'string', enum: PERMISSIONS },
    sandbox: { type: 'boolean' },
  },
} as const;

export type AssignLineBody = SchemaType<typeof assignLineSchema>;

export const assignLineSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['line_id'],
  properties: { line_id: ulid },
} as const;

const day = { type: 'string', format: 'date' } as const;

export const analyticsQuery = { from: day, to: day } as const;
