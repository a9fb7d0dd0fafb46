import { CHANNELS, MESSAGE_STATUSES, MESSAGE_TYPES } from './messages';
import { PLANS } from './admin';
import { PERMISSIONS } from './api-keys';
import { CAMPAIGN_STATUSES } from './campaigns';
import { TEMPLATE_CHANNELS, TEMPLATE_TYPES } from './templates';
import { DELIVERY_STATUSES } from './webhooks';
import { CONSENT_TYPES } from './consent';
import { BILLING_EVENT_TYPES } from './billing';
import { EVENT_TYPES } from '../events';

/**
 * What the API answers, as JSON Schema (the request schemas' style). These are
 * documentation for clients and the OpenAPI document (api/openapi.ts), and the
 * contract the docs tests hold real responses to. Every field a presenter
 * always writes is `required`; responses stay open (no additionalProperties:
 * false) so a client generated from them tolerates fields added later.
 */

const id = { type: 'string', description: 'A ULID.' } as const;
const nullableId = { type: ['string', 'null'] } as const;
const text = { type: 'string' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const count = { type: 'integer', minimum: 0 } as const;
const nullableCount = { type: ['integer', 'null'], minimum: 0 } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;
const phone = { type: 'string', format: 'e164' } as const;
const nullablePhone = { type: ['string', 'null'], format: 'e164' } as const;
const anyObject = { type: 'object' } as const;

/** An object whose every listed property is always present. */
function resource<P extends Record<string, object>>(properties: P, description?: string) {
  return { type: 'object', ...(description ? { description } : {}), required: Object.keys(properties) as (keyof P & string)[], properties } as const;
}

export const errorDetailResponse = resource({ path: text, message: text });

/** Every error: `{error, code, details?}` (PRODUCT.md §2). */
export const errorResponse = {
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string', description: 'Plain English, safe to show to a person.' },
    code: {
      type: 'string',
      description:
        'Machine code: VALIDATION_ERROR, INVALID_JSON, INVALID_API_KEY, KEY_INACTIVE, TENANT_SUSPENDED, FORBIDDEN, NOT_FOUND, CONFLICT, IDEMPOTENCY_CONFLICT, RATE_LIMIT_EXCEEDED, INVALID_TEMPLATE, MISSING_TEMPLATE_VAR, OPTED_OUT, MEDIA_NOT_SUPPORTED, NO_PHONE_AVAILABLE, PAYLOAD_TOO_LARGE, LIMIT_EXCEEDED, WEBHOOK_DISABLED, INVALID_SIGNATURE, INTERNAL.',
      examples: ['VALIDATION_ERROR'],
    },
    details: { type: 'array', description: 'Validation errors: one entry per offending field.', items: errorDetailResponse },
  },
} as const;

export const messageMediaResponse = resource({
  id: id,
  status: {
    type: 'string',
    enum: ['pending', 'stored', 'failed', 'purged'],
    description: 'pending until the platform has downloaded it; failed with `error` when it could not; purged once the bytes were cleared with the body (90 days).',
  },
  content_type: nullableText,
  size: nullableCount,
  filename: nullableText,
  url: { type: ['string', 'null'], description: 'The download (your API key), once stored.' },
  error: { type: ['string', 'null'], description: 'media_too_large, media_type_not_allowed, media_unreachable or media_url_blocked.' },
});

export const messageResponse = resource({
  id: { type: 'string', description: 'A ULID; sandbox messages are `sb_` + ULID.' },
  direction: { type: 'string', enum: ['outbound', 'inbound'] },
  from: nullablePhone,
  to: phone,
  body: { type: ['string', 'null'], description: 'Null once purged (after 90 days).' },
  channel: { type: 'string', enum: CHANNELS },
  message_type: { type: ['string', 'null'], enum: [...MESSAGE_TYPES, null] },
  status: { type: 'string', enum: MESSAGE_STATUSES },
  reason: nullableText,
  campaign_id: nullableId,
  client_reference: { type: ['string', 'null'], description: 'The reference given on send, echoed on the message, its events, webhooks and status callbacks.' },
  status_callback: { type: ['string', 'null'], description: "The message's own status callback URL, if given on send." },
  send_at: { ...nullableDateTime, description: 'When a scheduled send is (or was) released; null for an immediate send.' },
  sandbox: { type: 'boolean' },
  was_downgraded: {
    type: 'boolean',
    description: 'True when an `auto` message was accepted as iMessage, the device then reported it undeliverable over iMessage, and it went again over SMS (`channel` is then `sms`).',
  },
  created_at: dateTime,
  updated_at: dateTime,
  sent_at: nullableDateTime,
  delivered_at: nullableDateTime,
  read_at: nullableDateTime,
  media: { type: 'array', items: messageMediaResponse, description: 'Attachments, in order; empty for a text-only message.' },
});

export const messageAcceptedResponse = resource({
  message_id: text,
  status: { type: 'string', enum: ['queued', 'scheduled'], description: '`scheduled` when `send_at` was given.' },
  from: nullablePhone,
  channel: { type: 'string', enum: CHANNELS },
  estimated_delivery_ms: count,
  client_reference: nullableText,
  send_at: nullableDateTime,
});

export const messageEventResponse = resource({
  sequence: { type: 'integer', minimum: 1, description: 'Strictly increasing per message.' },
  status: { type: 'string', enum: MESSAGE_STATUSES },
  reason: nullableText,
  occurred_at: dateTime,
  client_reference: { type: ['string', 'null'], description: "The message's client_reference." },
});

export const statusCallbackDeliveryResponse = resource({
  sequence: { type: 'integer', minimum: 1, description: 'The history row (GET /v1/messages/{id}/events) the callback is about.' },
  message_status: { type: 'string', enum: MESSAGE_STATUSES, description: 'The status the callback announces.' },
  status: { type: 'string', enum: ['pending', 'succeeded', 'failed'], description: '`pending` until an attempt succeeds (2xx) or the retries end (`failed`; a 410 ends them at once).' },
  attempts: { type: 'integer', minimum: 0 },
  last_status_code: { ...nullableCount, description: "The receiver's HTTP status on the last attempt; null before any or when it did not answer." },
  last_error: { ...nullableText, description: 'Why the last attempt failed, when it did (`timeout`, `http_500`, …).' },
  next_attempt_at: { ...nullableDateTime, description: 'While pending: when the next attempt is due (during an attempt, how long it may take before another may start).' },
  updated_at: { ...nullableDateTime, description: 'The last attempt; null before any.' },
});

export const statusCallbackSecretResponse = resource({
  secret: { type: 'string', description: '`whsec_` + base64: signs every status callback POST (X-Senderz-Signature and Standard Webhooks headers).' },
  previous_secret_expires_at: { ...nullableDateTime, description: 'During a rotation overlap the previous secret also signs, until then.' },
  created_at: dateTime,
  updated_at: dateTime,
});

export const capabilityResponse = resource({
  number: phone,
  imessage: { type: 'boolean' },
  sms: { type: 'boolean' },
  rcs: { type: 'boolean' },
  cached: { type: 'boolean' },
  checked_at: dateTime,
  cache_expires_at: dateTime,
});

export const apiKeyResponse = resource({
  id,
  name: text,
  prefix: { type: 'string', enum: ['tf_live', 'tf_test'] },
  key_hint: { type: 'string', description: 'The last 4 characters of the key.' },
  permissions: { type: 'string', enum: PERMISSIONS },
  rate_limit: { type: ['integer', 'null'], description: 'Requests per minute; null: the plan default (or none, when set by the operator).' },
  status: { type: 'string', enum: ['active', 'inactive', 'revoked'] },
  sandbox: { type: 'boolean' },
  last_used_at: nullableDateTime,
  created_at: dateTime,
});

const shownOnce = (what: string) => ({ type: ['string', 'null'], description: `The full ${what}, shown once: store it now. Null in an idempotent replay.` }) as const;

export const apiKeyCreatedResponse = { allOf: [apiKeyResponse, resource({ key: shownOnce('key (`tf_live_…` or `tf_test_…`)') })] } as const;

export const subaccountKeyResponse = { allOf: [apiKeyResponse, resource({ created_by: { type: 'string', enum: ['tenant', 'operator', 'agency'] } })] } as const;

export const subaccountKeyCreatedResponse = { allOf: [subaccountKeyResponse, resource({ key: shownOnce('key') })] } as const;

export const adminApiKeyCreatedResponse = { allOf: [apiKeyResponse, resource({ tenant_id: id, key: shownOnce('key') })] } as const;

export const contactResponse = resource({
  id,
  phone_number: phone,
  name: nullableText,
  email: nullableText,
  metadata: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
  group_ids: { type: 'array', items: id },
  created_at: dateTime,
  updated_at: dateTime,
});

export const contactImportResponse = {
  type: 'object',
  required: ['id', 'status', 'format', 'update_existing', 'group_id', 'progress', 'created', 'updated', 'failed', 'created_at', 'completed_at'],
  properties: {
    id,
    status: { type: 'string', enum: ['queued', 'processing', 'completed'] },
    format: { type: 'string', enum: ['json', 'csv'] },
    update_existing: { type: 'boolean' },
    group_id: nullableId,
    progress: resource({ processed: count, total: count }),
    created: count,
    updated: count,
    failed: count,
    errors: {
      type: 'array',
      description: 'Per-row problems (absent from lists).',
      items: resource({ row: { type: 'integer', minimum: 1 }, field: text, reason: text }),
    },
    created_at: dateTime,
    completed_at: nullableDateTime,
  },
} as const;

export const groupResponse = resource({
  id,
  name: text,
  description: nullableText,
  member_count: count,
  created_at: dateTime,
  updated_at: dateTime,
});

export const groupMembersAddedResponse = resource({ group: groupResponse, added: count });
export const groupMembersRemovedResponse = resource({ group: groupResponse, removed: count });

export const templateResponse = resource({
  id,
  name: text,
  type: { type: 'string', enum: TEMPLATE_TYPES },
  channel: { type: 'string', enum: TEMPLATE_CHANNELS },
  body: text,
  variables: { type: 'array', items: text, description: 'The `{{variable}}` names the body uses.' },
  created_at: dateTime,
  updated_at: dateTime,
});

export const campaignCountsResponse = resource({ total: count, queued: count, sent: count, delivered: count, failed: count, blocked: count });

export const campaignResponse = resource({
  id,
  name: text,
  status: { type: 'string', enum: CAMPAIGN_STATUSES },
  body: text,
  template_id: nullableId,
  group_id: nullableId,
  data: anyObject,
  channel: { type: 'string', enum: CHANNELS },
  message_type: { type: 'string', enum: MESSAGE_TYPES },
  sandbox: { type: 'boolean' },
  total: count,
  fanned_out: { ...count, description: 'Recipients whose message has been created so far.' },
  counts: campaignCountsResponse,
  scheduled_at: nullableDateTime,
  launched_at: nullableDateTime,
  completed_at: nullableDateTime,
  created_at: dateTime,
  updated_at: dateTime,
});

export const webhookResponse = resource({
  id,
  url: text,
  events: { type: 'array', items: { type: 'string', enum: EVENT_TYPES } },
  enabled: { type: 'boolean' },
  disabled_reason: nullableText,
  failing_since: nullableDateTime,
  last_success_at: nullableDateTime,
  previous_secret_expires_at: { ...nullableDateTime, description: 'While a rotated secret still signs deliveries.' },
  created_at: dateTime,
  updated_at: dateTime,
});

export const webhookCreatedResponse = { allOf: [webhookResponse, resource({ secret: shownOnce('signing secret') })] } as const;

export const webhookTestResponse = resource({ event_id: id, delivery_id: id, status: { type: 'string', enum: ['pending'] } });

export const webhookDeliveryResponse = resource({
  id,
  webhook_id: id,
  event_id: id,
  event: text,
  status: { type: 'string', enum: DELIVERY_STATUSES },
  attempt_count: count,
  next_attempt_at: nullableDateTime,
  last_status_code: { type: ['integer', 'null'] },
  last_error: nullableText,
  created_at: dateTime,
  updated_at: dateTime,
  attempts: {
    type: 'array',
    items: resource({
      attempt: { type: 'integer', minimum: 1 },
      attempted_at: dateTime,
      status_code: { type: ['integer', 'null'] },
      latency_ms: nullableCount,
      error: nullableText,
      next_attempt_at: nullableDateTime,
    }),
  },
});

export const optOutResponse = resource({
  phone_number: phone,
  active: { type: 'boolean', description: 'False once the number opted back in.' },
  source: { type: 'string', description: '`keyword` (an inbound STOP…) or `api`.' },
  keyword: nullableText,
  reason: nullableText,
  opted_out_at: dateTime,
  opted_back_in_at: nullableDateTime,
  created_at: dateTime,
  updated_at: dateTime,
});

export const consentResponse = resource({
  id,
  phone_number: phone,
  consent_type: { type: 'string', enum: CONSENT_TYPES },
  consent_source: text,
  disclosure_text: nullableText,
  disclosure_version: nullableText,
  ip_address: nullableText,
  user_agent: nullableText,
  metadata: anyObject,
  consented_at: dateTime,
  filled_from_request: { type: 'array', items: text, description: 'Fields taken from the recording request rather than the body.' },
  api_key_id: nullableId,
  created_at: dateTime,
});

const channelTotals = resource({ imessage: count, sms: count, rcs: count });

export const usageSummaryResponse = resource({
  plan: { type: 'string', enum: PLANS },
  period_start: dateTime,
  period_end: dateTime,
  new_contacts: resource({ used_today: count, limit_today: nullableCount, used_this_month: count, limit_this_month: nullableCount }),
  messages: resource({ sent: count, delivered: count, failed: count, blocked: count }),
  channels: channelTotals,
});

export const usageRecordResponse = {
  type: 'object',
  required: ['period_start', 'rolled_up_at'],
  properties: {
    period_start: text,
    period_end: text,
    plan: { type: 'string', enum: PLANS },
    messages: anyObject,
    channels: channelTotals,
    inbound: count,
    new_contacts: count,
    api_calls: { type: 'object', properties: { total: count, by_key: { type: 'object', additionalProperties: count } } },
    rolled_up_at: dateTime,
  },
} as const;

export const billingEventResponse = resource({ id, type: { type: 'string', enum: BILLING_EVENT_TYPES }, data: anyObject, created_at: dateTime });

export const personaResponse = resource({
  business_name: nullableText,
  help_response: nullableText,
  voice_handoff_number: nullablePhone,
  auto_reply_enabled: { type: 'boolean' },
  instructions: nullableText,
  tone: nullableText,
  provider: {
    type: ['object', 'null'],
    required: ['base_url', 'model', 'api_key_set'],
    properties: { base_url: text, model: nullableText, api_key_set: { type: 'boolean' } },
  },
  created_at: nullableDateTime,
  updated_at: nullableDateTime,
});

export const replyPreviewResponse = {
  type: 'object',
  required: ['reply', 'responder', 'kind', 'source_ids', 'auto_reply_enabled'],
  properties: {
    reply: text,
    responder: { type: 'string', enum: ['offline', 'provider'] },
    kind: { type: 'string', enum: ['faq', 'text', 'handoff', 'generated'] },
    source_ids: { type: 'array', items: id },
    provider_error: { type: 'string', description: 'Set when the configured provider failed and the offline responder answered.' },
    auto_reply_enabled: { type: 'boolean' },
  },
} as const;

export const aiSourceResponse = {
  type: 'object',
  required: ['id', 'type', 'created_at'],
  description: '`title` and `content` for a text source, `question` and `answer` for an FAQ.',
  properties: {
    id,
    type: { type: 'string', enum: ['text', 'faq'] },
    title: text,
    content: text,
    question: text,
    answer: text,
    created_at: dateTime,
  },
} as const;

export const aiSourceDeletedResponse = { allOf: [aiSourceResponse, resource({ deleted: { type: 'boolean', const: true } })] } as const;

export const subaccountResponse = resource({
  id,
  name: text,
  plan: { type: 'string', enum: PLANS },
  status: { type: 'string', enum: ['active', 'suspended'] },
  suspended_by: { type: ['string', 'null'], enum: ['agency', 'operator', null] },
  limits: resource({ messages_per_day: nullableCount, new_contacts_per_day: nullableCount }),
  created_at: dateTime,
  updated_at: dateTime,
});

const capabilities = resource({ imessage: { type: 'boolean' }, sms: { type: 'boolean' }, rcs: { type: 'boolean' } });

export const agencyLineResponse = resource({
  id,
  phone_number: phone,
  mode: { type: 'string', enum: ['pooled', 'dedicated'] },
  client_id: nullableId,
  status: { type: 'string', enum: ['online', 'offline'] },
  enabled: { type: 'boolean' },
  capabilities,
});

const dayMetrics = {
  messages: count,
  delivered: count,
  failed: count,
  blocked: count,
  delivery_rate: { type: ['number', 'null'], description: 'delivered / (delivered + failed); null when neither.' },
  inbound: count,
  new_contacts: count,
} as const;
const totals = resource(dayMetrics);
const day = resource({ date: { type: 'string', format: 'date' }, ...dayMetrics });

export const subaccountAnalyticsResponse = resource({
  from: { type: 'string', format: 'date' },
  to: { type: 'string', format: 'date' },
  totals,
  days: { type: 'array', items: day },
  clients: { type: 'array', items: resource({ id, name: text, totals, days: { type: 'array', items: day } }) },
});

const tenantLimits = {
  type: 'object',
  description: 'Per-tenant overrides of the plan; null: unlimited.',
  properties: {
    new_contacts_per_day: nullableCount,
    new_contacts_per_month: nullableCount,
    messages_per_day: nullableCount,
    requests_per_minute: nullableCount,
  },
} as const;

export const tenantResponse = resource({
  id,
  name: text,
  plan: { type: 'string', enum: PLANS },
  status: { type: 'string', enum: ['active', 'suspended'] },
  is_agency: { type: 'boolean' },
  pool: text,
  limits: tenantLimits,
  created_at: dateTime,
  updated_at: dateTime,
});

export const phoneLineResponse = resource({
  id,
  phone_number: phone,
  bridge_url: text,
  capabilities,
  mode: { type: 'string', enum: ['pooled', 'dedicated'] },
  tenant_id: nullableId,
  pool: text,
  agency_tenant_id: nullableId,
  status: { type: 'string', enum: ['online', 'offline'] },
  enabled: { type: 'boolean' },
  last_heartbeat_at: nullableDateTime,
  health: anyObject,
  max_per_minute: nullableCount,
  warmup: { type: 'boolean' },
  warmup_started_at: dateTime,
  created_at: dateTime,
  updated_at: dateTime,
});

export const deletedResponse = resource({ id, deleted: { type: 'boolean', const: true } });

export const agencyLinkResponse = resource({ client_tenant_id: id, agency_tenant_id: id, created_at: dateTime });

export const healthResponse = resource({ ok: { type: 'boolean' } });

export const readinessResponse = resource({
  ok: { type: 'boolean' },
  postgresql: { type: 'string', enum: ['up', 'down'] },
  redis: { type: 'string', enum: ['up', 'down'] },
});

export const deviceEventsAcceptedResponse = resource({ accepted: count });

/** The JSON body POSTed to a webhook endpoint (PRODUCT.md "Webhooks"). */
export const webhookEventPayload = {
  type: 'object',
  required: ['event', 'event_id', 'tenant_id'],
  properties: {
    event: { type: 'string', enum: [...EVENT_TYPES, 'webhook.test'] },
    event_id: { type: 'string', description: 'Also the `webhook-id` header: de-duplicate on it, retries resend the same event.' },
    tenant_id: id,
    sequence: { type: 'integer', minimum: 1, description: 'Message events: the message history sequence.' },
    message_id: text,
    from: nullablePhone,
    to: phone,
    channel: text,
    status: text,
    reason: text,
    body: { type: 'string', description: 'Inbound messages only.' },
    campaign_id: id,
    was_downgraded: { type: 'boolean', description: 'Outbound message events: the message went again over SMS after its accepted iMessage was reported undeliverable.' },
    line_id: { ...id, description: '`line.offline` / `line.online`: the line (one of yours, or of your pool).' },
    phone_number: { ...phone, description: '`line.*`: the line\'s number.' },
    mode: { type: 'string', enum: ['pooled', 'dedicated'], description: '`line.*`: whether the line is shared by your pool or yours alone.' },
    cap: {
      type: 'string',
      enum: ['new_contacts_per_day', 'new_contacts_per_month', 'messages_per_day'],
      description: '`usage.cap_approaching` (at 80 %) / `usage.cap_reached`: which cap; each is sent once per cap and period.',
    },
    used: { type: 'integer', minimum: 0, description: '`usage.*`: the count so far in the period.' },
    limit: { type: 'integer', minimum: 1, description: '`usage.*`: the cap.' },
    period_start: { type: 'string', description: '`usage.*`: the UTC day (daily caps) or the first day of the UTC month (monthly cap), `YYYY-MM-DD`.' },
  },
  additionalProperties: { description: '`<status>_at` (e.g. `delivered_at`) and event-specific fields.' },
} as const;
