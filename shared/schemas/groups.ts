import { listQuery, name, ulid } from './common';

export interface CreateGroupBody {
  name: string;
  description?: string | null;
}

const description = { type: ['string', 'null'], maxLength: 1000 } as const;

export const createGroupSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name, description },
} as const;

export type UpdateGroupBody = Partial<CreateGroupBody>;

export const updateGroupSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { name, description },
} as const;

/** Bulk membership changes are bounded so one request stays one short transaction. */
export const MAX_MEMBER_IDS = 1000;

export interface GroupMembersBody {
  contact_ids: string[];
}

export const groupMembersSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['contact_ids'],
  properties: { contact_ids: { type: 'array', minItems: 1, maxItems: MAX_MEMBER_IDS, items: ulid } },
} as const;

export const listGroupsQuery = { ...listQuery } as const;
