/**
 * UTC calendar periods. Caps, usage and warm-up count per UTC day and UTC
 * month, whatever the tenant's or the recipient's time zone, so every process
 * agrees on where a period ends.
 */
const DAY_MS = 24 * 3600 * 1000;

/** 'YYYY-MM-DD' of the UTC day containing `at`. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export function startOfUtcDay(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

/** The next UTC midnight strictly after `at`. */
export function nextUtcMidnight(at: Date): Date {
  return new Date(startOfUtcDay(at).getTime() + DAY_MS);
}

export function startOfUtcMonth(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** The first instant of the next UTC month. */
export function nextUtcMonth(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
}

/** 'YYYY-MM-01' of the UTC month containing `at`. */
export function utcMonth(at: Date): string {
  return utcDay(startOfUtcMonth(at));
}

/** Whole UTC days from the day of `from` to the day of `to` (0 on the same day). */
export function utcDaysBetween(from: Date, to: Date): number {
  return Math.round((startOfUtcDay(to).getTime() - startOfUtcDay(from).getTime()) / DAY_MS);
}
