import type { FaultRig, PhaseTenant } from './rig';

/**
 * One fault under load: a steady stream of sends through the API while the
 * fault is injected, a STOP from a recipient in the middle of it, then a wait
 * for the platform to settle and an account of what was lost or duplicated.
 */

export interface LoadResult {
  attempted: number;
  accepted: string[];
  /** Answers other than 202, by status ('error' when no answer came). */
  refused: Record<string, number>;
}

export interface Load {
  stop(): Promise<LoadResult>;
}

/** Posts `rate` messages per second, each to a number of its own, until stopped. */
export function startLoad(rig: FaultRig, tenant: PhaseTenant, rate: number, numberBase: number): Load {
  const result: LoadResult = { attempted: 0, accepted: [], refused: {} };
  const inflight = new Set<Promise<void>>();
  const begin = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;

  const sendOne = (index: number) => {
    const to = `+1555${String(numberBase + index).padStart(7, '0')}`;
    result.attempted += 1;
    const request = fetch(`${rig.url}/v1/messages`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ to, body: `load ${tenant.label} ${index}` }),
      signal: AbortSignal.timeout(15000),
    })
      .then(async (res) => {
        const body = (await res.json().catch(() => ({}))) as { data?: { message_id?: string } };
        if (res.status === 202 && body.data?.message_id) result.accepted.push(body.data.message_id);
        else result.refused[String(res.status)] = (result.refused[String(res.status)] ?? 0) + 1;
      })
      .catch(() => {
        result.refused.error = (result.refused.error ?? 0) + 1;
      });
    inflight.add(request);
    void request.finally(() => inflight.delete(request));
  };

  let sent = 0;
  const tick = () => {
    if (stopped) return;
    const due = Math.floor(((Date.now() - begin) * rate) / 1000) + 1;
    while (sent < due) {
      sendOne(sent);
      sent += 1;
    }
    timer = setTimeout(tick, Math.max(5, Math.floor(1000 / rate)));
  };
  tick();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await Promise.all([...inflight]);
      return result;
    },
  };
}

export interface FaultRow {
  fault: string;
  accepted: number;
  refused: string;
  messages: number;
  delivered: number;
  lost: number;
  dispatchedTwice: number;
  webhookEvents: number;
  webhooksLost: number;
  duplicateEvents: number;
  redelivered: number;
  optOutKept: boolean | null;
  droppedDeviceEvents: number;
  /** 'exact' when the usage counters count each delivered message and each new number once. */
  metering: string;
  /** What the phase's own checks (FaultContext.verify) still reported when it ended. */
  checks: string[];
  recoverySeconds: number;
  note: string;
}

export interface FaultContext {
  rig: FaultRig;
  tenant: PhaseTenant;
  /** The phase's own range of recipient numbers starts here (the load uses the first few hundred). */
  numberBase: number;
  /**
   * Sends STOP through the simulator from a recipient that already got a
   * message on `lineId` (default: any line). Needs no database: the recipient
   * was picked before the fault.
   */
  sendStop(lineId?: string): void;
  /** Lines that have a recipient who can send STOP. */
  stopLines(): string[];
  note(text: string): void;
  /**
   * Adds a condition the platform must reach after the fault, beyond what
   * every phase checks: `check` answers what is still wrong (nothing when
   * met). It is asked once the phase's messages are all terminal, again
   * while the phase settles; what it still answers at the end fails the row.
   */
  verify(check: () => Promise<string[]>): void;
}

export interface PhaseOptions {
  rate: number;
  numberBase: number;
  /** Seconds of load before the fault and after it. */
  leadSeconds?: number;
  trailSeconds?: number;
  /** How long the platform gets to settle after the fault before losses are counted. */
  settleTimeoutMs?: number;
}

const TERMINAL = new Set(['delivered', 'read', 'failed', 'blocked']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** FAULT_VERBOSE=1 narrates each phase on stderr (the suite runs for minutes). */
export function narrate(text: string): void {
  if (process.env.FAULT_VERBOSE === '1') process.stderr.write(`[faults ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

interface Snapshot {
  messages: { id: string; status: string; reason: string | null; to_number: string; line_id: string | null; system_reply: boolean }[];
  events: { id: string; type: string; message_id: string | null }[];
  optOut: boolean | null;
}

async function snapshot(rig: FaultRig, tenant: PhaseTenant, stopNumber: string | null): Promise<Snapshot> {
  const owner = rig.db.owner;
  const messages = await owner('messages').where({ tenant_id: tenant.id, direction: 'outbound' }).select('id', 'status', 'reason', 'to_number', 'line_id', 'system_reply');
  const events = tenant.webhookPath ? await owner('webhook_events').where({ tenant_id: tenant.id }).select('id', 'type', 'message_id') : [];
  const optOut = stopNumber ? Boolean(await owner('opt_outs').where({ tenant_id: tenant.id, phone_number: stopNumber, active: true }).first('phone_number')) : null;
  return { messages, events, optOut };
}

function settled(rig: FaultRig, tenant: PhaseTenant, state: Snapshot, accepted: string[], stopNumber: string | null): boolean {
  if (state.messages.some((message) => !TERMINAL.has(message.status))) return false;
  const stored = new Set(state.messages.map((message) => message.id));
  if (accepted.some((id) => !stored.has(id))) return false;
  if (stopNumber && !state.optOut) return false;
  if (tenant.webhookPath) {
    const received = rig.receiver.events(tenant.webhookPath);
    if (state.events.some((event) => !received.has(event.id))) return false;
    const announced = new Set(state.events.filter((event) => event.type === 'message.delivered').map((event) => event.message_id));
    if (state.messages.some((message) => message.status === 'delivered' && !announced.has(message.id))) return false;
    if (stopNumber && !state.events.some((event) => event.type === 'opt_out.created')) return false;
  }
  return true;
}

const isDelivered = (message: { status: string }) => message.status === 'delivered' || message.status === 'read';

/**
 * Usage metering (shared/compliance/caps.ts): the tenant's daily counters must
 * count every delivered message once (STOP confirmations are system replies,
 * never counted) and every number once, whatever re-ran during the fault.
 */
async function meteringProblem(rig: FaultRig, tenant: PhaseTenant, messages: Snapshot['messages']): Promise<string | null> {
  const counted = messages.filter((message) => !message.system_reply && isDelivered(message));
  const expected = { messages: counted.length, newContacts: new Set(counted.map((message) => message.to_number)).size };
  const owner = rig.db.owner;
  const daily = (await owner('usage_daily')
    .where({ tenant_id: tenant.id })
    .first(owner.raw('coalesce(sum(messages), 0)::int AS messages'), owner.raw('coalesce(sum(new_contacts), 0)::int AS new_contacts'))) as { messages: number; new_contacts: number };
  const monthly = (await owner('usage_monthly').where({ tenant_id: tenant.id }).first(owner.raw('coalesce(sum(new_contacts), 0)::int AS new_contacts'))) as { new_contacts: number };
  if (daily.messages === expected.messages && daily.new_contacts === expected.newContacts && monthly.new_contacts === expected.newContacts) return null;
  return `usage counts ${daily.messages} messages / ${daily.new_contacts} new contacts a day, ${monthly.new_contacts} a month, for ${expected.messages} delivered messages to ${expected.newContacts} numbers`;
}

/** Sends seed messages one by one until every line of the tenant has delivered one (or 60 s pass). */
async function seed(rig: FaultRig, tenant: PhaseTenant, numberBase: number): Promise<{ accepted: string[]; candidates: { to_number: string; line_id: string }[] }> {
  const accepted: string[] = [];
  let candidates: { to_number: string; line_id: string }[] = [];
  const deadline = Date.now() + 60000;
  for (let i = 0; Date.now() < deadline; i += 1) {
    if (i < 24 && i % 2 === 0) {
      for (const offset of [0, 1]) {
        const res = await fetch(`${rig.url}/v1/messages`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${tenant.key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ to: `+1555${String(numberBase + i + offset).padStart(7, '0')}`, body: `seed ${tenant.label}` }),
        });
        const body = (await res.json()) as { data?: { message_id: string } };
        if (res.status === 202 && body.data) accepted.push(body.data.message_id);
      }
    }
    candidates = await rig.db.owner('messages').where({ tenant_id: tenant.id, direction: 'outbound', status: 'delivered' }).orderBy('id').select('to_number', 'line_id');
    if (tenant.lines.every((line) => candidates.some((candidate) => candidate.line_id === line.id))) break;
    await sleep(250);
  }
  return { accepted, candidates };
}

/** Runs load, the fault (`inject`), the settling, and counts what went wrong. Never throws for a loss: the row says it. */
export async function runFaultPhase(
  rig: FaultRig,
  tenant: PhaseTenant,
  fault: string,
  options: PhaseOptions,
  inject: (context: FaultContext) => Promise<void>,
): Promise<FaultRow> {
  const notes: string[] = [];
  const checks: (() => Promise<string[]>)[] = [];
  const droppedBefore = rig.simulatorLog.filter((line) => line.includes('platform rejected events')).length;
  let stopNumber: string | null = null;

  // Seeds before the load: a few messages until every line delivered one, so
  // that a recipient of each line can send STOP during the fault.
  const seeds = await seed(rig, tenant, options.numberBase + 90000);
  const candidates = seeds.candidates;
  const load = startLoad(rig, tenant, options.rate, options.numberBase);
  await sleep((options.leadSeconds ?? 3) * 1000);

  const context: FaultContext = {
    rig,
    tenant,
    numberBase: options.numberBase,
    note: (text) => notes.push(text),
    verify: (check) => checks.push(check),
    stopLines: () => [...new Set(candidates.map((candidate) => candidate.line_id))],
    sendStop(lineId) {
      const row = candidates.find((candidate) => !lineId || candidate.line_id === lineId);
      if (!row) {
        notes.push('no delivered recipient to send STOP from');
        return;
      }
      stopNumber = row.to_number;
      rig.simulator.inbound({ line_id: row.line_id, from: row.to_number, body: 'STOP' });
    },
  };

  narrate(`${fault}: injecting (${candidates.length} STOP candidates)`);
  let injectError: Error | null = null;
  try {
    await inject(context);
  } catch (error) {
    injectError = error as Error;
    notes.push(`fault injection failed: ${injectError.message}`);
  }
  const faultOver = Date.now();
  await sleep((options.trailSeconds ?? 3) * 1000);
  const result = await load.stop();
  result.accepted.push(...seeds.accepted);
  narrate(`${fault}: load stopped: ${result.accepted.length} accepted, refused ${JSON.stringify(result.refused)}; settling`);

  // The phase's own checks run only once everything else has settled, and at most every 2 s.
  let checkProblems: string[] = [];
  let checkedAt = 0;
  const runChecks = async (force = false): Promise<boolean> => {
    if (checks.length === 0) return true;
    if (!force && Date.now() - checkedAt < 2000) return false;
    checkedAt = Date.now();
    const answers: string[] = [];
    for (const check of checks) answers.push(...(await check().catch((error: Error) => [`check failed: ${error.message}`])));
    checkProblems = answers;
    return answers.length === 0;
  };
  let state = await snapshot(rig, tenant, stopNumber);
  const settleDeadline = Date.now() + (options.settleTimeoutMs ?? 120000);
  let converged = settled(rig, tenant, state, result.accepted, stopNumber) && (await runChecks());
  let lastReport = Date.now();
  while (!converged && Date.now() < settleDeadline) {
    await sleep(500);
    state = await snapshot(rig, tenant, stopNumber).catch(() => state);
    converged = settled(rig, tenant, state, result.accepted, stopNumber) && (await runChecks());
    if (Date.now() - lastReport > 10000) {
      lastReport = Date.now();
      const counts: Record<string, number> = {};
      for (const message of state.messages) counts[message.status] = (counts[message.status] ?? 0) + 1;
      const received = tenant.webhookPath ? rig.receiver.events(tenant.webhookPath).size : 0;
      const pending = checkProblems.length > 0 ? `, checks at ${new Date(checkedAt).toISOString().slice(11, 19)}: ${checkProblems.join('; ')}` : '';
      narrate(`${fault}: waiting: ${JSON.stringify(counts)}, opt-out ${state.optOut}, events ${state.events.length} stored / ${received} received${pending}`);
    }
  }
  // Checks never met before the deadline: their last answer, or a first one if the messages never settled.
  if (!converged && checks.length > 0 && checkedAt === 0) await runChecks(true);
  const recoverySeconds = Math.round((Date.now() - faultOver) / 100) / 10;
  if (!converged) notes.push(`not settled ${Math.round((options.settleTimeoutMs ?? 120000) / 1000)} s after the fault`);

  // Lost: accepted but never stored, or stored and not delivered (nothing in these runs should fail).
  const stored = new Map(state.messages.map((message) => [message.id, message]));
  const lostIds = new Set<string>();
  for (const id of result.accepted) if (!stored.has(id)) lostIds.add(id);
  for (const message of state.messages) if (message.status !== 'delivered' && message.status !== 'read') lostIds.add(message.id);
  const statuses: Record<string, number> = {};
  for (const message of state.messages) {
    const key = message.reason && message.status !== 'delivered' ? `${message.status}:${message.reason}` : message.status;
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  if (lostIds.size > 0) notes.push(`statuses ${JSON.stringify(statuses)}`);
  // Lines of this phase the sweep declared offline (from the maintenance process's recent output).
  const swept = (rig.processes.get('maintenance')?.tail ?? []).filter((line) => line.includes('went offline') && tenant.lines.some((phoneLine) => line.includes(phoneLine.id))).length;
  if (swept > 0) notes.push(`sweep marked this phase's lines offline ${swept}×`);

  // Dispatched twice: more than one dispatch id reached the bridge for one message.
  const dispatches = new Map<string, Set<string>>();
  for (const send of rig.simulator.sends()) {
    if (!stored.has(send.message_id)) continue;
    dispatches.set(send.message_id, (dispatches.get(send.message_id) ?? new Set()).add(send.dispatch_id));
  }
  const dispatchedTwice = [...dispatches.values()].filter((ids) => ids.size > 1).length;
  const neverPushed = state.messages.filter((message) => message.status === 'delivered' && !dispatches.has(message.id)).length;
  if (neverPushed > 0) notes.push(`${neverPushed} delivered without a send at the bridge`);

  // Webhooks: every recorded event reached the receiver; every delivered message was announced once.
  let webhooksLost = 0;
  let duplicateEvents = 0;
  let redelivered = 0;
  if (tenant.webhookPath) {
    const received = rig.receiver.events(tenant.webhookPath);
    for (const event of state.events) if (!received.has(event.id)) webhooksLost += 1;
    const perMessage = new Map<string, number>();
    for (const event of state.events) {
      if (event.type !== 'message.delivered' || !event.message_id) continue;
      perMessage.set(event.message_id, (perMessage.get(event.message_id) ?? 0) + 1);
    }
    for (const message of state.messages) if (message.status === 'delivered' && !perMessage.has(message.id)) webhooksLost += 1;
    const storedTwice = [...perMessage.values()].filter((count) => count > 1).length;
    const deliveredAt = new Map<string, number>();
    for (const event of received.values()) {
      if (event.type === 'message.delivered' && event.messageId) deliveredAt.set(event.messageId, (deliveredAt.get(event.messageId) ?? 0) + 1);
      if (event.count > 1) redelivered += event.count - 1;
    }
    // The same duplication seen at the receiver: two event ids announcing one message's delivery.
    duplicateEvents = Math.max(storedTwice, [...deliveredAt.values()].filter((count) => count > 1).length);
    if (stopNumber && ![...received.values()].some((event) => event.type === 'opt_out.created' && event.phoneNumber === stopNumber)) {
      webhooksLost += 1;
      notes.push('opt_out.created never reached the receiver');
    }
  }

  const metering = await meteringProblem(rig, tenant, state.messages).catch((error: Error) => `usage not read: ${error.message}`);
  if (metering) notes.push(metering);

  const droppedDeviceEvents = rig.simulatorLog.filter((line) => line.includes('platform rejected events')).length - droppedBefore;
  const refused = Object.entries(result.refused)
    .map(([status, count]) => `${count}×${status}`)
    .join(' ');
  return {
    fault,
    accepted: result.accepted.length,
    refused: refused || '-',
    messages: state.messages.length,
    delivered: state.messages.filter(isDelivered).length,
    lost: lostIds.size,
    dispatchedTwice,
    webhookEvents: state.events.length,
    webhooksLost,
    duplicateEvents,
    redelivered,
    optOutKept: stopNumber ? state.optOut : null,
    droppedDeviceEvents,
    metering: metering ? 'OFF' : 'exact',
    checks: checkProblems,
    recoverySeconds,
    note: [...notes, ...checkProblems].join('; '),
  };
}

export function rowProblems(row: FaultRow): string[] {
  const problems: string[] = [];
  if (row.accepted === 0) problems.push('no message was accepted: the load never ran');
  if (row.lost > 0) problems.push(`${row.lost} message(s) lost or not delivered`);
  if (row.dispatchedTwice > 0) problems.push(`${row.dispatchedTwice} message(s) dispatched twice`);
  if (row.webhooksLost > 0) problems.push(`${row.webhooksLost} webhook event(s) lost`);
  if (row.duplicateEvents > 0) problems.push(`${row.duplicateEvents} message(s) announced by more than one event`);
  if (row.optOutKept !== true) problems.push(row.optOutKept === null ? 'no STOP was sent' : 'the opt-out was lost');
  if (row.droppedDeviceEvents > 0) problems.push(`${row.droppedDeviceEvents} device event post(s) rejected and dropped`);
  if (row.metering !== 'exact') problems.push('usage not metered exactly once (see the note)');
  problems.push(...row.checks);
  return problems;
}

export function formatTable(rows: FaultRow[]): string {
  const header = ['fault', 'accepted', 'refused (status)', 'stored', 'delivered', 'lost', 'sent twice', 'hook events', 'hooks lost', 'dup events', 'redelivered', 'opt-out kept', 'dropped dev. events', 'usage', 'settled after s', 'note'];
  const cells = rows.map((row) => [
    row.fault,
    String(row.accepted),
    row.refused,
    String(row.messages),
    String(row.delivered),
    String(row.lost),
    String(row.dispatchedTwice),
    String(row.webhookEvents),
    String(row.webhooksLost),
    String(row.duplicateEvents),
    String(row.redelivered),
    row.optOutKept === null ? '-' : row.optOutKept ? 'yes' : 'NO',
    String(row.droppedDeviceEvents),
    row.metering,
    String(row.recoverySeconds),
    row.note,
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i].length)));
  const line = (values: string[]) => '| ' + values.map((value, i) => value.padEnd(widths[i])).join(' | ') + ' |';
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
}
