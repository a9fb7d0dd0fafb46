import type { QueueHandlers } from '../runtime';
import type { WorkerDeps } from '../deps';
import { relayOutbox } from './relay';
import { enqueueUsageRollUps } from '../../shared/data/usage';

/** Message bodies are purged after this many days; metadata stays (PRODUCT.md §6). */
export const BODY_RETENTION_DAYS = 90;

/** Marks lines offline that have not sent a heartbeat within the window. */
export async function sweepLines(deps: WorkerDeps): Promise<string[]> {
  const rows = await deps.db.owner('phone_lines')
    .where('status', 'online')
    .andWhere((scope) => void scope.whereNull('last_heartbeat_at').orWhere('last_heartbeat_at', '<', deps.db.owner.raw(`now() - make_interval(secs => ?)`, [deps.config.device.offlineAfterSeconds])))
    .update({ status: 'offline', updated_at: deps.db.owner.fn.now() })
    .returning('id');
  const ids = (rows as { id: string }[]).map((row) => row.id);
  if (ids.length > 0) deps.log.warn({ lines: ids }, 'lines went offline (no heartbeat)');
  return ids;
}

/** Cross-tenant housekeeping, on the owner pool, each step idempotent. */
export function createMaintenanceHandlers(deps: WorkerDeps): QueueHandlers<'maintenance'> {
  const { owner } = deps.db;
  return {
    'relay-outbox': async () => relayOutbox(deps),
    'sweep-lines': async () => (await sweepLines(deps)).length,
    'roll-up-usage': async () => enqueueUsageRollUps(deps),
    'expire-idempotency-keys': async () => {
      const keys = await owner('idempotency_keys').where('expires_at', '<', owner.fn.now()).delete();
      const seen = await owner('device_events_seen').where('received_at', '<', owner.raw("now() - interval '7 days'")).delete();
      return { keys, seen };
    },
    'purge-bodies': async () => {
      let purged = 0;
      for (;;) {
        const batch = await owner.raw(
          `UPDATE messages SET body = NULL, body_purged_at = now()
            WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM messages
                    WHERE body IS NOT NULL AND created_at < now() - make_interval(days => ?) LIMIT 5000)`,
          [BODY_RETENTION_DAYS],
        );
        purged += batch.rowCount ?? 0;
        if ((batch.rowCount ?? 0) < 5000) break;
      }
      return purged;
    },
  };
}
