import { e164, listQuery } from './common';
import type { SchemaType } from './common';

export const CONSENT_TYPES = ['express_written', 'express', 'implied'] as const;
export type ConsentType = (typeof CONSENT_TYPES)[number];

export type CreateConsentBody = SchemaType<typeof createConsentSchema>;

export const createConsentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['phone_number', 'consent_type', 'consent_source'],
  properties: {
    phone_number: e164,
    consent_type: { type: 'string', enum: CONSENT_TYPES },
    // Where consent was given: a web form URL, "paper form", "keyword JOIN to 12345"…
    consent_source: { type: 'string', minLength: 1, maxLength: 1000 },
    disclosure_text: { type: 'string', minLength: 1, maxLength: 10000 },
    disclosure_version: { type: 'string', minLength: 1, maxLength: 200 },
    ip_address: { type: 'string', maxLength: 64, anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] },
    user_agent: { type: 'string', minLength: 1, maxLength: 1000 },
    consented_at: { type: 'string', format: 'date-time' },
    // Flat key/value provenance (form id, campaign, agent…): a nested document could be nested
    // deeper than a response can be serialised, and nothing reads inside it.
    metadata: {
      type: 'object',
      maxProperties: 50,
      propertyNames: { type: 'string', minLength: 1, maxLength: 100 },
      additionalProperties: { type: ['string', 'number', 'boolean', 'null'], maxLength: 2000 },
    },
  },
} as const;

/** Filters shared by the list and the CSV export: one number, a consented_at range [from, to). */
export interface ConsentFilters {
  phone_number?: string;
  from?: string;
  to?: string;
}

export const consentFilterQuery = {
  phone_number: e164,
  from: { type: 'string', format: 'date-time' },
  to: { type: 'string', format: 'date-time' },
} as const;

export const listConsentQuery = { ...listQuery, ...consentFilterQuery } as const;
