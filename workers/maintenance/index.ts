import type { QueueHandlers } from '../runtime';
import { done } from '../runtime';
import type { WorkerDeps } from '../deps';
import { relayOutbox } from './relay';
import { enqueueUsageRollUps } from '../../shared/data/usage';
import { checkUsageAlerts, probeLines, sweepLines } from './alerts';
import { purgeOldBodies } from '../../shared/data/messages';
import { purgeOldMedia } from '../../shared/data/media';
import { expireIdempotencyKeys } from '../../shared/data/idempotency-keys';
import { expireSeenDeviceEvents } from '../../shared/data/device-events';

/** Message bodies are purged after this many days; metadata stays (PRODUCT.md §6). */
export const BODY_RETENTION_DAYS = 90;

export { sweepLines, probeLines, checkUsageAlerts };

/** Cross-tenant housekeeping, on the owner pool, each step idempotent; each outcome says how much it did. */
export function createMaintenanceHandlers(deps: WorkerDeps): QueueHandlers<'maintenance'> {
  const { owner } = deps.db;
  return {
    'relay-outbox': async () => done(`re-enqueued ${await relayOutbox(deps)} jobs`),
    'sweep-lines': async () => done(`${(await sweepLines(deps)).length} lines went offline`),
    'probe-lines': async () => {
      const { probed, offline, online } = await probeLines(deps);
      return done(`${probed} lines probed, ${offline.length} went offline, ${online.length} came back`);
    },
    'check-usage-alerts': async () => done(`${await checkUsageAlerts(deps)} usage alerts recorded`),
    'roll-up-usage': async () => done(`enqueued ${await enqueueUsageRollUps(deps)} roll-ups`),
    'expire-idempotency-keys': async () => {
      const keys = await expireIdempotencyKeys(owner);
      const seen = await expireSeenDeviceEvents(owner);
      return done(`expired ${keys} idempotency keys and ${seen} device event ids`);
    },
    'purge-bodies': async () => {
      const bodies = await purgeOldBodies(owner, BODY_RETENTION_DAYS);
      const attachments = await purgeOldMedia(owner, BODY_RETENTION_DAYS);
      return done(`purged ${bodies} message bodies and ${attachments} attachments`);
    },
  };
}
