import { e164, name, ulid } from './common';
import type { SchemaType } from './common';

export const PLANS = ['trial', 'starter', 'growth', 'scale'] as const;
export type Plan = (typeof PLANS)[number];

const nullableCount = { type: ['integer', 'null'], minimum: 0 } as const;

export type TenantLimits = SchemaType<typeof limits>;

const limits = {
  type: 'object',
  additionalProperties: false,
  properties: {
    new_contacts_per_day: nullableCount,
    new_contacts_per_month: nullableCount,
    messages_per_day: nullableCount,
    requests_per_minute: { type: ['integer', 'null'], minimum: 1 },
  },
} as const;

const poolName = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' } as const;

export type CreateTenantBody = SchemaType<typeof createTenantSchema>;

export const createTenantSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name,
    plan: { type: 'string', enum: PLANS },
    is_agency: { type: 'boolean' },
    pool: poolName,
    limits,
  },
} as const;

export type UpdateTenantBody = SchemaType<typeof updateTenantSchema>;

export const updateTenantSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    name,
    plan: { type: 'string', enum: PLANS },
    status: { type: 'string', enum: ['active', 'suspended'] },
    is_agency: { type: 'boolean' },
    pool: poolName,
    limits,
  },
} as const;

export type AdminCreateApiKeyBody = SchemaType<typeof adminCreateApiKeySchema>;

export const adminCreateApiKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tenant_id', 'name', 'prefix'],
  properties: {
    tenant_id: ulid,
    name,
    prefix: { type: 'string', enum: ['tf_live', 'tf_test'] },
    rate_limit: { type: ['integer', 'null'], minimum: 1 },
    permissions: { type: 'string', enum: ['full', 'read_only'] },
  },
} as const;

export type Capabilities = SchemaType<typeof capabilities>;

const capabilities = {
  type: 'object',
  additionalProperties: false,
  required: ['imessage', 'sms', 'rcs'],
  properties: { imessage: { type: 'boolean' }, sms: { type: 'boolean' }, rcs: { type: 'boolean' } },
} as const;

const bridgeUrl = { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2000 } as const;
const lineSecret = { type: 'string', minLength: 32, maxLength: 512 } as const;

export type CreatePhoneLineBody = SchemaType<typeof createPhoneLineSchema>;

export const createPhoneLineSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['phone_number', 'bridge_url', 'secret', 'capabilities', 'mode'],
  properties: {
    phone_number: e164,
    bridge_url: bridgeUrl,
    secret: lineSecret,
    capabilities,
    mode: { type: 'string', enum: ['pooled', 'dedicated'] },
    tenant_id: ulid,
    pool: poolName,
    agency_tenant_id: { anyOf: [ulid, { type: 'null' }] },
    max_per_minute: { type: ['integer', 'null'], minimum: 1 },
    warmup: { type: 'boolean' },
  },
} as const;

export type UpdatePhoneLineBody = SchemaType<typeof updatePhoneLineSchema>;

export const updatePhoneLineSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    mode: { type: 'string', enum: ['pooled', 'dedicated'] },
    tenant_id: { anyOf: [ulid, { type: 'null' }] },
    pool: poolName,
    agency_tenant_id: { anyOf: [ulid, { type: 'null' }] },
    enabled: { type: 'boolean' },
    bridge_url: bridgeUrl,
    secret: lineSecret,
    capabilities,
    max_per_minute: { type: ['integer', 'null'], minimum: 1 },
    warmup: { type: 'boolean' },
  },
} as const;

export const createAgencyLinkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['agency_tenant_id', 'client_tenant_id'],
  properties: { agency_tenant_id: ulid, client_tenant_id: ulid },
} as const;
