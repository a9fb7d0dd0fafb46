import crypto from 'node:crypto';
import { expect } from 'chai';
import { adminHeaders, api, createTenant, harness, TestTenant } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { outcomeText } from '../helpers/jobs';
import { createRouter } from '../../workers/sending/router';
import { defaultComplianceChecks } from '../../workers/sending/compliance';

let counter = 0;
const tenantsWithWork = new Set<string>();

/** Remembers a tenant whose queued work (outbox rows) should not outlive this test file. */
export function trackTenant(tenantId: string): void {
  tenantsWithWork.add(tenantId);
}

/**
 * Drops the outbox rows this file's tenants left behind (messages held until a
 * past midnight, routes waiting for an offline line), so a later file's outbox
 * relay does not spend its batches on them. Call from after().
 */
export async function dropLeftoverWork(): Promise<void> {
  const ids = [...tenantsWithWork];
  tenantsWithWork.clear();
  if (ids.length > 0) await harness().db.owner('outbox').whereIn('tenant_id', ids).delete();
}

export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** A distinct number in a given NANP area code per call (e.g. 212 = New York). */
export function numberIn(areaCode: string): string {
  counter += 1;
  return `+1${areaCode}${2_000_000 + counter}`;
}

/** A distinct +1555 number (the fictional range: no region can be derived). */
export function fictionalNumber(): string {
  counter += 1;
  return `+1555${2_000_000 + counter}`;
}

export interface TenantWithLine {
  tenant: TestTenant;
  pool: string;
  lineId: string;
  lineNumber: string;
}

/**
 * A tenant in its own pool with one pooled line that stays offline (no
 * bridge answers at its URL): sends are accepted and routing runs its
 * compliance checks, then waits for a line instead of dispatching.
 */
export async function tenantWithOfflineLine(options: { plan?: string; limits?: Record<string, number | null> } = {}): Promise<TenantWithLine> {
  const pool = uniqueName('cmp');
  const tenant = await createTenant({ pool, plan: options.plan, limits: options.limits });
  trackTenant(tenant.id);
  const lineNumber = `+1555${String(8_000_000 + Math.floor(Math.random() * 1_999_999))}`;
  const res = await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({
      phone_number: lineNumber,
      bridge_url: 'http://127.0.0.1:9/bridge',
      secret: crypto.randomBytes(32).toString('hex'),
      capabilities: { imessage: true, sms: true, rcs: false },
      mode: 'pooled',
      pool,
      warmup: false,
      max_per_minute: null,
    });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return { tenant, pool, lineId: res.body.data.id, lineNumber };
}

export async function send(tenant: TestTenant, to: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api().post('/v1/messages').set(tenant.auth).send({ to, body: 'hello', ...extra });
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.data.message_id as string;
}

/** Runs the router's handler for one message with the default checks on a fixed clock. */
export async function routeAt(tenantId: string, messageId: string, now: Date): Promise<string> {
  const route = createRouter(workerDeps(), defaultComplianceChecks({ now: () => now }));
  return outcomeText(await route({ tenantId, messageId }));
}

export async function messageRow(tenantId: string, messageId: string) {
  return harness().db.owner('messages').where({ tenant_id: tenantId, id: messageId }).first();
}

export async function outboxRows(tenantId: string, queue?: string) {
  const query = harness().db.owner('outbox').where({ tenant_id: tenantId });
  if (queue) void query.where({ queue });
  return query;
}
