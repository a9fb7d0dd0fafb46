import { e164, listQuery } from './common';
import type { SchemaType } from './common';

export type CreateOptOutBody = SchemaType<typeof createOptOutSchema>;

export const createOptOutSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['phone_number'],
  properties: {
    phone_number: e164,
    reason: { type: 'string', minLength: 1, maxLength: 500 },
  },
} as const;

export interface ListOptOutsQuery {
  limit?: number;
  cursor?: string;
  include_removed?: boolean;
}

export const listOptOutsQuery = {
  ...listQuery,
  include_removed: { type: 'boolean' },
} as const;
