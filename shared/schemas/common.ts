import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/**
 * The TypeScript type of what a schema accepts. Request and payload types are
 * derived from the ajv schemas that check them, so the two cannot drift.
 */
export type SchemaType<S extends JSONSchema> = FromSchema<S>;

/** Building blocks shared by the request schemas. */
export const e164 = { type: 'string', format: 'e164', maxLength: 16 } as const;
export const ulid = { type: 'string', format: 'ulid', maxLength: 32 } as const;
export const name = { type: 'string', minLength: 1, maxLength: 200 } as const;

export const listQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
  cursor: { type: 'string', maxLength: 200 },
} as const;
