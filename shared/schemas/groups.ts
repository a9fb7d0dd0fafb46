import { listQuery, name, ulid } from './common';
import type { SchemaType } from './common';

export type CreateGroupBody = SchemaType<typeof createGroupSchema>;

const description = { type: ['string', 'null'], maxLength: 1000 } as const;

export const createGroupSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name, description },
} as const;

export type UpdateGroupBody = SchemaType<typeof updateGroupSchema>;

export const updateGroupSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { name, description },
} as const;

/** Bulk membership changes are bounded so one request stays one short transaction. */
export const MAX_MEMBER_IDS = 1000;

export type GroupMembersBody = SchemaType<typeof groupMembersSchema>;

export const groupMembersSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['contact_ids'],
  properties: { contact_ids: { type: 'array', minItems: 1, maxItems: MAX_MEMBER_IDS, items: ulid } },
} as const;

export const listGroupsQuery = { ...listQuery } as const;
