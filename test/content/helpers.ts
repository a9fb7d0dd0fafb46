import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { expect } from 'chai';
import { api, harness, TestTenant } from '../helpers/harness';
import { workerDeps } from '../helpers/platform';
import { runJob, QueueHandlers } from '../../workers/runtime';
import { createCampaignHandlers } from '../../workers/campaigns';
import type { JobName, QueueName } from '../../shared/queues';
import { logger } from '../../shared/logger';
import { outcomeText } from '../helpers/jobs';

let phoneCounter = 0;

/** A fresh, possible US number (+1 555 …): distinct within the test run. */
export function testPhone(): string {
  phoneCounter += 1;
  return `+1555${String(2000000 + phoneCounter).padStart(7, '0')}`;
}

/** A stand-in for a BullMQ job handed to a handler called directly (no token: no delays are requested). */
function fakeJob(name: string, data: unknown): Job {
  return { id: `test-${name}-${Date.now()}`, name, data, opts: { attempts: 8 }, attemptsMade: 0 } as unknown as Job;
}

export interface JobOutcome {
  result?: unknown;
  error?: Error;
  terminal: boolean;
}

/** Runs a job through the same checks a pool applies (payload schema, ownership → terminal). */
export async function runJobOf<Q extends QueueName>(queue: Q, handlers: QueueHandlers<Q>, name: JobName<Q>, data: unknown): Promise<JobOutcome> {
  try {
    const result = await runJob(queue, handlers, fakeJob(name, data), logger);
    return { result: typeof result === 'object' && result !== null && 'kind' in result ? outcomeText(result) : result, terminal: false };
  } catch (error) {
    return { error: error as Error, terminal: error instanceof UnrecoverableError };
  }
}

export async function runCampaignJob(name: JobName<'campaigns'>, data: unknown): Promise<JobOutcome> {
  return runJobOf('campaigns', createCampaignHandlers(workerDeps()), name, data);
}

export async function pendingChunkIds(tenantId: string, campaignId: string): Promise<string[]> {
  const rows = await harness()
    .db.owner('outbox')
    .where({ tenant_id: tenantId, queue: 'campaigns', job_name: 'fan-out-chunk' })
    .whereRaw("payload->>'campaignId' = ?", [campaignId])
    .select('ref_id');
  return rows.map((row: { ref_id: string }) => row.ref_id);
}

/** Launches a campaign and runs its chunk jobs until none is pending, as the pool would. */
export async function fanOutFully(tenantId: string, campaignId: string): Promise<void> {
  const launched = await runCampaignJob('launch-campaign', { tenantId, campaignId });
  expect(launched.error, String(launched.error)).to.equal(undefined);
  for (let guard = 0; guard < 100; guard += 1) {
    const [chunkId] = await pendingChunkIds(tenantId, campaignId);
    if (!chunkId) return;
    const outcome = await runCampaignJob('fan-out-chunk', { tenantId, campaignId, chunkId });
    expect(outcome.error, String(outcome.error)).to.equal(undefined);
  }
  throw new Error('fan-out did not finish');
}

export async function createContact(tenant: TestTenant, body: Record<string, unknown> = {}): Promise<{ id: string; phone_number: string }> {
  const res = await api().post('/v1/contacts').set(tenant.auth).send({ phone_number: testPhone(), ...body });
  if (res.status !== 201) throw new Error(`contact create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

export async function createGroup(tenant: TestTenant, name = `group ${testPhone()}`): Promise<string> {
  const res = await api().post('/v1/groups').set(tenant.auth).send({ name });
  if (res.status !== 201) throw new Error(`group create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data.id as string;
}

export async function createTemplate(tenant: TestTenant, body: Record<string, unknown> = {}): Promise<{ id: string; name: string }> {
  const res = await api().post('/v1/templates').set(tenant.auth).send({ name: `template ${testPhone()}`, body: 'Hi {{name}}', ...body });
  if (res.status !== 201) throw new Error(`template create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data;
}

/** A sandbox campaign (no phone line needed); returns its id. */
export async function createSandboxCampaign(tenant: TestTenant, body: Record<string, unknown>): Promise<string> {
  const res = await api().post('/v1/campaigns').set(tenant.sandboxAuth).send({ name: 'campaign', message_type: 'alert', ...body });
  if (res.status !== 202) throw new Error(`campaign create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.data.id as string;
}

/** Every row of a tenant's table, through the owner pool, to prove that nothing changed. */
export async function tableSnapshot(table: string, tenantId: string): Promise<unknown[]> {
  return harness().db.owner(table).where({ tenant_id: tenantId }).orderByRaw('1, 2');
}

/**
 * Deletes, after the enclosing describe, the outbox rows of the tenants it
 * created: work for queues no pool consumes in these tests, which the relay
 * would otherwise keep re-sending for the rest of the run.
 */
export function leaveNoWorkBehind(): void {
  let since: Date;
  before(async () => {
    since = (await harness().db.owner.raw('SELECT now() AS now')).rows[0].now as Date;
  });
  after(async () => {
    const owner = harness().db.owner;
    await owner('outbox').whereIn('tenant_id', owner('tenants').where('created_at', '>=', since).select('id')).delete();
  });
}
