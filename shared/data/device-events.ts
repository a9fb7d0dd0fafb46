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
