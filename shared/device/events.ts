import type { Knex } from 'knex';
import { withTenant, securityEvent, TenantTx } from '../db/tenant';
import { recordHeartbeat, PhoneLineRow } from '../data/phone-lines';
import { applyLineReportRows, applyStatusReportRows, markDeviceEventSeen, StatusReportOutcome } from '../data/device-events';
import { insertInboundMessage } from '../data/messages';
import { insertInboundMedia } from '../data/media';
import { conversationOwner, touchInboundConversation } from '../data/conversations';
import type { DeviceEvent } from '../schemas/device';
import { messageEventJob, MessageStatus, hasSubscriber } from '../messages/status';
import { addToOutbox, outboxJob, OutboxJob } from '../outbox';
import { newId } from '../ids';
import type { Logger } from '../logger';
import { messageStatusTotal } from '../metrics';

const STATUS_REPORTS: ReadonlySet<string> = new Set(['sent', 'delivered', 'read', 'failed']);

/**
 * The SMS dispatch that carries an auto message again after its accepted
 * iMessage failed (`not_imessage` / `undeliverable`). Derived from the failed
 * dispatch's id, so a repeated report or a replay names the same dispatch and
 * the bridge, which de-duplicates by dispatch id, never sends the SMS twice.
 */
export function smsFallbackDispatchId(dispatchId: string): string {
  return `${dispatchId}_sms`;
}

/**
 * Applies a run of status reports (sent, delivered, read, failed) from one
 * line in one statement (senderz_apply_status_reports): each is
 * de-duplicated by event id, must name a dispatch of this line, and moves its
 * message forward only; an accepted iMessage of an `auto` message that fails
 * as undeliverable goes again over SMS instead. Returns the jobs to enqueue.
 */
async function applyStatusReports(app: Knex, line: PhoneLineRow, events: DeviceEvent[], log: Logger): Promise<OutboxJob[]> {
  if (events.length === 0) return [];
  return reportJobs(line, events, await applyStatusReportRows(app, line.id, reportInputs(events)), log);
}

function reportInputs(events: DeviceEvent[]) {
  return events.map((event) => ({ id: event.id, type: event.type, dispatch_id: event.dispatch_id ?? '', reason: event.reason ?? null, occurred_at: event.occurred_at }));
}

/** Whether every event of a batch is a status report (sent, delivered, read, failed). */
export function onlyStatusReports(events: DeviceEvent[]): boolean {
  return events.every((event) => STATUS_REPORTS.has(event.type));
}

/**
 * Applies a batch of status reports only (see onlyStatusReports) in one
 * statement, on the condition that the line is still enabled and at
 * `version` (the row the caller checked the signature against); null when it
 * is not, and nothing was applied.
 */
export async function applyStatusReportsAt(app: Knex, line: PhoneLineRow, version: string, events: DeviceEvent[], log: Logger): Promise<OutboxJob[] | null> {
  if (!onlyStatusReports(events)) throw new Error('applyStatusReportsAt takes status reports only');
  if (events.length === 0) return [];
  const rows = await applyLineReportRows(app, line.id, version, reportInputs(events));
  return rows && reportJobs(line, events, rows, log);
}

function reportJobs(line: PhoneLineRow, events: DeviceEvent[], rows: StatusReportOutcome[], log: Logger): OutboxJob[] {
  const jobs: OutboxJob[] = [];
  for (const row of rows) {
    if (row.outcome === 'applied') messageStatusTotal.inc({ status: events.find((candidate) => candidate.id === row.event_id)?.type ?? 'unknown' });
    if (row.outcome === 'unknown_dispatch') log.warn({ lineId: line.id, eventId: row.event_id }, 'device reported an unknown dispatch; ignored');
    if (row.outcome === 'foreign_dispatch') {
      securityEvent('device_reported_foreign_dispatch', { lineId: line.id, dispatchLineId: row.dispatch_line_id, tenantId: row.tenant_id, eventId: row.event_id });
    }
    if (row.outcome === 'downgraded' && row.tenant_id && row.message_id) {
      const event = events.find((candidate) => candidate.id === row.event_id);
      if (event?.dispatch_id) {
        const dispatchId = smsFallbackDispatchId(event.dispatch_id);
        log.info({ lineId: line.id, tenantId: row.tenant_id, messageId: row.message_id, dispatchId }, 'iMessage undeliverable after acceptance; falling back to SMS');
        jobs.push(outboxJob('dispatch', 'dispatch-message', dispatchId, { tenantId: row.tenant_id, messageId: row.message_id, dispatchId }, { priority: row.priority ?? 2 }));
      }
      continue;
    }
    if (row.announced && row.tenant_id && row.message_id) {
      const event = events.find((candidate) => candidate.id === row.event_id);
      const announce = event && messageEventJob(row.tenant_id, row.message_id, row.seq, event.type as MessageStatus);
      if (announce) jobs.push(announce);
    }
  }
  return jobs;
}

/** An attachment a bridge announces on a `received` event. */
export type InboundMedia = NonNullable<DeviceEvent['media']>[number];

/**
 * Records an inbound message for the tenant that owns the conversation, its
 * attachments (pending) and its jobs: processing, and, with attachments, the
 * `fetch-media` job that downloads them. Nothing is downloaded here.
 */
export async function recordInbound(
  t: TenantTx,
  line: PhoneLineRow,
  event: { from: string; body: string; channel: string; occurredAt: Date; media?: InboundMedia[] },
): Promise<OutboxJob[]> {
  const id = newId();
  await insertInboundMessage(t, { id, from: event.from, to: line.phone_number, body: event.body, channel: event.channel, lineId: line.id, deviceOccurredAt: event.occurredAt });
  await insertInboundMedia(t, id, event.media ?? []);
  await touchInboundConversation(t, line.id, event.from);
  // Keywords (STOP/START/HELP) run first, in the inbound job; the webhook fires either way.
  const jobs = [outboxJob('sending', 'process-inbound', id, { tenantId: t.tenantId, messageId: id }, { priority: 1 })];
  if (event.media?.length) jobs.push(outboxJob('sending', 'fetch-media', id, { tenantId: t.tenantId, messageId: id }, { priority: 2 }));
  const announce = messageEventJob(t.tenantId, id, 1, 'received');
  if (announce && (await hasSubscriber(t, 'message.received'))) jobs.push(announce);
  await addToOutbox(t, jobs);
  return jobs;
}

async function applyReceived(app: Knex, line: PhoneLineRow, event: DeviceEvent, log: Logger): Promise<OutboxJob[]> {
  let tenantId = line.mode === 'dedicated' ? line.tenant_id : null;
  if (!tenantId) tenantId = await conversationOwner(app, line.id, event.from ?? '');
  if (!tenantId) {
    log.warn({ lineId: line.id, eventId: event.id }, 'inbound message from a number no tenant has messaged on this pooled line; ignored');
    return [];
  }
  if (event.to !== line.phone_number) log.warn({ lineId: line.id, eventId: event.id }, 'inbound "to" is not this line\'s number; recorded on the line');
  return withTenant(app, tenantId, async (t) => {
    if (!(await markDeviceEventSeen(t.trx, line.id, event.id))) return [];
    // PostgreSQL text cannot hold NUL; a device may still send one.
    const body = (event.body ?? '').split(String.fromCharCode(0)).join('');
    return recordInbound(t, line, { from: event.from!, body, channel: event.channel!, occurredAt: new Date(event.occurred_at), media: event.media });
  });
}

function applyHeartbeat(app: Knex, line: PhoneLineRow, event: DeviceEvent): Promise<OutboxJob[]> {
  const health: Record<string, unknown> = {};
  if (typeof event.battery === 'number') health.battery = event.battery;
  if (typeof event.signal === 'number') health.signal = event.signal;
  return recordHeartbeat(app, line.id, event.occurred_at, health);
}

/**
 * Applies a batch of device events in order; returns the jobs to enqueue.
 * Consecutive status reports go to PostgreSQL together. Repeats are ignored.
 */
export async function applyDeviceEvents(app: Knex, line: PhoneLineRow, events: DeviceEvent[], log: Logger): Promise<OutboxJob[]> {
  const jobs: OutboxJob[] = [];
  let reports: DeviceEvent[] = [];
  for (const event of events) {
    if (STATUS_REPORTS.has(event.type)) {
      reports.push(event);
      continue;
    }
    jobs.push(...(await applyStatusReports(app, line, reports, log)));
    reports = [];
    if (event.type === 'heartbeat') jobs.push(...(await applyHeartbeat(app, line, event)));
    else if (event.type === 'received') jobs.push(...(await applyReceived(app, line, event, log)));
  }
  jobs.push(...(await applyStatusReports(app, line, reports, log)));
  return jobs;
}
