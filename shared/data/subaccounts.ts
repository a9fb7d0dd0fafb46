import type { Knex } from 'knex';
import { newId } from '../ids';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors';
import { withTenant, TenantTx } from '../db/tenant';
import type { Database } from '../db';
import { PLANS, Plan, TenantLimits } from '../schemas/admin';
import type { CreateSubaccountBody, SubaccountLimits, UpdateSubaccountBody } from '../schemas/subaccounts';
import { effectiveLimit, PLAN_LIMITS } from '../plans';
import type { TenantRow } from './tenants';
import type { Capabilities } from '../schemas/admin';

/**
 * What an agency may do to its clients. Tenants and agency links are operator
 * tables (the runtime role cannot write them), so these functions run on the
 * owner pool, and every one of them starts, in its own transaction, by proving
 * that the caller is an agency and that the client is linked to it. A client
 * of another agency, the agency itself or any other tenant is "not found".
 *
 * The agency never reads a client's messages, contacts or other records: it
 * acts inside a client only through `withLinkedClient` (API keys), and sees
 * client traffic only as the aggregates of `subaccountAnalytics`.
 */

type Query = Knex | Knex.Transaction;

export interface SubaccountRow extends TenantRow {
  /** When the agency suspended this client (null: not suspended by the agency). */
  agency_suspended_at: Date | null;
}

interface AgencyRow {
  id: string;
  plan: Plan;
  pool: string;
}

/**
 * The operator links a client tenant to an agency. Both must exist and the
 * first must be an agency; each failure names the field at fault.
 */
export async function createAgencyLink(owner: Knex, body: { agency_tenant_id: string; client_tenant_id: string }): Promise<Record<string, unknown>> {
  if (body.agency_tenant_id === body.client_tenant_id) {
    throw new ValidationError('Invalid request body: a tenant cannot be its own client.', [{ path: 'client_tenant_id', message: 'must differ from agency_tenant_id' }]);
  }
  const tenants = (await owner('tenants').whereIn('id', [body.agency_tenant_id, body.client_tenant_id]).select('id', 'is_agency')) as { id: string; is_agency: boolean }[];
  const agency = tenants.find((row) => row.id === body.agency_tenant_id);
  if (!agency) throw new ValidationError('Invalid request body: agency_tenant_id names no tenant.', [{ path: 'agency_tenant_id', message: 'names no tenant' }]);
  if (!agency.is_agency) throw new ValidationError('Invalid request body: that tenant is not an agency.', [{ path: 'agency_tenant_id', message: 'is not marked as an agency' }]);
  if (!tenants.some((row) => row.id === body.client_tenant_id)) {
    throw new ValidationError('Invalid request body: client_tenant_id names no tenant.', [{ path: 'client_tenant_id', message: 'names no tenant' }]);
  }
  const [row] = (await owner('agency_links').insert(body).returning('*')) as Record<string, unknown>[];
  return row;
}

/** The caller must be a tenant the operator marked as an agency; anyone else gets 403 on every agency route. */
export async function assertAgency(q: Query, agencyId: string): Promise<AgencyRow> {
  const row = (await q('tenants').where({ id: agencyId }).first('id', 'plan', 'pool', 'is_agency')) as (AgencyRow & { is_agency: boolean }) | undefined;
  if (!row || !row.is_agency) throw new ForbiddenError('Only an agency account may manage subaccounts.');
  return { id: row.id, plan: row.plan, pool: row.pool };
}

/** Client rows of one agency: the link to the agency (still marked as one) is part of every query. */
function linkedClients(trx: Knex.Transaction, agencyId: string): Knex.QueryBuilder {
  return trx('tenants as c')
    .join('agency_links as l', 'l.client_tenant_id', 'c.id')
    .join('tenants as a', 'a.id', 'l.agency_tenant_id')
    .where('l.agency_tenant_id', agencyId)
    .andWhere('a.is_agency', true)
    .select('c.*', 'l.suspended_at as agency_suspended_at');
}

async function linkedClient(trx: Knex.Transaction, agencyId: string, clientId: string, lock: 'update' | 'share' | null = null): Promise<SubaccountRow> {
  const query = linkedClients(trx, agencyId).where('c.id', clientId).first();
  if (lock === 'update') void query.forNoKeyUpdate('c');
  if (lock === 'share') void query.forShare('c');
  const row = (await query) as SubaccountRow | undefined;
  if (!row) throw new NotFoundError('subaccount');
  return row;
}

/**
 * An agency may lift only a suspension it set itself, and only while nobody
 * else changed the tenant since (the operator's changes bump updated_at past
 * the agency's suspended_at; the agency's own updates move both together).
 */
export function suspendedByAgency(row: SubaccountRow): boolean {
  return row.status === 'suspended' && row.agency_suspended_at !== null && row.agency_suspended_at.getTime() >= row.updated_at.getTime();
}

export function presentSubaccount(row: SubaccountRow) {
  const limits = row.limits ?? {};
  return {
    id: row.id,
    name: row.name,
    plan: row.plan,
    status: row.status,
    suspended_by: row.status === 'suspended' ? (suspendedByAgency(row) ? 'agency' : 'operator') : null,
    limits: {
      messages_per_day: effectiveLimit(row.plan, limits, 'messages_per_day'),
      new_contacts_per_day: effectiveLimit(row.plan, limits, 'new_contacts_per_day'),
    },
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/**
 * Applies an agency's limits to a client's stored overrides. The agency may
 * lower new contacts below the plan (never above it: the plan is what is
 * billed) and cap message volume; null removes its limit so the plan applies.
 */
export function applySubaccountLimits(plan: Plan, current: TenantLimits, changes: SubaccountLimits | undefined): TenantLimits {
  const next: TenantLimits = { ...current };
  if (!changes) return next;
  const planCap = PLAN_LIMITS[plan].newContactsPerDay;
  for (const field of ['messages_per_day', 'new_contacts_per_day'] as const) {
    const value = changes[field];
    if (value === undefined) continue;
    if (value === null) {
      delete next[field];
      continue;
    }
    if (field === 'new_contacts_per_day' && value > planCap) {
      throw new ValidationError(`Invalid request body: limits.new_contacts_per_day may not exceed the ${plan} plan's ${planCap}.`, [
        { path: 'limits.new_contacts_per_day', message: `must be at most ${planCap}` },
      ]);
    }
    next[field] = value;
  }
  return next;
}

export async function createSubaccount(owner: Knex, agencyId: string, body: CreateSubaccountBody): Promise<SubaccountRow> {
  return owner.transaction(async (trx) => {
    const agency = await assertAgency(trx, agencyId);
    const plan = body.plan ?? agency.plan;
    if (PLANS.indexOf(plan) > PLANS.indexOf(agency.plan)) {
      throw new ValidationError(`Invalid request body: a subaccount's plan may not be above the agency's (${agency.plan}).`, [
        { path: 'plan', message: `must be at most ${agency.plan}` },
      ]);
    }
    const limits = applySubaccountLimits(plan, {}, body.limits);
    // The client sends through the agency's pool until the agency assigns it lines of its own.
    const [row] = (await trx('tenants')
      .insert({ id: newId(), name: body.name, plan, is_agency: false, pool: agency.pool, limits: JSON.stringify(limits) })
      .returning('*')) as TenantRow[];
    await trx('agency_links').insert({ client_tenant_id: row.id, agency_tenant_id: agencyId });
    return { ...row, agency_suspended_at: null };
  });
}

export async function listSubaccounts(owner: Knex, agencyId: string, limit: number, cursor: string | null): Promise<SubaccountRow[]> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    const query = linkedClients(trx, agencyId).orderBy('c.id', 'desc').limit(limit + 1);
    if (cursor) void query.where('c.id', '<', cursor);
    return (await query) as SubaccountRow[];
  });
}

export async function getSubaccount(owner: Knex, agencyId: string, clientId: string): Promise<SubaccountRow> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    return linkedClient(trx, agencyId, clientId);
  });
}

export async function updateSubaccount(owner: Knex, agencyId: string, clientId: string, body: UpdateSubaccountBody): Promise<SubaccountRow> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    const client = await linkedClient(trx, agencyId, clientId, 'update');
    const changes: Record<string, unknown> = { updated_at: trx.fn.now() };
    if (body.name !== undefined) changes.name = body.name;
    if (body.limits !== undefined) changes.limits = JSON.stringify(applySubaccountLimits(client.plan, client.limits ?? {}, body.limits));
    const [row] = (await trx('tenants').where({ id: clientId }).update(changes).returning('*')) as TenantRow[];
    // Keep an agency suspension the agency's own (see suspendedByAgency).
    const agencySuspended = suspendedByAgency(client);
    if (agencySuspended) await trx('agency_links').where({ client_tenant_id: clientId }).update({ suspended_at: trx.fn.now() });
    return { ...row, agency_suspended_at: agencySuspended ? row.updated_at : client.agency_suspended_at };
  });
}

/** Suspends or reactivates a client; returns the row and whether anything changed. */
export async function setSubaccountStatus(
  owner: Knex,
  agencyId: string,
  clientId: string,
  status: 'active' | 'suspended',
): Promise<{ row: SubaccountRow; changed: boolean }> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    const client = await linkedClient(trx, agencyId, clientId, 'update');
    if (client.status === status) return { row: client, changed: false };
    if (status === 'active' && !suspendedByAgency(client)) {
      throw new ConflictError('This subaccount was suspended by the platform operator; only the operator can reactivate it.');
    }
    const [row] = (await trx('tenants').where({ id: clientId }).update({ status, updated_at: trx.fn.now() }).returning('*')) as TenantRow[];
    const [link] = (await trx('agency_links')
      .where({ client_tenant_id: clientId })
      .update({ suspended_at: status === 'suspended' ? trx.fn.now() : null })
      .returning('suspended_at')) as { suspended_at: Date | null }[];
    return { row: { ...row, agency_suspended_at: link.suspended_at }, changed: true };
  });
}

/**
 * Runs `fn` inside the client's own tenant scope (runtime role, RLS), while
 * the owner transaction that proved the link holds it: an unlink by the
 * operator waits until `fn` is done. Used for the client's API keys only.
 */
export async function withLinkedClient<T>(db: Database, agencyId: string, clientId: string, fn: (t: TenantTx, client: SubaccountRow) => Promise<T>): Promise<T> {
  return db.owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    const client = await linkedClient(trx, agencyId, clientId, 'share');
    return withTenant(db.app, client.id, (t) => fn(t, client));
  });
}

// Phone lines the operator allotted to the agency (phone_lines.agency_tenant_id).

export interface AgencyLineRow {
  id: string;
  phone_number: string;
  mode: 'pooled' | 'dedicated';
  tenant_id: string | null;
  status: 'online' | 'offline';
  enabled: boolean;
  capabilities: Capabilities;
  previous_mode: 'pooled' | 'dedicated' | null;
  assigned_client_id: string | null;
  linked_tenant_id: string | null;
}

/**
 * The agency's view of a line. `mode` is the mode the operator gave it; while
 * a client holds it, the line is dedicated to that client (`client_id`).
 * Bridge URL and secret are operator data and never shown.
 */
export function presentAgencyLine(row: AgencyLineRow) {
  return {
    id: row.id,
    phone_number: row.phone_number,
    mode: row.previous_mode ?? row.mode,
    client_id: row.assigned_client_id ?? row.linked_tenant_id,
    status: row.status,
    enabled: row.enabled,
    capabilities: row.capabilities,
  };
}

function agencyLines(trx: Knex.Transaction, agencyId: string): Knex.QueryBuilder {
  return trx('phone_lines as p')
    .leftJoin('agency_line_assignments as x', (join) => {
      void join.on('x.line_id', 'p.id').andOnVal('x.agency_tenant_id', '=', agencyId);
    })
    .leftJoin('agency_links as l', (join) => {
      // A line dedicated to one of this agency's clients names that client; a line of any other tenant names nobody.
      void join.on('l.client_tenant_id', 'p.tenant_id').andOnVal('l.agency_tenant_id', '=', agencyId).andOnVal('p.mode', '=', 'dedicated');
    })
    .where('p.agency_tenant_id', agencyId)
    .select(
      'p.id',
      'p.phone_number',
      'p.mode',
      'p.tenant_id',
      'p.status',
      'p.enabled',
      'p.capabilities',
      'x.previous_mode',
      'x.client_tenant_id as assigned_client_id',
      'l.client_tenant_id as linked_tenant_id',
    );
}

export async function listAgencyLines(owner: Knex, agencyId: string, limit: number, cursor: string | null): Promise<AgencyLineRow[]> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    const query = agencyLines(trx, agencyId).orderBy('p.id', 'desc').limit(limit + 1);
    if (cursor) void query.where('p.id', '<', cursor);
    return (await query) as AgencyLineRow[];
  });
}

async function agencyLine(trx: Knex.Transaction, agencyId: string, lineId: string): Promise<AgencyLineRow> {
  // Lock the line itself (not the joined rows) so two assignments of one line
  // serialize; NO KEY UPDATE, so sends in flight on the line (each holds a
  // key-share lock through its foreign keys) neither stall it nor queue behind it.
  const locked = await trx('phone_lines').where({ id: lineId, agency_tenant_id: agencyId }).forNoKeyUpdate().first('id');
  if (!locked) throw new NotFoundError('phone line');
  return (await agencyLines(trx, agencyId).where('p.id', lineId).first()) as AgencyLineRow;
}

/**
 * Hands one of the agency's dedicated lines to a client: the line becomes
 * dedicated to the client while assigned (the client sends from it before its
 * pool, and inbound messages on it are the client's); unassigning restores
 * the previous owner. A pooled line the operator allotted to the agency stays
 * in its pool (400). A line the operator dedicated to a
 * tenant outside the agency is not the agency's to give (409).
 */
export async function assignLine(owner: Knex, agencyId: string, clientId: string, lineId: string): Promise<AgencyLineRow> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    await linkedClient(trx, agencyId, clientId, 'share');
    const line = await agencyLine(trx, agencyId, lineId);
    const heldByClient = line.mode === 'dedicated' && line.tenant_id === clientId;
    if (line.assigned_client_id) {
      if (line.assigned_client_id !== clientId) throw new ConflictError('This line is assigned to another subaccount; unassign it first.');
      if (heldByClient) return line;
      // The operator changed the line since it was assigned: start over from its current state.
      await trx('agency_line_assignments').where({ line_id: lineId }).delete();
    } else if (heldByClient) {
      return line;
    }
    if (line.mode === 'pooled') {
      // A pooled line serves every tenant of its pool: moving it to one client would take it from the others.
      throw new ValidationError('Only a line dedicated to the agency can be assigned to a client; this line is pooled.', [{ path: 'line_id', message: 'is a pooled line' }]);
    }
    if (line.mode === 'dedicated' && line.tenant_id !== agencyId) {
      throw new ConflictError('This line is dedicated to another account and cannot be assigned.');
    }
    await trx('agency_line_assignments').insert({
      line_id: lineId,
      agency_tenant_id: agencyId,
      client_tenant_id: clientId,
      previous_mode: line.mode,
      previous_tenant_id: line.mode === 'dedicated' ? line.tenant_id : null,
    });
    await trx('phone_lines').where({ id: lineId }).update({ mode: 'dedicated', tenant_id: clientId, updated_at: trx.fn.now() });
    return agencyLine(trx, agencyId, lineId);
  });
}

/** Takes a line back from a client: the line returns to its previous mode (a dedicated line to the agency). */
export async function unassignLine(owner: Knex, agencyId: string, clientId: string, lineId: string): Promise<AgencyLineRow> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    await linkedClient(trx, agencyId, clientId, 'share');
    const line = await agencyLine(trx, agencyId, lineId);
    const heldByClient = line.mode === 'dedicated' && line.tenant_id === clientId;
    const assignment = (await trx('agency_line_assignments').where({ line_id: lineId, client_tenant_id: clientId }).first()) as
      | { previous_mode: 'pooled' | 'dedicated'; previous_tenant_id: string | null }
      | undefined;
    if (!assignment && !heldByClient) throw new NotFoundError('line assignment');
    if (assignment) await trx('agency_line_assignments').where({ line_id: lineId }).delete();
    if (heldByClient) {
      const restore =
        assignment && assignment.previous_mode === 'pooled'
          ? { mode: 'pooled', tenant_id: null }
          : { mode: 'dedicated', tenant_id: assignment?.previous_tenant_id ?? agencyId };
      await trx('phone_lines').where({ id: lineId }).update({ ...restore, updated_at: trx.fn.now() });
    }
    return agencyLine(trx, agencyId, lineId);
  });
}

// Aggregated analytics: counts per client and day, never a message row.

export interface DayMetrics {
  date: string;
  messages: number;
  delivered: number;
  failed: number;
  blocked: number;
  /** delivered / (delivered + failed): of the messages whose fate is known, the share that arrived; null when none. */
  delivery_rate: number | null;
  inbound: number;
  new_contacts: number;
}

type Counts = Omit<DayMetrics, 'date' | 'delivery_rate'>;

const ZERO: Counts = { messages: 0, delivered: 0, failed: 0, blocked: 0, inbound: 0, new_contacts: 0 };

function withRate(date: string, counts: Counts): DayMetrics {
  const decided = counts.delivered + counts.failed;
  return { date, ...counts, delivery_rate: decided === 0 ? null : Math.round((counts.delivered / decided) * 10000) / 10000 };
}

function add(into: Counts, more: Partial<Counts>): void {
  for (const field of Object.keys(ZERO) as (keyof Counts)[]) into[field] += Number(more[field] ?? 0);
}

function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let at = Date.parse(`${from}T00:00:00Z`); at <= Date.parse(`${to}T00:00:00Z`); at += 86400000) days.push(new Date(at).toISOString().slice(0, 10));
  return days;
}

export interface SubaccountAnalytics {
  from: string;
  to: string;
  totals: Omit<DayMetrics, 'date'>;
  days: DayMetrics[];
  clients: { id: string; name: string; totals: Omit<DayMetrics, 'date'>; days: DayMetrics[] }[];
}

/**
 * Volume, delivery, failures and new contacts per client and UTC day over
 * [from, to] (inclusive), live traffic only, for this agency's clients only:
 * the link to the agency is a join in every statement.
 */
export async function subaccountAnalytics(owner: Knex, agencyId: string, from: string, to: string): Promise<SubaccountAnalytics> {
  return owner.transaction(async (trx) => {
    await assertAgency(trx, agencyId);
    const clients = (await linkedClients(trx, agencyId).clearSelect().select('c.id', 'c.name').orderBy('c.id')) as { id: string; name: string }[];
    const range = [agencyId, from, to];
    const messages = (
      await trx.raw(
        `SELECT m.tenant_id, to_char((m.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day,
                count(*) FILTER (WHERE m.direction = 'outbound') AS messages,
                count(*) FILTER (WHERE m.direction = 'outbound' AND m.status IN ('delivered', 'read')) AS delivered,
                count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'failed') AS failed,
                count(*) FILTER (WHERE m.direction = 'outbound' AND m.status = 'blocked') AS blocked,
                count(*) FILTER (WHERE m.direction = 'inbound') AS inbound
           FROM agency_links l
           JOIN messages m ON m.tenant_id = l.client_tenant_id
          WHERE l.agency_tenant_id = ? AND m.sandbox = false
            AND m.created_at >= (?::date)::timestamp AT TIME ZONE 'UTC'
            AND m.created_at < ((?::date) + 1)::timestamp AT TIME ZONE 'UTC'
          GROUP BY 1, 2`,
        range,
      )
    ).rows as (Partial<Counts> & { tenant_id: string; day: string })[];
    const contacts = (
      await trx.raw(
        `SELECT k.tenant_id, to_char((k.first_success_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, count(*) AS new_contacts
           FROM agency_links l
           JOIN known_recipients k ON k.tenant_id = l.client_tenant_id
          WHERE l.agency_tenant_id = ?
            AND k.first_success_at >= (?::date)::timestamp AT TIME ZONE 'UTC'
            AND k.first_success_at < ((?::date) + 1)::timestamp AT TIME ZONE 'UTC'
          GROUP BY 1, 2`,
        range,
      )
    ).rows as (Partial<Counts> & { tenant_id: string; day: string })[];

    const days = daysBetween(from, to);
    const perClient = new Map<string, Map<string, Counts>>(clients.map((client) => [client.id, new Map(days.map((day) => [day, { ...ZERO }]))]));
    for (const row of [...messages, ...contacts]) {
      const counts = perClient.get(row.tenant_id)?.get(row.day);
      if (counts) add(counts, row);
    }
    const overall = new Map(days.map((day) => [day, { ...ZERO }]));
    const grand = { ...ZERO };
    const report = clients.map((client) => {
      const byDay = perClient.get(client.id)!;
      const sum = { ...ZERO };
      for (const [day, counts] of byDay) {
        add(sum, counts);
        add(overall.get(day)!, counts);
      }
      add(grand, sum);
      const { date: _date, ...totals } = withRate('', sum);
      return { id: client.id, name: client.name, totals, days: days.map((day) => withRate(day, byDay.get(day)!)) };
    });
    const { date: _date, ...totals } = withRate('', grand);
    return { from, to, totals, days: days.map((day) => withRate(day, overall.get(day)!)), clients: report };
  });
}
