import type { Knex } from 'knex';

/**
 * `device_events_seen`: the event ids each line has reported, so a resent
 * report is applied once (shared/device/events.ts records them). A bridge
 * resends within minutes; a week is far beyond any resend.
 */
export const SEEN_DEVICE_EVENT_RETENTION_DAYS = 7;

/** Forgets event ids older than the retention, across lines (the owner pool's retention tick); returns how many. */
export async function expireSeenDeviceEvents(owner: Knex, days = SEEN_DEVICE_EVENT_RETENTION_DAYS): Promise<number> {
  return owner('device_events_seen').where('received_at', '<', owner.raw('now() - make_interval(days => ?)', [days])).delete();
}

/** Marks a device event as applied; false when this line already reported it. */
export async function markDeviceEventSeen(trx: Knex.Transaction, lineId: string, eventId: string): Promise<boolean> {
  const inserted = await trx.raw('INSERT INTO device_events_seen (line_id, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING event_id', [lineId, eventId]);
  return inserted.rows.length > 0;
}

/** One status report as senderz_apply_status_reports takes it. */
export interface StatusReportInput {
  id: string;
  type: string;
  dispatch_id: string;
  reason: string | null;
  occurred_at: string;
}

/** What senderz_apply_status_reports says about each report. */
export interface StatusReportOutcome {
  event_id: string;
  outcome: 'stale_line' | 'applied' | 'unchanged' | 'repeat' | 'settled_dispatch' | 'unknown_dispatch' | 'foreign_dispatch' | 'downgraded';
  tenant_id: string | null;
  message_id: string | null;
  seq: number;
  announced: boolean;
  dispatch_line_id: string | null;
  /** The SMS dispatch's priority, on a `downgraded` row. */
  priority: number | null;
}

/**
 * Applies a run of status reports from one line in one statement: each is
 * de-duplicated by event id, must name a dispatch of this line, and moves its
 * message forward only (the function sets each tenant for its own rows).
 */
export async function applyStatusReportRows(app: Knex, lineId: string, reports: StatusReportInput[]): Promise<StatusReportOutcome[]> {
  const result = await app.raw('SELECT * FROM senderz_apply_status_reports(?, ?::jsonb)', [lineId, JSON.stringify(reports)]);
  return result.rows as StatusReportOutcome[];
}

/**
 * As applyStatusReportRows, on the condition that the line is still enabled
 * and at `lineVersion` (its xmin when read; see findPhoneLineVersion):
 * otherwise nothing is applied and null is returned, and the caller reads
 * the line again.
 */
export async function applyLineReportRows(app: Knex, lineId: string, lineVersion: string, reports: StatusReportInput[]): Promise<StatusReportOutcome[] | null> {
  const result = await app.raw('SELECT * FROM senderz_apply_line_reports(?, ?, ?::jsonb)', [lineId, lineVersion, JSON.stringify(reports)]);
  const rows = result.rows as StatusReportOutcome[];
  return rows[0]?.outcome === 'stale_line' ? null : rows;
}
