import { e164, listQuery, ulid } from './common';
import type { SchemaType } from './common';

/**
 * Contact metadata is the tenant's own key/value data, also addressable from
 * templates (`{{plan}}` or `{{metadata.plan}}`): keys are identifiers so every
 * key can be named in a template, values are scalars, and the whole object is
 * capped (50 keys, 16 KB serialised) so one contact cannot hold a document.
 */
export const METADATA_MAX_KEYS = 50;
export const METADATA_MAX_BYTES = 16 * 1024;
export const METADATA_KEY_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';

export type ContactMetadata = Record<string, string | number | boolean>;

export const metadata = {
  type: 'object',
  maxProperties: METADATA_MAX_KEYS,
  propertyNames: { type: 'string', pattern: METADATA_KEY_PATTERN },
  additionalProperties: { type: ['string', 'number', 'boolean'], maxLength: 2000 },
} as const;

const contactName = { type: ['string', 'null'], maxLength: 200 } as const;
const email = { type: ['string', 'null'], format: 'email', maxLength: 254 } as const;
/** How many groups one request may put a contact in. */
export const MAX_GROUP_IDS = 100;
const groupIds = { type: 'array', maxItems: MAX_GROUP_IDS, items: ulid } as const;

export type CreateContactBody = SchemaType<typeof createContactSchema>;

export const createContactSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['phone_number'],
  properties: { phone_number: e164, name: contactName, email, metadata, group_ids: groupIds },
} as const;

/** PATCH: any subset; `group_ids` replaces the contact's groups. */
export type UpdateContactBody = SchemaType<typeof updateContactSchema>;

export const updateContactSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { phone_number: e164, name: contactName, email, metadata, group_ids: groupIds },
} as const;

export interface ContactFilters {
  search?: string;
  phone_prefix?: string;
  group_id?: string;
}

export const listContactsQuery = {
  ...listQuery,
  search: { type: 'string', minLength: 1, maxLength: 200 },
  // A '+' in a query string decodes to a space unless sent as %2B: accept both.
  phone_prefix: { type: 'string', pattern: '^[+ ]?[0-9]{1,15}$' },
  group_id: ulid,
} as const;

/** One import row as accepted by the JSON import; checked row by row in the job. */
export const importRowSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['phone_number'],
  properties: { phone_number: e164, name: contactName, email, metadata },
} as const;

export type ImportRow = SchemaType<typeof importRowSchema>;

/** The most rows one import may carry (PRODUCT.md: up to 10,000). */
export const MAX_IMPORT_ROWS = 10000;

export type ImportContactsBody = SchemaType<typeof importContactsSchema>;

/** Rows are only checked for being objects here: each row's problems are reported per row by the job. */
export const importContactsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['contacts'],
  properties: {
    contacts: { type: 'array', minItems: 1, maxItems: MAX_IMPORT_ROWS, items: { type: 'object', maxProperties: 10 } },
    update_existing: { type: 'boolean' },
    group_id: ulid,
  },
} as const;

export const importCsvQuery = {
  update_existing: { type: 'boolean' },
  group_id: ulid,
} as const;
