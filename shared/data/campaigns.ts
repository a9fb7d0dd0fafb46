import type { TenantTx } from '../db/tenant';
import { findOwned } from '../db/tenant';
import { ConflictError, ValidationError } from '../errors';
import { newId } from '../ids';
import { addToOutbox, outboxJob, OutboxJob } from '../outbox';
import { isE164 } from '../validation';
import type { MessageType, RequestedChannel } from './messages';
import type { CampaignStatus } from '../schemas/campaigns';
import { MAX_CAMPAIGN_RECIPIENTS } from '../schemas/campaigns';
import { unknownIdsError } from './contacts';

export interface CampaignRow {
  tenant_id: string;
  id: string;
  name: string;
  /** The text rendered for each recipient: the body given, or the template's body when created. */
  body: string;
  template_id: string | null;
  data: Record<string, string | number | boolean>;
  group_id: string | null;
  channel: RequestedChannel;
  message_type: MessageType;
  status: CampaignStatus;
  sandbox: boolean;
  total: number;
  fanned_out: number;
  scheduled_at: Date | null;
  launched_at: Date | null;
  completed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface CampaignCounts {
  total: number;
  queued: number;
  sent: number;
  delivered: number;
  failed: number;
  blocked: number;
}

export function presentCampaign(row: CampaignRow, counts: CampaignCounts) {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    body: row.body,
    template_id: row.template_id,
    group_id: row.group_id,
    data: row.data,
    channel: row.channel,
    message_type: row.message_type,
    sandbox: row.sandbox,
    total: row.total,
    /** Recipients whose message has been created so far (fan-out progress). */
    fanned_out: row.fanned_out,
    counts,
    scheduled_at: row.scheduled_at,
    launched_at: row.launched_at,
    completed_at: row.completed_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/**
 * Live counts from the campaign's messages: `sending` is still queued from the
 * client's point of view, and a read message was delivered.
 */
export async function campaignCounts(t: TenantTx, campaigns: Pick<CampaignRow, 'id' | 'total'>[]): Promise<Map<string, CampaignCounts>> {
  const result = new Map<string, CampaignCounts>(
    campaigns.map((campaign) => [campaign.id, { total: campaign.total, queued: 0, sent: 0, delivered: 0, failed: 0, blocked: 0 }]),
  );
  if (campaigns.length === 0) return result;
  const rows = (await t
    .from('messages')
    .whereRaw('messages.campaign_id = ANY(?::text[])', [campaigns.map((campaign) => campaign.id)])
    .groupBy('campaign_id', 'status')
    .select('campaign_id', 'status', t.trx.raw('count(*)::int AS count'))) as { campaign_id: string; status: string; count: number }[];
  const bucket: Record<string, keyof CampaignCounts> = {
    queued: 'queued',
    sending: 'queued',
    sent: 'sent',
    delivered: 'delivered',
    read: 'delivered',
    failed: 'failed',
    blocked: 'blocked',
  };
  for (const row of rows) {
    const counts = result.get(row.campaign_id);
    const key = bucket[row.status];
    if (counts && key) counts[key] += row.count;
  }
  return result;
}

export async function getCampaign(t: TenantTx, id: string, options: { forUpdate?: boolean } = {}): Promise<CampaignRow> {
  return findOwned<CampaignRow>(t, 'campaigns', id, 'campaign', options);
}

export async function listCampaigns(t: TenantTx, filters: { status?: CampaignStatus }, limit: number, cursor: string | null): Promise<CampaignRow[]> {
  const query = t.from('campaigns').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  if (filters.status) void query.where('status', filters.status);
  return (await query) as CampaignRow[];
}

// Jobs. A campaign's fan-out is a chain of chunk jobs, at most one pending at
// a time: each chunk job has its own id (so its BullMQ job id is never one
// that already completed), and a job whose outbox row is gone was superseded
// (resumed, cancelled, or a duplicate delivery) and does nothing.

export function launchJob(tenantId: string, campaignId: string, delayMs = 0): OutboxJob {
  return outboxJob('campaigns', 'launch-campaign', campaignId, { tenantId, campaignId }, { delayMs });
}

export function fanOutChunkJob(tenantId: string, campaignId: string, delayMs = 0): OutboxJob {
  const chunkId = newId();
  return outboxJob('campaigns', 'fan-out-chunk', chunkId, { tenantId, campaignId, chunkId }, { delayMs });
}

/** How soon after launch the first completion check runs. */
export const FIRST_COMPLETION_CHECK_MS = 1000;

export function completionCheckJob(tenantId: string, campaignId: string, delayMs = FIRST_COMPLETION_CHECK_MS): OutboxJob {
  return outboxJob('campaigns', 'check-completion', campaignId, { tenantId, campaignId }, { delayMs });
}

export function cancelMessagesJob(tenantId: string, campaignId: string): OutboxJob {
  return outboxJob('campaigns', 'cancel-campaign', campaignId, { tenantId, campaignId });
}

/** Deletes the pending fan-out chunk of a campaign (its job, if it runs, finds no row and stops). */
export async function dropPendingChunks(t: TenantTx, campaignId: string): Promise<number> {
  return t.from('outbox').where({ queue: 'campaigns', job_name: 'fan-out-chunk' }).whereRaw("outbox.payload->>'campaignId' = ?", [campaignId]).delete();
}

// Running a campaign (the campaigns pool).

export interface PendingRecipient {
  position: number;
  phone_number: string;
  contact_id: string | null;
}

/** The next recipients, in list order, that have no message yet. */
export async function recipientsWithoutMessage(t: TenantTx, campaignId: string, limit: number): Promise<PendingRecipient[]> {
  return (await t
    .from('campaign_recipients')
    .where({ campaign_id: campaignId })
    .whereNull('message_id')
    .orderBy('position')
    .limit(limit)
    .select('position', 'phone_number', 'contact_id')) as PendingRecipient[];
}

/**
 * Records each recipient's message, in the transaction that created the
 * messages: a re-run skips every recipient that has one.
 */
export async function linkRecipientMessages(t: TenantTx, campaignId: string, links: { phoneNumber: string; messageId: string }[]): Promise<void> {
  await t.trx.raw(
    `UPDATE campaign_recipients AS r SET message_id = m.message_id
       FROM unnest(?::text[], ?::text[]) AS m(phone_number, message_id)
      WHERE r.tenant_id = ? AND r.campaign_id = ? AND r.phone_number = m.phone_number AND r.message_id IS NULL`,
    [links.map((link) => link.phoneNumber), links.map((link) => link.messageId), t.tenantId, campaignId],
  );
}

/** How many recipients have a message so far. */
export async function recordFanOutProgress(t: TenantTx, campaignId: string, fannedOut: number): Promise<void> {
  await t.from('campaigns').where({ id: campaignId }).update({ fanned_out: fannedOut, updated_at: t.trx.fn.now() });
}

/**
 * Marks a due campaign launched: `sending` starts its fan-out; a campaign
 * paused before it was due keeps its status and starts when resumed.
 */
export async function markCampaignLaunched(t: TenantTx, campaignId: string, options: { sending: boolean }): Promise<void> {
  await t
    .from('campaigns')
    .where({ id: campaignId })
    .update({ ...(options.sending ? { status: 'sending' } : {}), launched_at: t.trx.fn.now(), updated_at: t.trx.fn.now() });
}

/**
 * sending/paused → completed, once (completed_at IS NULL): the updated row,
 * or undefined when another run completed it or it was cancelled meanwhile.
 */
export async function markCampaignCompleted(t: TenantTx, campaignId: string): Promise<CampaignRow | undefined> {
  const [completed] = (await t
    .from('campaigns')
    .where({ id: campaignId })
    .whereNull('completed_at')
    .whereIn('status', ['sending', 'paused'])
    .update({ status: 'completed', completed_at: t.trx.fn.now(), updated_at: t.trx.fn.now() })
    .returning('*')) as CampaignRow[];
  return completed;
}

// Creating a campaign.

export interface ResolvedRecipients {
  phones: string[];
  contactIds: (string | null)[];
}

const CONTACT_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
/** Items checked between yields to the event loop: an E.164 check costs ~50 µs, 10,000 of them would hold the API for half a second. */
const CHECK_SLICE = 500;

export interface CheckedRecipients {
  items: string[];
  contactIds: string[];
  numbers: string[];
}

/**
 * Sorts `recipients` into contact ids and E.164 numbers, without touching the
 * database (run it before opening a transaction). Anything else is a 400
 * naming each bad item.
 */
export async function checkRecipients(recipients: string[]): Promise<CheckedRecipients> {
  const invalid: { path: string; message: string }[] = [];
  const contactIds = new Set<string>();
  const numbers = new Set<string>();
  for (let start = 0; start < recipients.length; start += CHECK_SLICE) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    recipients.slice(start, start + CHECK_SLICE).forEach((item, offset) => {
      if (CONTACT_ID.test(item)) contactIds.add(item);
      else if (numbers.has(item) || isE164(item)) numbers.add(item);
      else invalid.push({ path: `recipients.${start + offset}`, message: 'must be a contact id or a phone number in E.164 format, e.g. +15551234567' });
    });
  }
  if (invalid.length > 0) {
    throw new ValidationError(`Invalid request body: ${invalid[0].path} ${invalid[0].message}.`, invalid.slice(0, 100));
  }
  return { items: recipients, contactIds: [...contactIds], numbers: [...numbers] };
}

/**
 * Turns checked recipients (contact ids and E.164 numbers, in any mix) into
 * one ordered list of distinct numbers. A number that is one of the tenant's
 * contacts is linked to it, so its variables render. A contact id that is not
 * the tenant's (unknown, or another tenant's) is a 400 naming it.
 */
export async function resolveRecipients(t: TenantTx, checked: CheckedRecipients): Promise<ResolvedRecipients> {
  const recipients = checked.items;
  const byId = new Map<string, string>();
  if (checked.contactIds.length > 0) {
    const rows = (await t.from('contacts').whereRaw('contacts.id = ANY(?::text[])', [checked.contactIds]).select('id', 'phone_number')) as { id: string; phone_number: string }[];
    for (const row of rows) byId.set(row.id, row.phone_number);
    const unknown = checked.contactIds.filter((id) => !byId.has(id));
    if (unknown.length > 0) throw unknownIdsError('recipients', recipients, unknown, 'contact');
  }
  const byPhone = new Map<string, string>();
  if (checked.numbers.length > 0) {
    const rows = (await t.from('contacts').whereRaw('contacts.phone_number = ANY(?::text[])', [checked.numbers]).select('id', 'phone_number')) as { id: string; phone_number: string }[];
    for (const row of rows) byPhone.set(row.phone_number, row.id);
  }

  const seen = new Set<string>();
  const resolved: ResolvedRecipients = { phones: [], contactIds: [] };
  for (const item of recipients) {
    const contactId = byId.has(item) ? item : null;
    const phone = contactId ? (byId.get(item) as string) : item;
    if (seen.has(phone)) continue;
    seen.add(phone);
    resolved.phones.push(phone);
    resolved.contactIds.push(contactId ?? byPhone.get(phone) ?? null);
  }
  return resolved;
}

/** A campaign to a group: the group must be one of the tenant's (another tenant's is a 400 naming it, like an unknown id). */
export async function groupRecipients(t: TenantTx, groupId: string): Promise<{ groupId: string }> {
  const group = await t.from('contact_groups').where({ id: groupId }).first('id');
  if (!group) throw new ValidationError(`Invalid request body: group_id names no group of this account (${groupId}).`, [{ path: 'group_id', message: `names no group of this account (${groupId})` }]);
  return { groupId };
}

export interface NewCampaign {
  name: string;
  body: string;
  templateId: string | null;
  data: Record<string, string | number | boolean>;
  recipients: ResolvedRecipients | { groupId: string };
  channel: RequestedChannel;
  messageType: MessageType;
  sandbox: boolean;
  scheduledAt: Date | null;
}

/**
 * Records a campaign and its recipients (resolved and checked by the caller;
 * one INSERT, at most 10,000 rows) and
 * the launch job, delayed to `scheduledAt` when given. No message is created
 * here: the fan-out runs in chunk jobs.
 */
export async function createCampaign(t: TenantTx, input: NewCampaign): Promise<{ row: CampaignRow; jobs: OutboxJob[] }> {
  const id = newId();
  const delayMs = input.scheduledAt ? Math.max(0, input.scheduledAt.getTime() - Date.now()) : 0;
  const groupId = 'groupId' in input.recipients ? input.recipients.groupId : null;
  await t.insert('campaigns', {
    id,
    name: input.name,
    body: input.body,
    template_id: input.templateId,
    data: JSON.stringify(input.data),
    group_id: groupId,
    channel: input.channel,
    message_type: input.messageType,
    status: delayMs > 0 ? 'scheduled' : 'queued',
    sandbox: input.sandbox,
    scheduled_at: input.scheduledAt,
  });

  let total: number;
  if (groupId) {
    const inserted = await t.trx.raw(
      `INSERT INTO campaign_recipients (tenant_id, campaign_id, position, phone_number, contact_id)
       SELECT c.tenant_id, ?, row_number() OVER (ORDER BY c.id), c.phone_number, c.id
         FROM group_members m JOIN contacts c ON c.tenant_id = m.tenant_id AND c.id = m.contact_id
        WHERE m.tenant_id = ? AND m.group_id = ?`,
      [id, t.tenantId, groupId],
    );
    total = inserted.rowCount ?? 0;
    if (total === 0) throw new ValidationError('Invalid request body: the group has no members.', [{ path: 'group_id', message: 'names a group with no members' }]);
    if (total > MAX_CAMPAIGN_RECIPIENTS) {
      throw new ValidationError(`Invalid request body: the group has more than ${MAX_CAMPAIGN_RECIPIENTS} members.`, [{ path: 'group_id', message: `names a group of more than ${MAX_CAMPAIGN_RECIPIENTS} members` }]);
    }
  } else {
    const { phones, contactIds } = input.recipients as ResolvedRecipients;
    await t.trx.raw(
      `INSERT INTO campaign_recipients (tenant_id, campaign_id, position, phone_number, contact_id)
       SELECT ?, ?, r.position, r.phone_number, r.contact_id
         FROM unnest(?::int[], ?::text[], ?::text[]) AS r(position, phone_number, contact_id)`,
      // knex's types have no nullable arrays; pg sends null elements as NULL.
      [t.tenantId, id, phones.map((_phone, index) => index + 1), phones, contactIds as string[]],
    );
    total = phones.length;
  }
  const [row] = (await t.from('campaigns').where({ id }).update({ total }).returning('*')) as CampaignRow[];
  const jobs = [launchJob(t.tenantId, id, delayMs)];
  await addToOutbox(t, jobs);
  return { row, jobs };
}

// Pause, resume, cancel. Repeating one is harmless (200, nothing changes); a
// change a finished campaign cannot make is a 409.

function refuse(row: CampaignRow, action: string): never {
  throw new ConflictError(`A ${row.status} campaign cannot be ${action}.`);
}

/**
 * Pausing stops the fan-out: no new message is created until resumed. Messages
 * already created (at most one chunk plus the in-flight window, see
 * workers/campaigns/fan-out.ts) are not held back and still go out.
 */
export async function pauseCampaign(t: TenantTx, id: string): Promise<CampaignRow> {
  const row = await getCampaign(t, id, { forUpdate: true });
  if (row.status === 'paused') return row;
  if (!['queued', 'scheduled', 'sending'].includes(row.status)) refuse(row, 'paused');
  const [updated] = (await t.from('campaigns').where({ id }).update({ status: 'paused', updated_at: t.trx.fn.now() }).returning('*')) as CampaignRow[];
  return updated;
}

export async function resumeCampaign(t: TenantTx, id: string): Promise<{ row: CampaignRow; jobs: OutboxJob[] }> {
  const row = await getCampaign(t, id, { forUpdate: true });
  if (['queued', 'scheduled', 'sending'].includes(row.status)) return { row, jobs: [] };
  if (row.status !== 'paused') refuse(row, 'resumed');
  const jobs: OutboxJob[] = [];
  let status: CampaignStatus;
  if (!row.launched_at) {
    // Paused before its launch job ran: that job is still pending and launches it.
    status = row.scheduled_at && row.scheduled_at.getTime() > Date.now() ? 'scheduled' : 'queued';
  } else {
    status = 'sending';
    await dropPendingChunks(t, id);
    if (row.fanned_out < row.total) jobs.push(fanOutChunkJob(t.tenantId, id));
    jobs.push(completionCheckJob(t.tenantId, id));
  }
  const [updated] = (await t.from('campaigns').where({ id }).update({ status, updated_at: t.trx.fn.now() }).returning('*')) as CampaignRow[];
  await addToOutbox(t, jobs);
  return { row: updated, jobs };
}

/**
 * Cancelling stops the fan-out at once and hands the campaign's still-queued
 * messages to a job that fails them with reason `cancelled`; messages already
 * handed to a line are not recalled.
 */
export async function cancelCampaign(t: TenantTx, id: string): Promise<{ row: CampaignRow; jobs: OutboxJob[] }> {
  const row = await getCampaign(t, id, { forUpdate: true });
  if (row.status === 'cancelled') return { row, jobs: [] };
  if (row.status === 'completed') refuse(row, 'cancelled');
  await dropPendingChunks(t, id);
  await t.from('outbox').where({ queue: 'campaigns', job_name: 'launch-campaign', ref_id: id }).delete();
  const jobs = [cancelMessagesJob(t.tenantId, id)];
  const [updated] = (await t.from('campaigns').where({ id }).update({ status: 'cancelled', updated_at: t.trx.fn.now() }).returning('*')) as CampaignRow[];
  await addToOutbox(t, jobs);
  return { row: updated, jobs };
}
