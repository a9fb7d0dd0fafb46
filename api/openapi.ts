import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { listQuery } from '../shared/schemas/common';
import { createApiKeySchema } from '../shared/schemas/api-keys';
import { capabilityNumbersSchema, listMessagesQuery, sendMessageQuery, sendMessageSchema, signedMediaQuery } from '../shared/schemas/messages';
import { createContactSchema, importContactsSchema, importCsvQuery, listContactsQuery, updateContactSchema } from '../shared/schemas/contacts';
import { createGroupSchema, groupMembersSchema, listGroupsQuery, updateGroupSchema } from '../shared/schemas/groups';
import { createTemplateSchema, listTemplatesQuery, updateTemplateSchema } from '../shared/schemas/templates';
import { createCampaignSchema, listCampaignsQuery } from '../shared/schemas/campaigns';
import { createWebhookSchema, listDeliveriesQuery, rotateSecretSchema, updateWebhookSchema } from '../shared/schemas/webhooks';
import { createOptOutSchema, listOptOutsQuery } from '../shared/schemas/opt-outs';
import { consentFilterQuery, createConsentSchema, listConsentQuery } from '../shared/schemas/consent';
import { listBillingEventsQuery } from '../shared/schemas/billing';
import { faqSourceSchema, previewSchema, putPersonaSchema, sourceTypeSchema, textSourceSchema } from '../shared/schemas/ai';
import { analyticsQuery, assignLineSchema, createSubaccountKeySchema, createSubaccountSchema, updateSubaccountSchema } from '../shared/schemas/subaccounts';
import {
  adminCreateApiKeySchema,
  createAgencyLinkSchema,
  createPhoneLineSchema,
  createTenantSchema,
  updatePhoneLineSchema,
  updateTenantSchema,
} from '../shared/schemas/admin';
import { deviceEventsSchema } from '../shared/schemas/device';
import * as responses from '../shared/schemas/responses';

/**
 * The OpenAPI 3.1 reference (PRODUCT.md §7), built from the same ajv schema
 * objects that validate requests (shared/schemas/*) and the response schemas
 * in shared/schemas/responses.ts. One ROUTES entry per mounted route; the docs
 * test fails when a route is mounted without an entry, or an entry names a
 * route that is not mounted. To document a new route: add its schemas to
 * SCHEMAS (if new) and one entry to ROUTES.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** tenant: an API key or a portal JWT; operator: ADMIN_API_KEY; device: a line's HMAC signature. */
export type RouteAuth = 'tenant' | 'operator' | 'device' | 'none';

type Schema = Record<string, unknown>;

/** Request and response schemas published under components.schemas, by the name clients see. */
const SCHEMAS = {
  Error: responses.errorResponse,
  ErrorDetail: responses.errorDetailResponse,
  WebhookEvent: responses.webhookEventPayload,
  // Requests: the validators' own schema objects.
  SendMessageRequest: sendMessageSchema,
  CapabilityCheckRequest: capabilityNumbersSchema,
  CreateApiKeyRequest: createApiKeySchema,
  CreateContactRequest: createContactSchema,
  UpdateContactRequest: updateContactSchema,
  ImportContactsRequest: importContactsSchema,
  CreateGroupRequest: createGroupSchema,
  UpdateGroupRequest: updateGroupSchema,
  GroupMembersRequest: groupMembersSchema,
  CreateTemplateRequest: createTemplateSchema,
  UpdateTemplateRequest: updateTemplateSchema,
  CreateCampaignRequest: createCampaignSchema,
  CreateWebhookRequest: createWebhookSchema,
  UpdateWebhookRequest: updateWebhookSchema,
  RotateWebhookSecretRequest: rotateSecretSchema,
  CreateOptOutRequest: createOptOutSchema,
  CreateConsentRequest: createConsentSchema,
  PutPersonaRequest: putPersonaSchema,
  CreateTextSourceRequest: textSourceSchema,
  CreateFaqSourceRequest: faqSourceSchema,
  PreviewReplyRequest: previewSchema,
  CreateSubaccountRequest: createSubaccountSchema,
  UpdateSubaccountRequest: updateSubaccountSchema,
  CreateSubaccountKeyRequest: createSubaccountKeySchema,
  AssignLineRequest: assignLineSchema,
  CreateTenantRequest: createTenantSchema,
  UpdateTenantRequest: updateTenantSchema,
  AdminCreateApiKeyRequest: adminCreateApiKeySchema,
  CreatePhoneLineRequest: createPhoneLineSchema,
  UpdatePhoneLineRequest: updatePhoneLineSchema,
  CreateAgencyLinkRequest: createAgencyLinkSchema,
  DeviceEventsRequest: deviceEventsSchema,
  // Responses.
  Message: responses.messageResponse,
  MessageAccepted: responses.messageAcceptedResponse,
  MessageEvent: responses.messageEventResponse,
  StatusCallbackSecret: responses.statusCallbackSecretResponse,
  StatusCallbackDelivery: responses.statusCallbackDeliveryResponse,
  Capability: responses.capabilityResponse,
  ApiKey: responses.apiKeyResponse,
  ApiKeyCreated: responses.apiKeyCreatedResponse,
  Contact: responses.contactResponse,
  ContactImport: responses.contactImportResponse,
  Group: responses.groupResponse,
  GroupMembersAdded: responses.groupMembersAddedResponse,
  GroupMembersRemoved: responses.groupMembersRemovedResponse,
  Template: responses.templateResponse,
  Campaign: responses.campaignResponse,
  Webhook: responses.webhookResponse,
  WebhookWithSecret: responses.webhookCreatedResponse,
  WebhookTestQueued: responses.webhookTestResponse,
  WebhookDelivery: responses.webhookDeliveryResponse,
  OptOut: responses.optOutResponse,
  Consent: responses.consentResponse,
  UsageSummary: responses.usageSummaryResponse,
  UsageRecord: responses.usageRecordResponse,
  BillingEvent: responses.billingEventResponse,
  Persona: responses.personaResponse,
  ReplyPreview: responses.replyPreviewResponse,
  AiSource: responses.aiSourceResponse,
  AiSourceDeleted: responses.aiSourceDeletedResponse,
  Subaccount: responses.subaccountResponse,
  SubaccountKey: responses.subaccountKeyResponse,
  SubaccountKeyCreated: responses.subaccountKeyCreatedResponse,
  AgencyLine: responses.agencyLineResponse,
  SubaccountAnalytics: responses.subaccountAnalyticsResponse,
  Tenant: responses.tenantResponse,
  AdminApiKeyCreated: responses.adminApiKeyCreatedResponse,
  PhoneLine: responses.phoneLineResponse,
  Deleted: responses.deletedResponse,
  AgencyLink: responses.agencyLinkResponse,
  Health: responses.healthResponse,
  Readiness: responses.readinessResponse,
  DeviceEventsAccepted: responses.deviceEventsAcceptedResponse,
} as const;

export type SchemaName = keyof typeof SCHEMAS;

function ref(name: SchemaName): Schema {
  return { $ref: `#/components/schemas/${name}` };
}

export interface RouteDoc {
  method: HttpMethod;
  /** OpenAPI path template: `/v1/messages/{id}` for Express's `/v1/messages/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: RouteAuth;
  /** A named request schema, or a list of alternatives (oneOf). */
  body?: SchemaName | SchemaName[];
  /** The body may be left out. */
  bodyOptional?: boolean;
  /** Also accepts `text/csv` (contact import). */
  csvBody?: boolean;
  /** The properties object the route hands to queryValidator. */
  query?: Record<string, object>;
  /** Path parameter schemas; any not named here is a plain string. */
  params?: Record<string, object>;
  /** Extra request headers the route reads. */
  headers?: Record<string, { schema: object; description: string; required?: boolean }>;
  response: {
    status: number;
    /** Other success statuses with the same body (e.g. 200 for an opt-out that already existed). */
    also?: number[];
    /** `data`: `{data: X}`; `list`: `{data: X[], next_cursor}`; `array`: `{data: X[]}`; `bare`: X itself; `csv`: text/csv; `text`: text/plain; `binary`: a file of its own type. */
    shape: 'data' | 'list' | 'array' | 'bare' | 'csv' | 'text' | 'binary';
    schema?: SchemaName | Schema;
    description: string;
  };
  /** Error statuses beyond the ones implied by auth, body, query and path parameters. */
  errors?: number[];
}

const e164Param = { type: 'string', format: 'e164', description: 'E.164, URL-encoded (`%2B15551234567`).' };
const tenantIdNote = 'An id that belongs to another tenant answers 404, exactly like an unknown id.';

const DATA = 'data' as const;
const LIST = 'list' as const;

/** One entry per mounted route. Keep in the order of api/app.ts. */
export const ROUTES: RouteDoc[] = [
  // Health and reference (no credential).
  { method: 'get', path: '/healthz', operationId: 'health', summary: 'Liveness: 200 while the process is up', tag: 'Health', auth: 'none', response: { status: 200, shape: 'bare', schema: 'Health', description: 'Up.' } },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'readiness',
    summary: 'Readiness: 200 only while PostgreSQL and Redis answer',
    tag: 'Health',
    auth: 'none',
    response: { status: 200, also: [503], shape: 'bare', schema: 'Readiness', description: 'Ready (503 names the dependency that is down).' },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This document',
    tag: 'Reference',
    auth: 'none',
    response: { status: 200, shape: 'bare', schema: { type: 'object' }, description: 'The OpenAPI 3.1 document. The interactive reference is at /docs.' },
  },

  // Devices.
  {
    method: 'post',
    path: '/device/v1/events',
    operationId: 'reportDeviceEvents',
    summary: 'A phone-line bridge reports sends, deliveries, reads, failures, inbound messages and heartbeats',
    description:
      'docs/device-protocol.md: signed with the line secret, HMAC-SHA256 over the timestamp and the raw body; stale timestamps are refused. A `received` event may carry `media` (up to 10 `{url, content_type?, size?, filename?}`; `body` may then be empty): the platform records them as pending and downloads them after the 202.',
    tag: 'Devices',
    auth: 'device',
    body: 'DeviceEventsRequest',
    headers: {
      'X-Senderz-Line': { schema: { type: 'string', format: 'ulid' }, description: 'The line id.', required: true },
      'X-Senderz-Timestamp': { schema: { type: 'string' }, description: 'Unix seconds; part of the signed bytes.', required: true },
    },
    response: { status: 202, shape: 'bare', schema: 'DeviceEventsAccepted', description: 'Applied (duplicates by event id are ignored).' },
  },
  {
    method: 'get',
    path: '/media/v1/{tenantId}/{mediaId}',
    operationId: 'downloadSignedMedia',
    summary: "A bridge downloads an outbound message's attachment",
    description:
      'docs/device-protocol.md, Media: the URL the platform puts in a push, signed (`signature`, HMAC-SHA256 with a platform key over `<tenant id>.<media id>.<expires>`) and valid until `expires` (unix seconds, one hour). No API key. A wrong, expired or re-addressed URL answers 404 like an unknown one.',
    tag: 'Devices',
    auth: 'none',
    params: { tenantId: { type: 'string' }, mediaId: { type: 'string', format: 'ulid' } },
    query: signedMediaQuery,
    response: { status: 200, shape: 'binary', description: 'The attachment, with its stored Content-Type.' },
  },

  // Operator.
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics of this web process',
    description: 'The Prometheus text exposition format, with the operator credential (README "Metrics and traces"). Queue depth is read from Redis on each scrape; worker pools serve their own series on WORKER_METRICS_PORT.',
    tag: 'Operator',
    auth: 'operator',
    response: { status: 200, shape: 'text', description: 'The series of this process.' },
  },
  { method: 'post', path: '/admin/tenants', operationId: 'adminCreateTenant', summary: 'Create a tenant', tag: 'Operator', auth: 'operator', body: 'CreateTenantRequest', response: { status: 201, shape: DATA, schema: 'Tenant', description: 'Created.' } },
  { method: 'get', path: '/admin/tenants', operationId: 'adminListTenants', summary: 'List tenants', tag: 'Operator', auth: 'operator', query: listQuery, response: { status: 200, shape: LIST, schema: 'Tenant', description: 'A page of tenants, newest first.' } },
  { method: 'get', path: '/admin/tenants/{id}', operationId: 'adminGetTenant', summary: 'Get a tenant', tag: 'Operator', auth: 'operator', response: { status: 200, shape: DATA, schema: 'Tenant', description: 'The tenant.' } },
  {
    method: 'patch',
    path: '/admin/tenants/{id}',
    operationId: 'adminUpdateTenant',
    summary: 'Change a tenant (name, plan, status, agency flag, pool, limits)',
    tag: 'Operator',
    auth: 'operator',
    body: 'UpdateTenantRequest',
    response: { status: 200, shape: DATA, schema: 'Tenant', description: 'Updated; cached credentials are refreshed everywhere.' },
  },
  {
    method: 'post',
    path: '/admin/api-keys',
    operationId: 'adminCreateApiKey',
    summary: "Create a tenant's API key",
    tag: 'Operator',
    auth: 'operator',
    body: 'AdminCreateApiKeyRequest',
    response: { status: 201, shape: DATA, schema: 'AdminApiKeyCreated', description: 'Created; `key` is shown once.' },
  },
  {
    method: 'post',
    path: '/admin/phone-lines',
    operationId: 'adminCreatePhoneLine',
    summary: 'Register a phone line (pooled or dedicated)',
    tag: 'Operator',
    auth: 'operator',
    body: 'CreatePhoneLineRequest',
    errors: [409],
    response: { status: 201, shape: DATA, schema: 'PhoneLine', description: 'Registered; offline until its first heartbeat. The secret is never returned.' },
  },
  { method: 'get', path: '/admin/phone-lines', operationId: 'adminListPhoneLines', summary: 'List phone lines', tag: 'Operator', auth: 'operator', query: listQuery, response: { status: 200, shape: LIST, schema: 'PhoneLine', description: 'A page of lines.' } },
  { method: 'get', path: '/admin/phone-lines/{id}', operationId: 'adminGetPhoneLine', summary: 'Get a phone line', tag: 'Operator', auth: 'operator', response: { status: 200, shape: DATA, schema: 'PhoneLine', description: 'The line.' } },
  {
    method: 'patch',
    path: '/admin/phone-lines/{id}',
    operationId: 'adminUpdatePhoneLine',
    summary: 'Change a phone line (mode, assignment, pool, enabled, bridge, secret, caps)',
    tag: 'Operator',
    auth: 'operator',
    body: 'UpdatePhoneLineRequest',
    response: { status: 200, shape: DATA, schema: 'PhoneLine', description: 'Updated.' },
  },
  { method: 'delete', path: '/admin/phone-lines/{id}', operationId: 'adminDeletePhoneLine', summary: 'Delete a phone line', tag: 'Operator', auth: 'operator', errors: [409], response: { status: 200, shape: DATA, schema: 'Deleted', description: 'Deleted.' } },
  {
    method: 'post',
    path: '/admin/agency-links',
    operationId: 'adminCreateAgencyLink',
    summary: 'Link a client tenant to an agency tenant',
    tag: 'Operator',
    auth: 'operator',
    body: 'CreateAgencyLinkRequest',
    errors: [409],
    response: { status: 201, shape: DATA, schema: 'AgencyLink', description: 'Linked.' },
  },

  // API keys.
  {
    method: 'post',
    path: '/v1/api-keys',
    operationId: 'createApiKey',
    summary: 'Create an API key',
    description: 'A test key mints test keys only. `rate_limit` may not exceed the plan.',
    tag: 'API keys',
    auth: 'tenant',
    body: 'CreateApiKeyRequest',
    response: { status: 201, shape: DATA, schema: 'ApiKeyCreated', description: 'Created; `key` is shown once (stored as a SHA-256 hash only).' },
  },
  { method: 'get', path: '/v1/api-keys', operationId: 'listApiKeys', summary: 'List API keys (never the key itself)', tag: 'API keys', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'ApiKey', description: 'A page of keys.' } },
  { method: 'get', path: '/v1/api-keys/{id}', operationId: 'getApiKey', summary: 'Get an API key', tag: 'API keys', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'ApiKey', description: 'The key.' } },
  { method: 'delete', path: '/v1/api-keys/{id}', operationId: 'revokeApiKey', summary: 'Revoke an API key (401 afterwards)', tag: 'API keys', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'ApiKey', description: 'Revoked.' } },

  // Messages.
  {
    method: 'post',
    path: '/v1/messages',
    operationId: 'sendMessage',
    summary: 'Send a message',
    description:
      'Give `body` or `template` (+ `data`), and/or `media_urls` (up to 10 http(s) URLs of pictures, video, audio, PDF or vCards, 5 MiB each; not on `channel: sms`, which answers 400 `MEDIA_NOT_SUPPORTED`). Attachments are downloaded by the platform after the 202; one that cannot be taken fails the message with `media_too_large`, `media_type_not_allowed`, `media_unreachable` or `media_url_blocked`. Enqueued, not delivered: follow it with GET /v1/messages/{id}/events or webhooks. An opted-out recipient answers 403 `OPTED_OUT` (recorded as a blocked message). Sandbox keys (`tf_test_`) get synthetic delivery; `?dispatch_webhook=true` makes them fire webhooks. ' +

      '`client_reference` is your own string, echoed on the message, its events, its webhooks and its status callbacks. `status_callback` is a URL (refused like a webhook URL when it points to a private or link-local address) that receives every status change of this message as a signed POST (see GET /v1/status-callback-secret). ' +
      '`send_at` (ISO 8601, in the future, at most 35 days ahead) schedules the send: the message is `scheduled` until then and can be cancelled with DELETE /v1/messages/{id}.',
    tag: 'Messages',
    auth: 'tenant',
    body: 'SendMessageRequest',
    query: sendMessageQuery,
    errors: [503],
    response: { status: 202, shape: DATA, schema: 'MessageAccepted', description: 'Accepted and queued (or scheduled).' },
  },
  {
    method: 'get',
    path: '/v1/messages',
    operationId: 'listMessages',
    summary: 'List messages',
    description: 'Live keys see live traffic, test keys sandbox traffic. Newest first.',
    tag: 'Messages',
    auth: 'tenant',
    query: listMessagesQuery,
    response: { status: 200, shape: LIST, schema: 'Message', description: 'A page of messages.' },
  },
  { method: 'get', path: '/v1/messages/{id}', operationId: 'getMessage', summary: 'Get a message', description: tenantIdNote, tag: 'Messages', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Message', description: 'The message.' } },
  {
    method: 'delete',
    path: '/v1/messages/{id}',
    operationId: 'cancelMessage',
    summary: 'Cancel a scheduled message',
    description: 'Only while the message is `scheduled`: it becomes `cancelled` and is never sent. 409 once it has been released (or was cancelled before). ' + tenantIdNote,
    tag: 'Messages',
    auth: 'tenant',
    errors: [409],
    response: { status: 200, shape: DATA, schema: 'Message', description: 'The cancelled message.' },
  },
  {
    method: 'get',
    path: '/v1/messages/{id}/events',
    operationId: 'listMessageEvents',
    summary: "A message's status history, in order",
    tag: 'Messages',
    auth: 'tenant',
    response: { status: 200, shape: 'array', schema: 'MessageEvent', description: 'Every status the message went through; `sequence` strictly increases.' },
  },
  {
    method: 'get',
    path: '/v1/messages/{id}/callbacks',
    operationId: 'listStatusCallbacks',
    summary: "A message's status callbacks and their outcome",
    description: "One row per status change announced to the message's `status_callback`, in history order: `pending` (not attempted yet, or waiting for a retry at `next_attempt_at`), `succeeded` or `failed`, with the attempts and the receiver's last answer. Empty when the message has no `status_callback`. " + tenantIdNote,
    tag: 'Messages',
    auth: 'tenant',
    response: { status: 200, shape: 'array', schema: 'StatusCallbackDelivery', description: 'Every callback of the message, in history order.' },
  },
  {
    method: 'get',
    path: '/v1/messages/{id}/media/{mediaId}',
    operationId: 'getMessageMedia',
    summary: "Download one of a message's attachments",
    description: `The bytes, with the stored Content-Type (\`nosniff\`; anything but pictures, video and audio comes as an attachment). Only stored attachments: a pending or failed one is 404. ${tenantIdNote}`,
    tag: 'Messages',
    auth: 'tenant',
    params: { mediaId: { type: 'string', format: 'ulid' } },
    response: { status: 200, shape: 'binary', description: 'The attachment.' },
  },

  // Capabilities.
  {
    method: 'get',
    path: '/v1/capabilities/{number}',
    operationId: 'getCapabilities',
    summary: 'iMessage / SMS / RCS capability of one number',
    description: 'From the 90-day cache, else checked through one of your online lines.',
    tag: 'Capabilities',
    auth: 'tenant',
    params: { number: e164Param },
    errors: [400, 503],
    response: { status: 200, shape: DATA, schema: 'Capability', description: 'The capabilities.' },
  },
  {
    method: 'post',
    path: '/v1/capabilities',
    operationId: 'checkCapabilities',
    summary: 'Capabilities of up to 100 numbers',
    tag: 'Capabilities',
    auth: 'tenant',
    body: 'CapabilityCheckRequest',
    errors: [503],
    response: { status: 200, shape: 'array', schema: 'Capability', description: 'One entry per distinct number.' },
  },

  // Contacts.
  { method: 'post', path: '/v1/contacts', operationId: 'createContact', summary: 'Create a contact', tag: 'Contacts', auth: 'tenant', body: 'CreateContactRequest', response: { status: 201, shape: DATA, schema: 'Contact', description: 'Created (409 when the phone number exists).' } },
  {
    method: 'get',
    path: '/v1/contacts',
    operationId: 'listContacts',
    summary: 'List contacts',
    tag: 'Contacts',
    auth: 'tenant',
    query: listContactsQuery,
    response: { status: 200, shape: LIST, schema: 'Contact', description: 'A page of contacts.' },
  },
  {
    method: 'post',
    path: '/v1/contacts/import',
    operationId: 'importContacts',
    summary: 'Bulk import up to 10,000 contacts (JSON or CSV), as a job',
    description:
      'JSON: `{contacts: [...], update_existing?, group_id?}` or a bare array. CSV (`Content-Type: text/csv`, header row `phone_number,name,email,…`): options in the query string. Poll GET /v1/contacts/imports/{id} for progress and per-row errors.',
    tag: 'Contacts',
    auth: 'tenant',
    body: 'ImportContactsRequest',
    csvBody: true,
    query: importCsvQuery,
    response: { status: 202, shape: DATA, schema: 'ContactImport', description: 'Queued.' },
  },
  { method: 'get', path: '/v1/contacts/imports', operationId: 'listContactImports', summary: 'List contact imports', tag: 'Contacts', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'ContactImport', description: 'A page of imports (without per-row errors).' } },
  { method: 'get', path: '/v1/contacts/imports/{id}', operationId: 'getContactImport', summary: "An import's progress and per-row errors", tag: 'Contacts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'ContactImport', description: 'The import.' } },
  { method: 'get', path: '/v1/contacts/{id}', operationId: 'getContact', summary: 'Get a contact', tag: 'Contacts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Contact', description: 'The contact.' } },
  { method: 'patch', path: '/v1/contacts/{id}', operationId: 'updateContact', summary: 'Change a contact (`group_ids` replaces its groups)', tag: 'Contacts', auth: 'tenant', body: 'UpdateContactRequest', errors: [409], response: { status: 200, shape: DATA, schema: 'Contact', description: 'Updated.' } },
  { method: 'delete', path: '/v1/contacts/{id}', operationId: 'deleteContact', summary: 'Delete a contact', tag: 'Contacts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Contact', description: 'Deleted.' } },

  // Groups.
  { method: 'post', path: '/v1/groups', operationId: 'createGroup', summary: 'Create a group', tag: 'Groups', auth: 'tenant', body: 'CreateGroupRequest', response: { status: 201, shape: DATA, schema: 'Group', description: 'Created (409 when the name exists).' } },
  { method: 'get', path: '/v1/groups', operationId: 'listGroups', summary: 'List groups', tag: 'Groups', auth: 'tenant', query: listGroupsQuery, response: { status: 200, shape: LIST, schema: 'Group', description: 'A page of groups.' } },
  { method: 'get', path: '/v1/groups/{id}', operationId: 'getGroup', summary: 'Get a group', tag: 'Groups', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Group', description: 'The group.' } },
  { method: 'patch', path: '/v1/groups/{id}', operationId: 'updateGroup', summary: 'Change a group', tag: 'Groups', auth: 'tenant', body: 'UpdateGroupRequest', errors: [409], response: { status: 200, shape: DATA, schema: 'Group', description: 'Updated.' } },
  { method: 'delete', path: '/v1/groups/{id}', operationId: 'deleteGroup', summary: 'Delete a group (its contacts stay)', tag: 'Groups', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Group', description: 'Deleted.' } },
  { method: 'get', path: '/v1/groups/{id}/members', operationId: 'listGroupMembers', summary: "List a group's contacts", tag: 'Groups', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'Contact', description: 'A page of contacts.' } },
  { method: 'post', path: '/v1/groups/{id}/members', operationId: 'addGroupMembers', summary: 'Add contacts to a group', tag: 'Groups', auth: 'tenant', body: 'GroupMembersRequest', response: { status: 200, shape: DATA, schema: 'GroupMembersAdded', description: 'Added (already members are not counted).' } },
  { method: 'delete', path: '/v1/groups/{id}/members', operationId: 'removeGroupMembers', summary: 'Remove contacts from a group', tag: 'Groups', auth: 'tenant', body: 'GroupMembersRequest', response: { status: 200, shape: DATA, schema: 'GroupMembersRemoved', description: 'Removed.' } },
  {
    method: 'post',
    path: '/v1/groups/{id}/members/remove',
    operationId: 'removeGroupMembersPost',
    summary: 'Remove contacts from a group (for clients that cannot send a body with DELETE)',
    tag: 'Groups',
    auth: 'tenant',
    body: 'GroupMembersRequest',
    response: { status: 200, shape: DATA, schema: 'GroupMembersRemoved', description: 'Removed.' },
  },

  // Templates.
  { method: 'post', path: '/v1/templates', operationId: 'createTemplate', summary: 'Create a template (`{{variable}}` placeholders)', tag: 'Templates', auth: 'tenant', body: 'CreateTemplateRequest', response: { status: 201, shape: DATA, schema: 'Template', description: 'Created (409 when the name exists).' } },
  { method: 'get', path: '/v1/templates', operationId: 'listTemplates', summary: 'List templates', tag: 'Templates', auth: 'tenant', query: listTemplatesQuery, response: { status: 200, shape: LIST, schema: 'Template', description: 'A page of templates.' } },
  { method: 'get', path: '/v1/templates/{id}', operationId: 'getTemplate', summary: 'Get a template', tag: 'Templates', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Template', description: 'The template.' } },
  { method: 'patch', path: '/v1/templates/{id}', operationId: 'updateTemplate', summary: 'Change a template', tag: 'Templates', auth: 'tenant', body: 'UpdateTemplateRequest', errors: [409], response: { status: 200, shape: DATA, schema: 'Template', description: 'Updated.' } },
  { method: 'delete', path: '/v1/templates/{id}', operationId: 'deleteTemplate', summary: 'Delete a template', tag: 'Templates', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Template', description: 'Deleted.' } },

  // Campaigns.
  {
    method: 'post',
    path: '/v1/campaigns',
    operationId: 'createCampaign',
    summary: 'Launch (or schedule) a campaign',
    description: 'Exactly one of `body`/`template` and one of `recipients`/`group_id`. Every message passes the same compliance checks as a single send.',
    tag: 'Campaigns',
    auth: 'tenant',
    body: 'CreateCampaignRequest',
    errors: [503],
    response: { status: 202, shape: DATA, schema: 'Campaign', description: 'Accepted; messages are created in the background.' },
  },
  { method: 'get', path: '/v1/campaigns', operationId: 'listCampaigns', summary: 'List campaigns', tag: 'Campaigns', auth: 'tenant', query: listCampaignsQuery, response: { status: 200, shape: LIST, schema: 'Campaign', description: 'A page of campaigns with live counts.' } },
  { method: 'get', path: '/v1/campaigns/{id}', operationId: 'getCampaign', summary: 'Get a campaign with live counts', tag: 'Campaigns', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Campaign', description: 'The campaign.' } },
  { method: 'post', path: '/v1/campaigns/{id}/pause', operationId: 'pauseCampaign', summary: 'Pause a campaign', tag: 'Campaigns', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Campaign', description: 'Paused (409 when it cannot be).' } },
  { method: 'post', path: '/v1/campaigns/{id}/resume', operationId: 'resumeCampaign', summary: 'Resume a paused campaign', tag: 'Campaigns', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Campaign', description: 'Resumed.' } },
  { method: 'post', path: '/v1/campaigns/{id}/cancel', operationId: 'cancelCampaign', summary: 'Cancel a campaign (queued messages are not sent)', tag: 'Campaigns', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Campaign', description: 'Cancelled.' } },

  // Agency subaccounts.
  { method: 'get', path: '/v1/subaccounts/lines', operationId: 'listAgencyLines', summary: "The agency's lines and which client holds each", tag: 'Subaccounts', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'AgencyLine', description: 'A page of lines.' } },
  {
    method: 'get',
    path: '/v1/subaccounts/analytics',
    operationId: 'getSubaccountAnalytics',
    summary: 'Volume, delivery and new contacts per client and day (at most 92 days)',
    tag: 'Subaccounts',
    auth: 'tenant',
    query: analyticsQuery,
    response: { status: 200, shape: DATA, schema: 'SubaccountAnalytics', description: 'The report.' },
  },
  { method: 'post', path: '/v1/subaccounts', operationId: 'createSubaccount', summary: 'Create a client tenant linked to this agency', tag: 'Subaccounts', auth: 'tenant', body: 'CreateSubaccountRequest', response: { status: 201, shape: DATA, schema: 'Subaccount', description: 'Created.' } },
  { method: 'get', path: '/v1/subaccounts', operationId: 'listSubaccounts', summary: "List the agency's clients", tag: 'Subaccounts', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'Subaccount', description: 'A page of clients.' } },
  { method: 'get', path: '/v1/subaccounts/{id}', operationId: 'getSubaccount', summary: 'Get a client', tag: 'Subaccounts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Subaccount', description: 'The client.' } },
  { method: 'patch', path: '/v1/subaccounts/{id}', operationId: 'updateSubaccount', summary: "Change a client's name or limits", tag: 'Subaccounts', auth: 'tenant', body: 'UpdateSubaccountRequest', response: { status: 200, shape: DATA, schema: 'Subaccount', description: 'Updated.' } },
  { method: 'post', path: '/v1/subaccounts/{id}/suspend', operationId: 'suspendSubaccount', summary: 'Suspend a client', tag: 'Subaccounts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Subaccount', description: 'Suspended.' } },
  { method: 'post', path: '/v1/subaccounts/{id}/reactivate', operationId: 'reactivateSubaccount', summary: 'Reactivate a client the agency suspended', tag: 'Subaccounts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Subaccount', description: 'Active again.' } },
  {
    method: 'post',
    path: '/v1/subaccounts/{id}/api-keys',
    operationId: 'createSubaccountApiKey',
    summary: "Mint a client's API key",
    tag: 'Subaccounts',
    auth: 'tenant',
    body: 'CreateSubaccountKeyRequest',
    response: { status: 201, shape: DATA, schema: 'SubaccountKeyCreated', description: 'Created; `key` is shown once.' },
  },
  { method: 'get', path: '/v1/subaccounts/{id}/api-keys', operationId: 'listSubaccountApiKeys', summary: "List a client's API keys", tag: 'Subaccounts', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'SubaccountKey', description: 'A page of keys.' } },
  { method: 'delete', path: '/v1/subaccounts/{id}/api-keys/{keyId}', operationId: 'revokeSubaccountApiKey', summary: "Revoke a client's API key", tag: 'Subaccounts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'SubaccountKey', description: 'Revoked.' } },
  { method: 'post', path: '/v1/subaccounts/{id}/lines', operationId: 'assignSubaccountLine', summary: 'Assign one of the agency\'s lines to a client', tag: 'Subaccounts', auth: 'tenant', body: 'AssignLineRequest', errors: [409], response: { status: 200, shape: DATA, schema: 'AgencyLine', description: 'Assigned.' } },
  { method: 'delete', path: '/v1/subaccounts/{id}/lines/{lineId}', operationId: 'unassignSubaccountLine', summary: 'Take a line back from a client', tag: 'Subaccounts', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'AgencyLine', description: 'Taken back.' } },

  // AI persona and sources.
  { method: 'get', path: '/v1/ai/persona', operationId: 'getPersona', summary: 'The AI persona (defaults until set)', tag: 'AI', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Persona', description: 'The persona.' } },
  {
    method: 'put',
    path: '/v1/ai/persona',
    operationId: 'putPersona',
    summary: 'Set persona fields (auto-reply, HELP answer, instructions, provider)',
    description: 'Fields left out keep their value. A provider API key is stored encrypted and never returned.',
    tag: 'AI',
    auth: 'tenant',
    body: 'PutPersonaRequest',
    response: { status: 200, shape: DATA, schema: 'Persona', description: 'The persona.' },
  },
  { method: 'post', path: '/v1/ai/persona/preview', operationId: 'previewReply', summary: 'What auto-reply would answer to a message', tag: 'AI', auth: 'tenant', body: 'PreviewReplyRequest', response: { status: 200, shape: DATA, schema: 'ReplyPreview', description: 'The reply and the sources it used.' } },
  {
    method: 'post',
    path: '/v1/ai/sources',
    operationId: 'createAiSource',
    summary: 'Add a training source (text or FAQ)',
    tag: 'AI',
    auth: 'tenant',
    body: ['CreateTextSourceRequest', 'CreateFaqSourceRequest'],
    errors: [409],
    response: { status: 201, shape: DATA, schema: 'AiSource', description: 'Added (409 `LIMIT_EXCEEDED` past the per-tenant caps).' },
  },
  { method: 'get', path: '/v1/ai/sources', operationId: 'listAiSources', summary: 'List training sources', tag: 'AI', auth: 'tenant', query: { ...listQuery, type: sourceTypeSchema.properties.type }, response: { status: 200, shape: LIST, schema: 'AiSource', description: 'A page of sources.' } },
  { method: 'get', path: '/v1/ai/sources/{id}', operationId: 'getAiSource', summary: 'Get a training source', tag: 'AI', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'AiSource', description: 'The source.' } },
  { method: 'delete', path: '/v1/ai/sources/{id}', operationId: 'deleteAiSource', summary: 'Delete a training source', tag: 'AI', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'AiSourceDeleted', description: 'Deleted.' } },

  // Webhooks.
  {
    method: 'post',
    path: '/v1/webhooks',
    operationId: 'createWebhook',
    summary: 'Subscribe an endpoint to events',
    description: 'The signing secret is generated when omitted and returned once. URLs resolving to private, loopback or link-local addresses are refused.',
    tag: 'Webhooks',
    auth: 'tenant',
    body: 'CreateWebhookRequest',
    response: { status: 201, shape: DATA, schema: 'WebhookWithSecret', description: 'Created; `secret` is shown once.' },
  },
  { method: 'get', path: '/v1/webhooks', operationId: 'listWebhooks', summary: 'List webhooks', tag: 'Webhooks', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'Webhook', description: 'A page of webhooks.' } },
  { method: 'get', path: '/v1/webhooks/{id}', operationId: 'getWebhook', summary: 'Get a webhook', tag: 'Webhooks', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Webhook', description: 'The webhook.' } },
  { method: 'patch', path: '/v1/webhooks/{id}', operationId: 'updateWebhook', summary: 'Change url, events, or re-enable a webhook', tag: 'Webhooks', auth: 'tenant', body: 'UpdateWebhookRequest', response: { status: 200, shape: DATA, schema: 'Webhook', description: 'Updated.' } },
  { method: 'delete', path: '/v1/webhooks/{id}', operationId: 'deleteWebhook', summary: 'Delete a webhook', tag: 'Webhooks', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Webhook', description: 'Deleted.' } },
  {
    method: 'post',
    path: '/v1/webhooks/{id}/rotate-secret',
    operationId: 'rotateWebhookSecret',
    summary: 'Rotate the signing secret (the old one keeps signing during an overlap)',
    tag: 'Webhooks',
    auth: 'tenant',
    body: 'RotateWebhookSecretRequest',
    bodyOptional: true,
    response: { status: 200, shape: DATA, schema: 'WebhookWithSecret', description: 'Rotated; the new `secret` is shown once.' },
  },
  {
    method: 'get',
    path: '/v1/status-callback-secret',
    operationId: 'getStatusCallbackSecret',
    summary: "The secret that signs this account's status callbacks",
    description: 'Needs a key with full permissions. 404 until one exists (POST makes one; so does the first status callback).',
    tag: 'Webhooks',
    auth: 'tenant',
    errors: [404],
    response: { status: 200, shape: DATA, schema: 'StatusCallbackSecret', description: 'The secret.' },
  },
  {
    method: 'post',
    path: '/v1/status-callback-secret',
    operationId: 'rotateStatusCallbackSecret',
    summary: 'Make or rotate the status callback secret (the old one keeps signing during an overlap)',
    description: 'Needs a live key with full permissions. Give `secret` to choose it, or leave the body empty to have one generated.',
    tag: 'Webhooks',
    auth: 'tenant',
    body: 'RotateWebhookSecretRequest',
    bodyOptional: true,
    response: { status: 200, shape: DATA, schema: 'StatusCallbackSecret', description: 'The new secret.' },
  },
  {
    method: 'post',
    path: '/v1/webhooks/{id}/test',
    operationId: 'testWebhook',
    summary: 'Send a `webhook.test` event to the endpoint',
    description: 'No body (or an empty object).',
    tag: 'Webhooks',
    auth: 'tenant',
    errors: [400, 409],
    response: { status: 202, shape: DATA, schema: 'WebhookTestQueued', description: 'Queued; watch its delivery in the log.' },
  },
  {
    method: 'get',
    path: '/v1/webhooks/{id}/deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'The delivery log: attempts, status codes, latency, errors',
    tag: 'Webhooks',
    auth: 'tenant',
    query: listDeliveriesQuery,
    response: { status: 200, shape: LIST, schema: 'WebhookDelivery', description: 'A page of deliveries.' },
  },
  {
    method: 'post',
    path: '/v1/webhooks/{id}/deliveries/{deliveryId}/retry',
    operationId: 'retryWebhookDelivery',
    summary: 'Retry a delivery now',
    description: 'No body (or an empty object).',
    tag: 'Webhooks',
    auth: 'tenant',
    errors: [400],
    response: { status: 202, shape: DATA, schema: 'WebhookDelivery', description: 'Queued.' },
  },

  // Opt-outs.
  { method: 'get', path: '/v1/opt-outs', operationId: 'listOptOuts', summary: 'List opted-out numbers', tag: 'Opt-outs', auth: 'tenant', query: listOptOutsQuery, response: { status: 200, shape: LIST, schema: 'OptOut', description: 'A page of opt-outs.' } },
  { method: 'get', path: '/v1/opt-outs/{phone}', operationId: 'getOptOut', summary: "A number's opt-out", tag: 'Opt-outs', auth: 'tenant', params: { phone: e164Param }, errors: [400], response: { status: 200, shape: DATA, schema: 'OptOut', description: 'The opt-out.' } },
  {
    method: 'post',
    path: '/v1/opt-outs',
    operationId: 'createOptOut',
    summary: 'Opt a number out manually',
    tag: 'Opt-outs',
    auth: 'tenant',
    body: 'CreateOptOutRequest',
    response: { status: 201, also: [200], shape: DATA, schema: 'OptOut', description: '201 when the number became opted out; 200 when it already was.' },
  },
  {
    method: 'delete',
    path: '/v1/opt-outs/{phone}',
    operationId: 'deleteOptOut',
    summary: 'Opt a number back in (the record is kept)',
    tag: 'Opt-outs',
    auth: 'tenant',
    params: { phone: e164Param },
    errors: [400],
    response: { status: 200, shape: DATA, schema: 'OptOut', description: 'Opted back in.' },
  },

  // Compliance.
  {
    method: 'post',
    path: '/v1/compliance/consent',
    operationId: 'recordConsent',
    summary: 'Record consent (TCPA), append-only',
    description: '`ip_address` and `user_agent` left out are taken from the request and named in `filled_from_request`.',
    tag: 'Compliance',
    auth: 'tenant',
    body: 'CreateConsentRequest',
    response: { status: 201, shape: DATA, schema: 'Consent', description: 'Recorded.' },
  },
  { method: 'get', path: '/v1/compliance/consent', operationId: 'listConsent', summary: 'Query the consent ledger by number and time', tag: 'Compliance', auth: 'tenant', query: listConsentQuery, response: { status: 200, shape: LIST, schema: 'Consent', description: 'A page of entries.' } },
  {
    method: 'get',
    path: '/v1/compliance/consent/export',
    operationId: 'exportConsent',
    summary: 'Export the consent ledger as CSV',
    tag: 'Compliance',
    auth: 'tenant',
    query: consentFilterQuery,
    response: { status: 200, shape: 'csv', description: 'Every matching entry, streamed.' },
  },
  { method: 'get', path: '/v1/compliance/consent/{id}', operationId: 'getConsent', summary: 'Get a consent entry', tag: 'Compliance', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'Consent', description: 'The entry.' } },

  // Billing.
  { method: 'get', path: '/v1/billing/usage', operationId: 'getUsage', summary: "This UTC month's usage against the plan", tag: 'Billing', auth: 'tenant', query: {}, response: { status: 200, shape: DATA, schema: 'UsageSummary', description: 'The usage.' } },
  { method: 'get', path: '/v1/billing/usage-records', operationId: 'listUsageRecords', summary: 'Monthly usage records', tag: 'Billing', auth: 'tenant', query: listQuery, response: { status: 200, shape: LIST, schema: 'UsageRecord', description: 'A page of months, newest first.' } },
  { method: 'get', path: '/v1/billing/events', operationId: 'listBillingEvents', summary: 'Billing events, for an external biller', tag: 'Billing', auth: 'tenant', query: listBillingEventsQuery, response: { status: 200, shape: LIST, schema: 'BillingEvent', description: 'A page of events.' } },
  { method: 'get', path: '/v1/billing/events/{id}', operationId: 'getBillingEvent', summary: 'Get a billing event', tag: 'Billing', auth: 'tenant', response: { status: 200, shape: DATA, schema: 'BillingEvent', description: 'The event.' } },
];

const ERROR_RESPONSES: Record<number, { name: string; description: string }> = {
  400: { name: 'BadRequest', description: 'Invalid body, query or path (`VALIDATION_ERROR` with `details`), malformed JSON (`INVALID_JSON`), unknown template (`INVALID_TEMPLATE`), missing template variable (`MISSING_TEMPLATE_VAR`).' },
  401: { name: 'Unauthorized', description: 'Missing or invalid credential (`INVALID_API_KEY`; `INVALID_SIGNATURE` for devices).' },
  403: { name: 'Forbidden', description: 'Key deactivated (`KEY_INACTIVE`), tenant suspended (`TENANT_SUSPENDED`), permission missing (`FORBIDDEN`), recipient opted out (`OPTED_OUT`).' },
  404: { name: 'NotFound', description: 'Unknown id, or an id that belongs to another tenant (`NOT_FOUND`): existence is never revealed.' },
  409: { name: 'Conflict', description: 'Duplicate or state conflict (`CONFLICT`, `LIMIT_EXCEEDED`, `WEBHOOK_DISABLED`), or the same `Idempotency-Key` with another body (`IDEMPOTENCY_CONFLICT`).' },
  413: { name: 'PayloadTooLarge', description: 'The body is larger than the limit (`PAYLOAD_TOO_LARGE`).' },
  429: { name: 'RateLimited', description: 'Over the per-key, per-minute limit (`RATE_LIMIT_EXCEEDED`); retry after `Retry-After` seconds.' },
  500: { name: 'InternalError', description: 'A fault on our side (`INTERNAL`); the message names the request id.' },
  503: { name: 'ServiceUnavailable', description: 'No phone line is available or answering (`NO_PHONE_AVAILABLE`), or the database or Redis is briefly unreachable (`SERVICE_UNAVAILABLE`, with `Retry-After`; retry with the same `Idempotency-Key`).' },
};

const RATE_LIMIT_HEADERS = {
  'X-RateLimit-Limit': { $ref: '#/components/headers/X-RateLimit-Limit' },
  'X-RateLimit-Remaining': { $ref: '#/components/headers/X-RateLimit-Remaining' },
  'X-RateLimit-Reset': { $ref: '#/components/headers/X-RateLimit-Reset' },
};
const REQUEST_ID_HEADER = { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } };

/** Keywords ajv understands that are not JSON Schema 2020-12 (OpenAPI 3.1's dialect). */
const AJV_ONLY_KEYWORDS = new Set(['$async', 'errorMessage', 'instanceof', 'typeof', 'regexp', 'transform', 'dynamicDefaults']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

/**
 * A deep copy of an ajv schema that is valid JSON Schema 2020-12: ajv-only
 * keywords are dropped and OpenAPI 3.0's `nullable` becomes a type union.
 * Custom formats (`e164`, `ulid`) are kept: unknown formats are annotations.
 */
export function toOpenApiSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toOpenApiSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    if (AJV_ONLY_KEYWORDS.has(key) || key === 'nullable') continue;
    // These map names to schemas: their keys are field names, not keywords.
    out[key] = SCHEMA_MAPS.has(key) && value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, toOpenApiSchema(inner)])) : toOpenApiSchema(value);
  }
  const source = schema as Record<string, unknown>;
  if (source.nullable === true && out.type !== undefined) {
    const types = Array.isArray(out.type) ? (out.type as string[]) : [out.type as string];
    out.type = types.includes('null') ? types : [...types, 'null'];
  }
  return out;
}

function pathParameters(route: RouteDoc) {
  return [...route.path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: toOpenApiSchema(route.params?.[name] ?? { type: 'string' }),
  }));
}

function queryParameters(query: Record<string, object>) {
  return Object.entries(query).map(([name, schema]) => {
    const description = (schema as { description?: string }).description;
    return { name, in: 'query', required: false, ...(description ? { description } : {}), schema: toOpenApiSchema(schema) };
  });
}

function schemaOf(schema: SchemaName | Schema): Schema {
  return typeof schema === 'string' ? ref(schema) : (toOpenApiSchema(schema) as Schema);
}

function successBody(route: RouteDoc): Schema | null {
  const { shape, schema } = route.response;
  if (shape === 'csv' || shape === 'text' || shape === 'binary') return null;
  const item = schema ? schemaOf(schema) : {};
  switch (shape) {
    case 'data':
      return { type: 'object', required: ['data'], properties: { data: item } };
    case 'array':
      return { type: 'object', required: ['data'], properties: { data: { type: 'array', items: item } } };
    case 'list':
      return {
        type: 'object',
        required: ['data', 'next_cursor'],
        properties: {
          data: { type: 'array', items: item },
          next_cursor: { type: ['string', 'null'], description: 'Pass as `?cursor=` for the next page; null on the last page.' },
        },
      };
    default:
      return item;
  }
}

function errorStatuses(route: RouteDoc): number[] {
  const statuses = new Set<number>(route.errors ?? []);
  if (route.auth === 'tenant') [401, 403, 429].forEach((status) => statuses.add(status));
  if (route.auth === 'operator' || route.auth === 'device') statuses.add(401);
  if (route.auth === 'tenant' && route.method === 'post') statuses.add(409);
  if (route.body) [400, 413].forEach((status) => statuses.add(status));
  // A validated query string rejects unknown parameters, even where none are accepted.
  if (route.query) statuses.add(400);
  if (route.path.includes('{')) statuses.add(404);
  if (route.auth !== 'none') [500, 503].forEach((status) => statuses.add(status));
  return [...statuses].sort((a, b) => a - b);
}

function security(auth: RouteAuth) {
  switch (auth) {
    case 'tenant':
      return [{ apiKey: [] }, { portalJwt: [] }];
    case 'operator':
      return [{ operatorBearer: [] }, { operatorBasic: [] }];
    case 'device':
      return [{ deviceSignature: [] }];
    default:
      return [];
  }
}

function operation(route: RouteDoc) {
  const parameters: unknown[] = [...pathParameters(route), ...queryParameters(route.query ?? {})];
  for (const [name, header] of Object.entries(route.headers ?? {})) {
    parameters.push({ name, in: 'header', required: header.required ?? false, description: header.description, schema: toOpenApiSchema(header.schema) });
  }
  if (route.auth === 'tenant' && route.method === 'post') parameters.push({ $ref: '#/components/parameters/IdempotencyKey' });

  let requestBody: Record<string, unknown> | undefined;
  if (route.body) {
    const names = Array.isArray(route.body) ? route.body : [route.body];
    const schema = names.length === 1 ? ref(names[0]) : { oneOf: names.map(ref) };
    const content: Record<string, unknown> = {
      'application/json': { schema: route.csvBody ? { anyOf: [schema, { type: 'array', items: { type: 'object' } }] } : schema },
    };
    if (route.csvBody) content['text/csv'] = { schema: { type: 'string', description: 'A header row, then one contact per line.' } };
    requestBody = { required: !route.bodyOptional, content };
  }

  const body = successBody(route);
  const headers = route.auth === 'tenant' ? { ...RATE_LIMIT_HEADERS, ...REQUEST_ID_HEADER } : REQUEST_ID_HEADER;
  const success = {
    description: route.response.description,
    headers,
    content: body
      ? { 'application/json': { schema: body } }
      : route.response.shape === 'binary'
        ? { '*/*': { schema: { type: 'string', format: 'binary' } } }
        : { [route.response.shape === 'text' ? 'text/plain' : 'text/csv']: { schema: { type: 'string' } } },
  };
  const responseMap: Record<string, unknown> = { [String(route.response.status)]: success };
  for (const status of route.response.also ?? []) responseMap[String(status)] = { ...success, description: `See ${route.response.status}.` };
  for (const status of errorStatuses(route)) {
    if (responseMap[String(status)]) continue;
    responseMap[String(status)] = { $ref: `#/components/responses/${ERROR_RESPONSES[status].name}` };
  }

  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: security(route.auth),
    ...(parameters.length ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses: responseMap,
  };
}

const DESCRIPTION = `Multi-tenant iMessage / RCS / SMS messaging. The API key **is** the tenant: nothing one tenant owns is visible to another (another tenant's id answers 404, like an unknown one).

- **JSON in, JSON out.** Success: \`{"data": …}\`; lists: \`{"data": [...], "next_cursor": "…" | null}\` (cursor pagination: \`?limit=\` 1–100, default 50; pass \`next_cursor\` as \`?cursor=\`; newest first).
- **Errors:** \`{"error": "plain English", "code": "MACHINE_CODE", "details"?: [{"path", "message"}]}\`. Unknown body fields are rejected (400).
- **Status codes:** 200 reads/updates/deletes; 201 created; 202 message sends, campaign launches and other queued work; 400, 401, 403, 404, 409, 413, 429, 503 as described per operation.
- **Idempotency:** send \`Idempotency-Key\` on any POST: the same key and body within 24 h return the first response; another body answers 409 \`IDEMPOTENCY_CONFLICT\`.
- **Rate limits:** per key, per minute; every response carries \`X-RateLimit-Limit\`, \`X-RateLimit-Remaining\`, \`X-RateLimit-Reset\`; over the limit: 429 with \`Retry-After\`.
- **Sandbox:** \`tf_test_…\` keys use the same endpoints with synthetic delivery; ids are \`sb_\` + ULID.
- **Webhooks:** each POST carries \`X-Senderz-Signature: sha256=<hex HMAC-SHA256 of the raw body>\` and the Standard Webhooks headers (\`webhook-id\`, \`webhook-timestamp\`, \`webhook-signature\`). See the \`WebhookEvent\` schema.`;

/** The whole OpenAPI 3.1 document. Pure: the same routes give the same document. */
export function buildOpenApiDocument(routes: RouteDoc[] = ROUTES) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    if (paths[route.path][route.method]) throw new Error(`two ROUTES entries for ${route.method.toUpperCase()} ${route.path}`);
    paths[route.path][route.method] = operation(route);
  }
  const errorSchemaRef = ref('Error');
  const componentResponses = Object.fromEntries(
    Object.values(ERROR_RESPONSES).map(({ name, description }) => [
      name,
      {
        description,
        headers: name === 'RateLimited' ? { 'Retry-After': { $ref: '#/components/headers/Retry-After' }, ...RATE_LIMIT_HEADERS, ...REQUEST_ID_HEADER } : REQUEST_ID_HEADER,
        content: { 'application/json': { schema: errorSchemaRef } },
      },
    ]),
  );
  const tags = [...new Set(routes.map((route) => route.tag))].map((name) => ({ name }));
  return {
    openapi: '3.1.0',
    info: { title: 'senderz API', version: '1.0.0', description: DESCRIPTION },
    tags,
    paths,
    webhooks: {
      event: {
        post: {
          summary: 'An event delivered to your endpoint',
          description: 'Verify `X-Senderz-Signature` over the raw body before parsing. Answer 2xx; anything else (or a timeout) is retried with exponential backoff.',
          parameters: [
            { name: 'X-Senderz-Signature', in: 'header', required: true, description: '`sha256=<hex>`; several, comma-separated, during a secret rotation.', schema: { type: 'string' } },
            { name: 'X-Senderz-Event', in: 'header', required: true, schema: { type: 'string' } },
            { name: 'X-Senderz-Sandbox', in: 'header', required: false, description: '`1` for sandbox traffic.', schema: { type: 'string' } },
            { name: 'webhook-id', in: 'header', required: true, schema: { type: 'string' } },
            { name: 'webhook-timestamp', in: 'header', required: true, schema: { type: 'string' } },
            { name: 'webhook-signature', in: 'header', required: true, schema: { type: 'string' } },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: ref('WebhookEvent') } } },
          responses: { '200': { description: 'Received.' } },
        },
      },
    },
    components: {
      schemas: Object.fromEntries(Object.entries(SCHEMAS).map(([name, schema]) => [name, toOpenApiSchema(schema)])),
      responses: componentResponses,
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'Any unique string (1–255 characters). The same key and body within 24 h return the first response; another body answers 409 `IDEMPOTENCY_CONFLICT`. Scoped to your tenant.',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
        },
      },
      headers: {
        'X-RateLimit-Limit': { description: 'Requests allowed per minute for this key.', schema: { type: 'integer' } },
        'X-RateLimit-Remaining': { description: 'Requests left in the current minute.', schema: { type: 'integer' } },
        'X-RateLimit-Reset': { description: 'When the window resets, in epoch seconds.', schema: { type: 'integer' } },
        'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
        'X-Request-Id': { description: 'The request id (yours, when you send a valid `X-Request-Id`).', schema: { type: 'string' } },
      },
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'tf_live_… | tf_test_…', description: 'A tenant API key: `Authorization: Bearer tf_live_…` (live) or `tf_test_…` (sandbox).' },
        portalJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "A portal user's JWT from the configured OIDC provider; a claim names the tenant. Same routes, same isolation." },
        operatorBearer: { type: 'http', scheme: 'bearer', description: 'The operator credential, `Authorization: Bearer $ADMIN_API_KEY`, for /admin.' },
        operatorBasic: { type: 'http', scheme: 'basic', description: 'The operator credential for browsers (Bull Board): any user name, the admin key as the password.' },
        deviceSignature: { type: 'apiKey', in: 'header', name: 'X-Senderz-Signature', description: "A phone line's HMAC-SHA256 signature over `X-Senderz-Timestamp` and the raw body, with the line secret (docs/device-protocol.md)." },
      },
    },
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApiDocument>;

/** `GET /openapi.json` and the interactive reference at `/docs`, both without a credential. */
export function referenceRoutes(): Router {
  const router = Router();
  const document = buildOpenApiDocument();
  const body = JSON.stringify(document);
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').set('Cache-Control', 'no-cache').send(body);
  });
  // Tags start collapsed (about a hundred operations render slowly otherwise); deep links such as
  // /docs/#/Messages/sendMessage open one operation directly.
  const options = { swaggerUrl: '/openapi.json', customSiteTitle: 'senderz API reference', swaggerOptions: { docExpansion: 'none', deepLinking: true, persistAuthorization: true } };
  router.use('/docs', swaggerUi.serveFiles(undefined, options), swaggerUi.setup(undefined, options));
  return router;
}
