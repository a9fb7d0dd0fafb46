import type { Knex } from 'knex';
import { newId } from '../ids';
import { encryptSecret } from '../crypto';
import { NotFoundError, ValidationError } from '../errors';
import { outboxJob, OutboxJob } from '../outbox';
import type { Capabilities, CreatePhoneLineBody, UpdatePhoneLineBody } from '../schemas/admin';

export interface PhoneLineRow {
  id: string;
  phone_number: string;
  bridge_url: string;
  secret_encrypted: string;
  capabilities: Capabilities;
  mode: 'pooled' | 'dedicated';
  tenant_id: string | null;
  pool: string;
  agency_tenant_id: string | null;
  enabled: boolean;
  status: 'online' | 'offline';
  last_heartbeat_at: Date | null;
  /** Set while the bridge's GET /v1/health fails: the line stays offline until a probe passes. */
  health_failed_at: Date | null;
  health: Record<string, unknown>;
  max_per_minute: number | null;
  warmup: boolean;
  warmup_started_at: Date;
  created_at: Date;
  updated_at: Date;
}

/** Who is asking for lines: a tenant and the pool it shares. */
export interface RoutingTenant {
  id: string;
  pool: string;
}

/**
 * Lines a tenant may send from: its dedicated lines, the pooled lines of its
 * pool, and pooled lines its agency handed to it. Phone lines are operator
 * records, readable (not writable) by the runtime role.
 */
function usableLinesQuery(db: Knex | Knex.Transaction, tenant: RoutingTenant): Knex.QueryBuilder {
  return db('phone_lines')
    .where('enabled', true)
    .andWhere((scope) => {
      void scope
        .where((dedicated) => void dedicated.where('mode', 'dedicated').andWhere('tenant_id', tenant.id))
        .orWhere((pooled) => void pooled.where('mode', 'pooled').andWhere('pool', tenant.pool));
    });
}

/** Every enabled line the tenant may send from, in id order. */
export async function usableLines(db: Knex | Knex.Transaction, tenant: RoutingTenant): Promise<PhoneLineRow[]> {
  return (await usableLinesQuery(db, tenant).orderBy('id')) as PhoneLineRow[];
}

/** Whether the tenant has any enabled line at all (online or not). */
export async function hasUsableLine(db: Knex | Knex.Transaction, tenant: RoutingTenant): Promise<boolean> {
  return Boolean(await usableLinesQuery(db, tenant).first('id'));
}

/** An online line of the tenant's that can answer iMessage capability checks, if any. */
export async function capabilityCheckLine(db: Knex | Knex.Transaction, tenant: RoutingTenant): Promise<PhoneLineRow | null> {
  const row = (await usableLinesQuery(db, tenant).where('status', 'online').whereRaw("(capabilities->>'imessage')::boolean").orderBy('id').first()) as PhoneLineRow | undefined;
  return row ?? null;
}

/** A line by id, or null: for a bridge naming itself, where a miss is an authentication failure, not a 404. */
export async function findPhoneLine(db: Knex, id: string): Promise<PhoneLineRow | null> {
  return ((await db('phone_lines').where({ id }).first()) as PhoneLineRow | undefined) ?? null;
}

/**
 * A line with its row version (xmin, which every update of the row changes),
 * for callers that keep the row and later act on the condition that it has
 * not changed (senderz_apply_line_reports).
 */
export async function findPhoneLineVersion(db: Knex, id: string): Promise<{ line: PhoneLineRow; version: string } | null> {
  const result = await db.raw('SELECT l.*, l.xmin::text AS row_version FROM phone_lines l WHERE l.id = ?', [id]);
  const row = result.rows[0] as (PhoneLineRow & { row_version: string }) | undefined;
  if (!row) return null;
  const { row_version: version, ...line } = row;
  return { line, version };
}

/** The operator's view of a line. The secret never leaves the platform. */
export function presentPhoneLine(row: PhoneLineRow) {
  return {
    id: row.id,
    phone_number: row.phone_number,
    bridge_url: row.bridge_url,
    capabilities: row.capabilities,
    mode: row.mode,
    tenant_id: row.tenant_id,
    pool: row.pool,
    agency_tenant_id: row.agency_tenant_id,
    status: row.status,
    enabled: row.enabled,
    last_heartbeat_at: row.last_heartbeat_at,
    health: row.health,
    max_per_minute: row.max_per_minute,
    warmup: row.warmup,
    warmup_started_at: row.warmup_started_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

async function assertTenantExists(owner: Knex, tenantId: string, field: string): Promise<void> {
  const found = await owner('tenants').where({ id: tenantId }).first('id');
  if (!found) throw new ValidationError(`Invalid request body: ${field} names no tenant.`, [{ path: field, message: 'names no tenant' }]);
}

function checkAssignment(mode: string, tenantId: string | null | undefined): void {
  if (mode === 'dedicated' && !tenantId) {
    throw new ValidationError('Invalid request body: tenant_id is required for a dedicated line.', [
      { path: 'tenant_id', message: 'is required when mode is dedicated' },
    ]);
  }
}

export async function createPhoneLine(owner: Knex, encryptionKey: Buffer, body: CreatePhoneLineBody): Promise<PhoneLineRow> {
  checkAssignment(body.mode, body.tenant_id);
  if (body.tenant_id) await assertTenantExists(owner, body.tenant_id, 'tenant_id');
  if (body.agency_tenant_id) await assertTenantExists(owner, body.agency_tenant_id, 'agency_tenant_id');
  const [row] = await owner('phone_lines')
    .insert({
      id: newId(),
      phone_number: body.phone_number,
      bridge_url: body.bridge_url.replace(/\/+$/, ''),
      secret_encrypted: encryptSecret(encryptionKey, body.secret),
      capabilities: JSON.stringify(body.capabilities),
      mode: body.mode,
      tenant_id: body.mode === 'dedicated' ? body.tenant_id : null,
      pool: body.pool ?? 'default',
      agency_tenant_id: body.agency_tenant_id ?? null,
      max_per_minute: body.max_per_minute === undefined ? 60 : body.max_per_minute,
      warmup: body.warmup ?? true,
    })
    .returning('*');
  return row as PhoneLineRow;
}

export async function listPhoneLines(owner: Knex, limit: number, cursor: string | null): Promise<PhoneLineRow[]> {
  const query = owner('phone_lines').orderBy('id', 'desc').limit(limit + 1);
  if (cursor) void query.where('id', '<', cursor);
  return (await query) as PhoneLineRow[];
}

export async function getPhoneLine(db: Knex, id: string): Promise<PhoneLineRow> {
  const row = await findPhoneLine(db, id);
  if (!row) throw new NotFoundError('phone line');
  return row;
}

export async function updatePhoneLine(owner: Knex, encryptionKey: Buffer, id: string, body: UpdatePhoneLineBody): Promise<PhoneLineRow> {
  const current = await getPhoneLine(owner, id);
  const mode = body.mode ?? current.mode;
  const tenantId = body.tenant_id !== undefined ? body.tenant_id : current.tenant_id;
  checkAssignment(mode, tenantId);
  if (body.tenant_id) await assertTenantExists(owner, body.tenant_id, 'tenant_id');
  if (body.agency_tenant_id) await assertTenantExists(owner, body.agency_tenant_id, 'agency_tenant_id');
  const changes: Record<string, unknown> = { updated_at: owner.fn.now(), mode, tenant_id: mode === 'dedicated' ? tenantId : null };
  for (const field of ['pool', 'agency_tenant_id', 'enabled', 'max_per_minute', 'warmup'] as const) {
    if (body[field] !== undefined) changes[field] = body[field];
  }
  if (body.bridge_url !== undefined) changes.bridge_url = body.bridge_url.replace(/\/+$/, '');
  if (body.capabilities !== undefined) changes.capabilities = JSON.stringify(body.capabilities);
  if (body.secret !== undefined) changes.secret_encrypted = encryptSecret(encryptionKey, body.secret);
  const [row] = await owner('phone_lines').where({ id }).update(changes).returning('*');
  return row as PhoneLineRow;
}

/** Why a line changed status, as its `line.offline` / `line.online` events say. */
export type LineStatusReason = 'heartbeat_missed' | 'health_check_failed' | 'health_check_passed' | 'heartbeat';

/**
 * Records `line.<status>` for the lines, in the caller's transaction: one
 * event per tenant that may send from each line and subscribed to it, each in
 * that tenant's own log with its outbox row (senderz_announce_line_status).
 * Returns the fan-out jobs to enqueue after commit.
 */
async function announceLineStatus(trx: Knex.Transaction, lineIds: string[], status: 'online' | 'offline', reason: LineStatusReason): Promise<OutboxJob[]> {
  if (lineIds.length === 0) return [];
  const result = await trx.raw('SELECT * FROM senderz_announce_line_status(?::text[], ?, ?, ?)', [lineIds, status, reason, newId()]);
  return lineEventJobs(result.rows);
}

function lineEventJobs(rows: { tenant_id: string; event_id: string }[]): OutboxJob[] {
  return rows.map((row) => outboxJob('webhooks', 'fan-out-event', row.event_id, { tenantId: row.tenant_id, eventId: row.event_id }));
}

/**
 * A bridge's heartbeat, in one statement (senderz_record_heartbeat): the line
 * is online again with its reported health, unless its last health probe
 * failed; a line that was offline announces `line.online`. Returns the jobs.
 */
export async function recordHeartbeat(app: Knex, lineId: string, occurredAt: string, health: Record<string, unknown>): Promise<OutboxJob[]> {
  const result = await app.raw('SELECT * FROM senderz_record_heartbeat(?, ?::timestamptz, ?::jsonb, ?)', [lineId, occurredAt, JSON.stringify(health), newId()]);
  return lineEventJobs(result.rows);
}

/**
 * The offline sweep, across tenants on the owner pool: online lines with no
 * heartbeat for longer than `offlineAfterSeconds` are marked offline and
 * announce `line.offline`, in one transaction; returns their ids and the jobs.
 */
export async function markSilentLinesOffline(owner: Knex, offlineAfterSeconds: number): Promise<{ lineIds: string[]; jobs: OutboxJob[] }> {
  return owner.transaction(async (trx) => {
    const rows = (await trx('phone_lines')
      .where('status', 'online')
      .andWhere((scope) => void scope.whereNull('last_heartbeat_at').orWhere('last_heartbeat_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [offlineAfterSeconds])))
      .update({ status: 'offline', updated_at: trx.fn.now() })
      .returning('id')) as { id: string }[];
    const lineIds = rows.map((row) => row.id);
    return { lineIds, jobs: await announceLineStatus(trx, lineIds, 'offline', 'heartbeat_missed') };
  });
}

/** Lines the health probe asks: enabled ones that are online, or were marked offline by a failed probe. */
export async function linesToProbe(owner: Knex): Promise<PhoneLineRow[]> {
  return (await owner('phone_lines')
    .where('enabled', true)
    .andWhere((scope) => void scope.where('status', 'online').orWhereNotNull('health_failed_at'))
    .orderBy('id')) as PhoneLineRow[];
}

/**
 * A health probe's verdict on one line (owner pool). Unhealthy: the line is
 * offline (announced when it was online) and stays so until a probe passes.
 * Healthy after a failure: the mark is cleared and the line is online again
 * when it heartbeated within `offlineAfterSeconds` (announced). Returns the
 * status change, if any, and the jobs. The row is locked FOR NO KEY UPDATE:
 * it serialises probes and heartbeats of the line without waiting for the
 * sends in flight, which hold key-share locks on it (their foreign keys).
 */
export async function recordHealthProbe(
  owner: Knex,
  lineId: string,
  healthy: boolean,
  offlineAfterSeconds: number,
): Promise<{ change: 'offline' | 'online' | null; jobs: OutboxJob[] }> {
  return owner.transaction(async (trx) => {
    const result = healthy
      ? await trx.raw(
          `UPDATE phone_lines l SET health_failed_at = NULL, updated_at = now(),
                  status = CASE WHEN l.last_heartbeat_at > now() - make_interval(secs => ?) THEN 'online' ELSE l.status END
             FROM (SELECT id, status FROM phone_lines WHERE id = ? FOR NO KEY UPDATE) old
            WHERE l.id = old.id AND l.enabled AND l.health_failed_at IS NOT NULL
           RETURNING old.status AS was, l.status AS now`,
          [offlineAfterSeconds, lineId],
        )
      : await trx.raw(
          `UPDATE phone_lines l SET health_failed_at = COALESCE(l.health_failed_at, now()), status = 'offline', updated_at = now()
             FROM (SELECT id, status FROM phone_lines WHERE id = ? FOR NO KEY UPDATE) old
            WHERE l.id = old.id AND l.enabled
           RETURNING old.status AS was, l.status AS now`,
          [lineId],
        );
    const row = result.rows[0] as { was: string; now: 'online' | 'offline' } | undefined;
    if (!row || row.was === row.now) return { change: null, jobs: [] };
    return { change: row.now, jobs: await announceLineStatus(trx, [lineId], row.now, healthy ? 'health_check_passed' : 'health_check_failed') };
  });
}

export async function deletePhoneLine(owner: Knex, id: string): Promise<void> {
  const deleted = await owner('phone_lines').where({ id }).delete();
  if (!deleted) throw new NotFoundError('phone line');
}

/**
 * Takes one of a line's sends for a UTC day if fewer than `cap` were taken,
 * through one conditional upsert shared by every dispatch process (warm-up).
 * Returns true when the send may go.
 */
export async function takeLineDailySend(app: Knex, lineId: string, day: string, cap: number): Promise<boolean> {
  const taken = await app.raw(
    `INSERT INTO line_daily_sends (line_id, day, sends) VALUES (?, ?, 1)
     ON CONFLICT (line_id, day) DO UPDATE SET sends = line_daily_sends.sends + 1 WHERE line_daily_sends.sends < ?
     RETURNING sends`,
    [lineId, day, cap],
  );
  return taken.rows.length > 0;
}

