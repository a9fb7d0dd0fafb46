import { name } from './common';
import type { SchemaType } from './common';

export const PERMISSIONS = ['full', 'read_only'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export type CreateApiKeyBody = SchemaType<typeof createApiKeySchema>;

export const createApiKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name,
    rate_limit: { type: 'integer', minimum: 1, maximum: 1000000 },
    permissions: { type: 'string', enum: PERMISSIONS },
  },
} as const;
