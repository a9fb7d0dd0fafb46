import { withTenant } from '../../shared/db/tenant';
import { emitEventOnce } from '../../shared/events';
import { enqueueAll, OutboxJob } from '../../shared/outbox';
import { usageOfAlertSubscribers } from '../../shared/data/usage';
import { linesToProbe, markSilentLinesOffline, recordHealthProbe, PhoneLineRow } from '../../shared/data/phone-lines';
import { usageAlerts } from '../../shared/compliance/usage-alerts';
import { callBridge } from '../../shared/device/client';
import { decryptSecret } from '../../shared/crypto';
import type { WorkerDeps } from '../deps';

/** A bridge's health answer is awaited at most this long (less than the probe's 30 s period). */
const HEALTH_TIMEOUT_MS = 5000;
/** Bridges asked at the same time by one probe run. */
const PROBE_CONCURRENCY = 8;

/** Marks lines offline that have not sent a heartbeat within the window; each announces `line.offline`. */
export async function sweepLines(deps: WorkerDeps): Promise<string[]> {
  const { lineIds, jobs } = await markSilentLinesOffline(deps.db.owner, deps.config.device.offlineAfterSeconds);
  await enqueueAll(deps.queues, jobs);
  if (lineIds.length > 0) deps.log.warn({ lines: lineIds }, 'lines went offline (no heartbeat)');
  return lineIds;
}

async function isHealthy(deps: WorkerDeps, line: PhoneLineRow): Promise<boolean> {
  try {
    const target = { bridgeUrl: line.bridge_url, secret: decryptSecret(deps.config.encryptionKey, line.secret_encrypted) };
    const answer = await callBridge(target, 'GET', '/v1/health', null, Math.min(HEALTH_TIMEOUT_MS, deps.config.device.timeoutMs));
    return answer.status === 200 && answer.body?.ok === true;
  } catch {
    return false;
  }
}

/**
 * Asks every online line's bridge `GET /v1/health` (DEVICE-PROTOCOL.md), and
 * the lines a failed probe took offline. A bridge that answers anything but
 * `200 {"ok": true}` in time is offline at once, without waiting for its
 * heartbeats to stop, and comes back only once a probe passes and it
 * heartbeats. Each change is announced as `line.offline` / `line.online`.
 */
export async function probeLines(deps: WorkerDeps): Promise<{ probed: number; offline: string[]; online: string[] }> {
  const lines = await linesToProbe(deps.db.owner);
  const offline: string[] = [];
  const online: string[] = [];
  const jobs: OutboxJob[] = [];
  for (let start = 0; start < lines.length; start += PROBE_CONCURRENCY) {
    const batch = lines.slice(start, start + PROBE_CONCURRENCY);
    const verdicts = await Promise.all(batch.map((line) => isHealthy(deps, line)));
    for (const [index, line] of batch.entries()) {
      const { change, jobs: announced } = await recordHealthProbe(deps.db.owner, line.id, verdicts[index], deps.config.device.offlineAfterSeconds);
      if (change === 'offline') offline.push(line.id);
      if (change === 'online') online.push(line.id);
      jobs.push(...announced);
    }
  }
  await enqueueAll(deps.queues, jobs);
  if (offline.length > 0) deps.log.warn({ lines: offline }, 'lines went offline (health check failed)');
  if (online.length > 0) deps.log.info({ lines: online }, 'lines back online (health check passed)');
  return { probed: lines.length, offline, online };
}

/**
 * Records `usage.cap_approaching` (80 %) and `usage.cap_reached` for tenants
 * subscribed to them, each once per tenant, cap and period (a unique key on
 * the tenant's event log), in the tenant's own scope. Returns how many were recorded.
 */
export async function checkUsageAlerts(deps: WorkerDeps, at: Date = new Date()): Promise<number> {
  const tenants = await usageOfAlertSubscribers(deps.db.owner, at);
  let recorded = 0;
  for (const tenant of tenants) {
    const alerts = usageAlerts(tenant, at);
    if (alerts.length === 0) continue;
    const jobs = await withTenant(deps.db.app, tenant.id, async (t) => {
      const made: OutboxJob[] = [];
      for (const alert of alerts) {
        const job = await emitEventOnce(t, alert.type, { cap: alert.cap, used: alert.used, limit: alert.limit, period_start: alert.period_start }, alert.dedupeKey);
        if (job) made.push(job);
      }
      return made;
    });
    recorded += jobs.length;
    await enqueueAll(deps.queues, jobs);
  }
  return recorded;
}
