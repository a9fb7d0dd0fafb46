import crypto from 'node:crypto';
import { jobId } from '../../shared/queues';
import { utcMonth } from '../../shared/compliance/calendar';
import type { FaultContext } from './phase';

/**
 * Work of its own for a pool that the message load never reaches, so that its
 * kill -9 lands while it has something to do: `beforeKill` starts it just
 * before the SIGKILL (and registers what must hold once the pool is back),
 * `whileDown` adds more while no process of the pool runs.
 */
export interface PoolWork {
  beforeKill(context: FaultContext): Promise<void>;
  whileDown?(context: FaultContext): Promise<void>;
}

/** Recipients of the campaign launched into the campaigns kill: more than one fan-out chunk (500). */
export const CAMPAIGN_RECIPIENTS = 600;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function jobState(context: FaultContext, queue: 'billing', id: string): Promise<string> {
  const job = await context.rig.queues.get(queue).getJob(id);
  return job ? job.getState() : 'missing';
}

/**
 * Billing: roll-ups of the phase tenant's month, one enqueued just before the
 * kill (in flight or next when the process dies) and one while it is down.
 * Once the phase has settled, both must have completed, and a roll-up run then
 * must report exactly the phase's delivered messages and new numbers.
 */
function billingWork(): PoolWork {
  const enqueued: { label: string; id: string }[] = [];
  const rollUp = async (context: FaultContext, label: string): Promise<string> => {
    const id = jobId('fault-roll-up', label, context.tenant.id, crypto.randomBytes(3).toString('hex'));
    await context.rig.queues.add('billing', 'roll-up-usage', { tenantId: context.tenant.id, periodStart: utcMonth(new Date()) }, { jobId: id });
    return id;
  };

  const check = async (context: FaultContext): Promise<string[]> => {
    const problems: string[] = [];
    for (const job of enqueued) {
      const state = await jobState(context, 'billing', job.id);
      if (state !== 'completed') problems.push(`roll-up enqueued ${job.label} the kill is ${state}`);
    }
    if (problems.length > 0) return problems;

    const final = await rollUp(context, 'final');
    const deadline = Date.now() + 20000;
    let state = await jobState(context, 'billing', final);
    while (state !== 'completed' && Date.now() < deadline) {
      await sleep(250);
      state = await jobState(context, 'billing', final);
    }
    if (state !== 'completed') return [`a roll-up after the fault is still ${state} after 20 s`];

    const owner = context.rig.db.owner;
    const tenantId = context.tenant.id;
    const record = (await owner('usage_records').where({ tenant_id: tenantId, period_start: utcMonth(new Date()) }).first('totals')) as
      | { totals: { messages: { delivered: number; pending: number }; new_contacts: number; inbound: number } }
      | undefined;
    if (!record) return ['no usage record after the roll-ups'];
    const delivered = (await owner('messages')
      .where({ tenant_id: tenantId, direction: 'outbound' })
      .whereIn('status', ['delivered', 'read'])
      .select('to_number', 'system_reply')) as { to_number: string; system_reply: boolean }[];
    const numbers = new Set(delivered.filter((message) => !message.system_reply).map((message) => message.to_number)).size;
    const { totals } = record;
    if (totals.messages.delivered !== delivered.length || totals.new_contacts !== numbers || totals.messages.pending !== 0 || totals.inbound < 1) {
      problems.push(
        `usage record says ${totals.messages.delivered} delivered, ${totals.messages.pending} pending, ${totals.new_contacts} new contacts, ${totals.inbound} inbound; ` +
          `the phase delivered ${delivered.length} messages to ${numbers} new numbers and got a STOP`,
      );
    }
    return problems;
  };

  return {
    async beforeKill(context) {
      enqueued.push({ label: 'before', id: await rollUp(context, 'before') });
      context.verify(() => check(context));
    },
    async whileDown(context) {
      enqueued.push({ label: 'during', id: await rollUp(context, 'during') });
    },
  };
}

/**
 * Campaigns: a campaign created just before the kill, so that the process
 * dies in its launch or its fan-out. Once the phase has settled it must be
 * completed, each recipient must have exactly one message (every phase checks
 * that those were delivered and pushed to a line once), and campaign.completed
 * must have been recorded once.
 */
function campaignWork(): PoolWork {
  return {
    async beforeKill(context) {
      const { rig, tenant } = context;
      const recipients = Array.from({ length: CAMPAIGN_RECIPIENTS }, (_v, i) => `+1555${String(context.numberBase + 50000 + i).padStart(7, '0')}`);
      const res = await fetch(`${rig.url}/v1/campaigns`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${tenant.key}`, 'Content-Type': 'application/json' },
        // alert: quiet hours never apply, whatever the hour of the run.
        body: JSON.stringify({ name: `fault ${tenant.label}`, body: `campaign ${tenant.label} to {{phone_number}}`, recipients, message_type: 'alert' }),
        signal: AbortSignal.timeout(20000),
      });
      const created = (await res.json().catch(() => ({}))) as { data?: { id?: string } };
      if (res.status !== 202 || !created.data?.id) throw new Error(`campaign create answered ${res.status}: ${JSON.stringify(created)}`);
      const campaignId = created.data.id;
      const recipientSet = new Set(recipients);
      context.note(`campaign of ${CAMPAIGN_RECIPIENTS}`);

      context.verify(async () => {
        const owner = rig.db.owner;
        const problems: string[] = [];
        const campaign = (await owner('campaigns').where({ tenant_id: tenant.id, id: campaignId }).first('status', 'fanned_out', 'total')) as { status: string; fanned_out: number; total: number };
        if (campaign.status !== 'completed') problems.push(`campaign ${campaign.status}, ${campaign.fanned_out}/${campaign.total} fanned out`);
        const messages = (await owner('messages').where({ tenant_id: tenant.id, campaign_id: campaignId }).select('to_number')) as { to_number: string }[];
        const perNumber = new Map<string, number>();
        for (const message of messages) perNumber.set(message.to_number, (perNumber.get(message.to_number) ?? 0) + 1);
        const missing = recipients.filter((number) => !perNumber.has(number)).length;
        const twice = [...perNumber.values()].filter((count) => count > 1).length;
        const strangers = [...perNumber.keys()].filter((number) => !recipientSet.has(number)).length;
        if (missing > 0) problems.push(`${missing} campaign recipient(s) without a message`);
        if (twice > 0) problems.push(`${twice} campaign recipient(s) with more than one message`);
        if (strangers > 0) problems.push(`${strangers} campaign message(s) to a number that is not a recipient`);
        const completed = (await owner('webhook_events')
          .where({ tenant_id: tenant.id, type: 'campaign.completed' })
          .whereRaw("payload->>'campaign_id' = ?", [campaignId])
          .count('* as n')
          .first()) as { n: string | number };
        if (campaign.status === 'completed' && Number(completed.n) !== 1) problems.push(`campaign.completed recorded ${completed.n}×`);
        return problems;
      });
      // A moment for the launch job to be taken: the kill then lands in the launch or the first chunk.
      await sleep(150);
    },
  };
}

/** The work a pool's kill phase adds to the message load (none for the pools the load already keeps busy). */
export function poolWork(pool: string): PoolWork | null {
  if (pool === 'billing') return billingWork();
  if (pool === 'campaigns') return campaignWork();
  return null;
}
