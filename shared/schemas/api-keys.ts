import { name } from './common';

export const PERMISSIONS = ['full', 'read_only'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface CreateApiKeyBody {
  name: string;
  rate_limit?: number;
  permissions?: Permission;
}

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
