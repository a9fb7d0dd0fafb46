import { name, ulid } from './common';
import { PLANS, Plan } from './admin';
import { PERMISSIONS, Permission } from './api-keys';

/**
 * The per-client limits an agency may set: message volume and new contacts
 * per day. `null` removes the agency's limit (the client's plan applies).
 */
export interface SubaccountLimits {
  messages_per_day?: number | null;
  new_contacts_per_day?: number | null;
}

const subaccountLimits = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    messages_per_day: { type: ['integer', 'null'], minimum: 0, maximum: 10_000_000 },
    new_contacts_per_day: { type: ['integer', 'null'], minimum: 0, maximum: 10_000_000 },
  },
} as const;

export interface CreateSubaccountBody {
  name: string;
  plan?: Plan;
  limits?: SubaccountLimits;
}

export const createSubaccountSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name, plan: { type: 'string', enum: PLANS }, limits: subaccountLimits },
} as const;

export interface UpdateSubaccountBody {
  name?: string;
  limits?: SubaccountLimits;
}

export const updateSubaccountSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { name, limits: subaccountLimits },
} as const;

export interface CreateSubaccountKeyBody {
  name: string;
  rate_limit?: number;
  permissions?: Permission;
  /** A test (tf_test) key instead of a live one; default: the same kind as the calling key. */
  sandbox?: boolean;
}

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

export interface AssignLineBody {
  line_id: string;
}

export const assignLineSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['line_id'],
  properties: { line_id: ulid },
} as const;

const day = { type: 'string', format: 'date' } as const;

export const analyticsQuery = { from: day, to: day } as const;
