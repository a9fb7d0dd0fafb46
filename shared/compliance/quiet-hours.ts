import { localHour, recipientZones } from './time-zones';

/** Marketing may go out from 08:00 (inclusive) to 20:00 (exclusive), recipient's local time. */
export const QUIET_HOURS = { startHour: 20, endHour: 8 } as const;

export function isQuietHour(hour: number): boolean {
  return hour >= QUIET_HOURS.startHour || hour < QUIET_HOURS.endHour;
}

export interface QuietHoursAnswer {
  quiet: boolean;
  /** The zones considered; empty when the number's region is unknown. */
  zones: readonly string[];
  /** The zones in which it is quiet now. */
  quietIn: string[];
}

/**
 * Whether `at` falls in quiet hours for this recipient. When the number may
 * be in several zones, it is quiet if it is quiet in ANY of them (the
 * recipient could be in the zone where it is already night). A number whose
 * region cannot be derived is not held: there is no local time to apply.
 */
export function quietHoursFor(phoneNumber: string, at: Date): QuietHoursAnswer {
  const found = recipientZones(phoneNumber);
  if (!found) return { quiet: false, zones: [], quietIn: [] };
  const quietIn = found.zones.filter((zone) => isQuietHour(localHour(zone, at)));
  return { quiet: quietIn.length > 0, zones: found.zones, quietIn };
}
