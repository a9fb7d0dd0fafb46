import type { JobName } from '../shared/queues';

export interface ScheduledTick {
  job: JobName<'maintenance'>;
  /** node-cron expression (six fields: seconds first). */
  cron: string;
  /** Ticks within the same slot share a job id, so a double tick or two schedulers do no harm. */
  slotSeconds: number;
}

export const SCHEDULE: ScheduledTick[] = [
  { job: 'relay-outbox', cron: '*/5 * * * * *', slotSeconds: 5 },
  { job: 'sweep-lines', cron: '*/15 * * * * *', slotSeconds: 15 },
  { job: 'probe-lines', cron: '*/30 * * * * *', slotSeconds: 30 },
  { job: 'check-usage-alerts', cron: '20 * * * * *', slotSeconds: 60 },
  { job: 'expire-idempotency-keys', cron: '0 7 * * * *', slotSeconds: 3600 },
  { job: 'purge-bodies', cron: '0 30 3 * * *', slotSeconds: 86400 },
  // Just after UTC midnight: usage records for the month to date, and the final ones of last month.
  { job: 'roll-up-usage', cron: '0 5 0 * * *', slotSeconds: 86400 },
];

export function tickJobId(tick: ScheduledTick, at: Date): string {
  const slot = Math.floor(at.getTime() / 1000 / tick.slotSeconds);
  return `${tick.job}__${slot}`;
}
