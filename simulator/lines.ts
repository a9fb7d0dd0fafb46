// What the simulated bridge knows and does, apart from HTTP: the registered lines with their
// outboxes and heartbeats, the scripted behaviour (latencies, injected failures, capability rules),
// the sends it accepted (one per dispatch_id) and the reports each one plays out. The protocol and
// control modules call these functions with the one SimulatorState that server.ts creates.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { getBytes } from './http';
import { type ConfigPatch, type SimulatorConfig, ConfigError, applyConfigPatch, cloneConfig } from './config';
import { type OutgoingEvent, type Outbox, MAX_EVENTS_PER_POST, createOutbox, newEventId } from './outbox';
import { isE164, numberMatchesRule } from './rules';
import {
  type Channel,
  type InboundInput,
  type InboundMediaInput,
  type LineRegistration,
  type LineSummary,
  type LineUpdate,
  type RawEventInput,
  type ReceivedMedia,
  type SendMedia,
  type SendRecord,
  type SendRequest,
  CHANNELS,
  inputError,
} from './types';

export type Phase = 'created' | 'running' | 'stopped';

export interface LineState {
  line_id: string;
  phone_number: string;
  secret: string;
  offline: boolean;
  outbox: Outbox;
  heartbeatTimer: NodeJS.Timeout | null;
  heartbeats: number;
}

export type AcceptedSend = Omit<SendRecord, 'attempts'>;

export interface LineSettings {
  /** `${platformUrl}/device/v1/events` */
  eventsUrl: string;
  /** 0 disables heartbeats (also the one sent on registration). */
  heartbeatIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  eventPostTimeoutMs: number;
  eventFlushMs: number;
  /** Aborts event posts in flight once stop() has waited long enough. */
  stopSignal: AbortSignal;
  logger: Logger;
}

export interface SimulatorState {
  readonly settings: LineSettings;
  /** Events are posted and reports scheduled only while running. */
  phase: Phase;
  /** The config the options set; reset() goes back to it. */
  readonly initialConfig: SimulatorConfig;
  config: SimulatorConfig;
  readonly lines: Map<string, LineState>;
  /** Accepted sends by dispatch_id: a repeated dispatch_id is answered without sending again. */
  readonly accepted: Map<string, AcceptedSend>;
  /** The first accepted send of each message, for lookups that must not copy every record. */
  readonly firstByMessage: Map<string, AcceptedSend>;
  readonly pushesByDispatch: Map<string, number>;
  totalPushes: number;
  readonly reportTimers: Set<NodeJS.Timeout>;
  /** Pushes held by `hangMs`; stop() wakes them. */
  readonly hangs: Set<{ timer: NodeJS.Timeout; wake: () => void }>;
}

const LINE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const MIN_RECOMMENDED_SECRET_LENGTH = 32;

export function createState(settings: LineSettings, initialConfig: SimulatorConfig): SimulatorState {
  return {
    settings,
    phase: 'created',
    initialConfig,
    config: cloneConfig(initialConfig),
    lines: new Map(),
    accepted: new Map(),
    firstByMessage: new Map(),
    pushesByDispatch: new Map(),
    totalPushes: 0,
    reportTimers: new Set(),
    hangs: new Set(),
  };
}

function nowIso(): string {
  return new Date().toISOString();
}

// ---------- lines ----------

export function requireLine(state: SimulatorState, lineId: unknown): LineState {
  const line = typeof lineId === 'string' ? state.lines.get(lineId) : undefined;
  if (!line) throw inputError(404, 'unknown_line', `no line "${String(lineId)}" is registered`);
  return line;
}

export function summarize(line: LineState): LineSummary {
  return {
    line_id: line.line_id,
    phone_number: line.phone_number,
    offline: line.offline,
    pending_events: line.outbox.pendingCount(),
    heartbeats: line.heartbeats,
  };
}

export function listLines(state: SimulatorState): LineSummary[] {
  return [...state.lines.values()].map(summarize);
}

function assertNumberFree(state: SimulatorState, phoneNumber: string, lineId: string): void {
  for (const other of state.lines.values()) {
    if (other.phone_number === phoneNumber && other.line_id !== lineId) {
      throw inputError(409, 'number_taken', `line "${other.line_id}" already has ${phoneNumber}`);
    }
  }
}

function validateSecret(state: SimulatorState, secret: unknown, lineId: string): string {
  if (typeof secret !== 'string' || secret.length === 0) throw inputError(400, 'invalid_secret', 'secret must be a non-empty string');
  if (secret.length < MIN_RECOMMENDED_SECRET_LENGTH) {
    state.settings.logger.warn({ line_id: lineId }, 'line secret is shorter than the 32 bytes the protocol asks for');
  }
  return secret;
}

export function registerLine(state: SimulatorState, registration: LineRegistration): LineSummary {
  const { settings } = state;
  const input = registration as Partial<Record<keyof LineRegistration, unknown>>;
  if (typeof input.line_id !== 'string' || !LINE_ID_PATTERN.test(input.line_id)) {
    throw inputError(400, 'invalid_line_id', 'line_id must be 1-128 characters of letters, digits, . _ : -');
  }
  if (!isE164(input.phone_number)) throw inputError(400, 'invalid_phone_number', 'phone_number must be E.164');
  if (input.offline !== undefined && typeof input.offline !== 'boolean') {
    throw inputError(400, 'invalid_offline', 'offline must be a boolean');
  }
  const lineId = input.line_id;
  const secret = validateSecret(state, input.secret, lineId);
  assertNumberFree(state, input.phone_number, lineId);

  const existing = state.lines.get(lineId);
  if (existing) {
    existing.phone_number = input.phone_number;
    existing.secret = secret;
    if (input.offline !== undefined && input.offline !== existing.offline) setOffline(state, existing, input.offline);
    settings.logger.info({ line_id: lineId }, 'line updated');
    return summarize(existing);
  }

  const line: LineState = {
    line_id: lineId,
    phone_number: input.phone_number,
    secret,
    offline: input.offline ?? false,
    heartbeatTimer: null,
    heartbeats: 0,
    outbox: createOutbox({
      eventsUrl: settings.eventsUrl,
      lineId,
      currentSecret: () => line.secret,
      isPaused: () => line.offline || state.phase !== 'running',
      logger: settings.logger,
      retryInitialMs: settings.retryInitialMs,
      retryMaxMs: settings.retryMaxMs,
      requestTimeoutMs: settings.eventPostTimeoutMs,
      flushMs: settings.eventFlushMs,
      stopSignal: settings.stopSignal,
    }),
  };
  state.lines.set(lineId, line);
  settings.logger.info({ line_id: lineId, offline: line.offline }, 'line registered');
  if (state.phase === 'running' && !line.offline) startHeartbeats(state, line);
  return summarize(line);
}

export function updateLine(state: SimulatorState, lineId: string, update: LineUpdate): LineSummary {
  const line = requireLine(state, lineId);
  const input = update as Partial<Record<keyof LineUpdate, unknown>>;
  if (input.phone_number !== undefined) {
    if (!isE164(input.phone_number)) throw inputError(400, 'invalid_phone_number', 'phone_number must be E.164');
    assertNumberFree(state, input.phone_number, lineId);
  }
  if (input.offline !== undefined && typeof input.offline !== 'boolean') {
    throw inputError(400, 'invalid_offline', 'offline must be a boolean');
  }
  const secret = input.secret === undefined ? undefined : validateSecret(state, input.secret, lineId);
  if (input.phone_number !== undefined) line.phone_number = input.phone_number;
  if (secret !== undefined) line.secret = secret;
  if (input.offline !== undefined && input.offline !== line.offline) setOffline(state, line, input.offline);
  return summarize(line);
}

export function removeLine(state: SimulatorState, lineId: string): boolean {
  const line = state.lines.get(lineId);
  if (!line) return false;
  stopHeartbeats(line);
  line.outbox.close();
  state.lines.delete(lineId);
  state.settings.logger.info({ line_id: lineId }, 'line removed');
  return true;
}

function setOffline(state: SimulatorState, line: LineState, offline: boolean): void {
  line.offline = offline;
  state.settings.logger.info({ line_id: line.line_id, offline }, offline ? 'line went offline' : 'line came back online');
  if (offline) {
    stopHeartbeats(line);
    return;
  }
  if (state.phase === 'running') {
    startHeartbeats(state, line);
    line.outbox.kick();
  }
}

/** On start: heartbeats begin on every online line and events queued before the start go out. */
export function startLines(state: SimulatorState): void {
  state.phase = 'running';
  for (const line of state.lines.values()) {
    if (!line.offline) startHeartbeats(state, line);
    line.outbox.kick();
  }
}

/** On stop: no more reports, held pushes are released, heartbeats stop and outboxes close. */
export function stopLines(state: SimulatorState): void {
  state.phase = 'stopped';
  for (const timer of state.reportTimers) clearTimeout(timer);
  state.reportTimers.clear();
  for (const hang of state.hangs) {
    clearTimeout(hang.timer);
    hang.wake();
  }
  state.hangs.clear();
  for (const line of state.lines.values()) {
    stopHeartbeats(line);
    line.outbox.close();
  }
}

/** True when no report is scheduled and no line has an event to post (offline lines' events may wait). */
export function linesIdle(state: SimulatorState): boolean {
  if (state.reportTimers.size > 0) return false;
  for (const line of state.lines.values()) {
    if (line.outbox.isBusy()) return false;
    if (line.outbox.pendingCount() > 0 && !line.offline) return false;
  }
  return true;
}

// ---------- events ----------

function emitHeartbeat(state: SimulatorState, line: LineState): string {
  const event: OutgoingEvent = { id: newEventId(), type: 'heartbeat', occurred_at: nowIso(), ...(state.config.heartbeat ?? {}) };
  line.heartbeats += 1;
  line.outbox.enqueue([event]);
  return event.id;
}

function startHeartbeats(state: SimulatorState, line: LineState): void {
  stopHeartbeats(line);
  const intervalMs = state.settings.heartbeatIntervalMs;
  if (intervalMs <= 0) return;
  emitHeartbeat(state, line);
  line.heartbeatTimer = setInterval(() => {
    if (!line.offline) emitHeartbeat(state, line);
  }, intervalMs);
}

function stopHeartbeats(line: LineState): void {
  if (line.heartbeatTimer) clearInterval(line.heartbeatTimer);
  line.heartbeatTimer = null;
}

function later(state: SimulatorState, delayMs: number, action: () => void): void {
  if (state.phase === 'stopped') return;
  const timer = setTimeout(() => {
    state.reportTimers.delete(timer);
    action();
  }, delayMs);
  state.reportTimers.add(timer);
}

/** Plays out sent → delivered (→ read), or failed, each step after its own delay. */
function scheduleReports(state: SimulatorState, send: AcceptedSend): void {
  const outcome = state.config.outcomes[send.to];
  if (outcome?.silent) return;
  const latency = { ...state.config.latencyMs };
  const steps: Array<{ type: string; delayMs: number; reason?: string }> = [];
  if (outcome?.fail !== undefined && (outcome.failOn === undefined || outcome.failOn === send.channel)) {
    if (outcome.failAfterSent) steps.push({ type: 'sent', delayMs: latency.sent });
    steps.push({ type: 'failed', delayMs: outcome.failAfterSent ? latency.delivered : latency.sent, reason: outcome.fail });
  } else {
    steps.push({ type: 'sent', delayMs: latency.sent }, { type: 'delivered', delayMs: latency.delivered });
    if (latency.read !== null) steps.push({ type: 'read', delayMs: latency.read });
  }

  const runStep = (index: number): void => {
    const step = steps[index];
    if (!step) return;
    later(state, step.delayMs, () => {
      const line = state.lines.get(send.line_id);
      if (!line) {
        state.settings.logger.warn({ line_id: send.line_id, dispatch_id: send.dispatch_id, type: step.type }, 'line removed; report dropped');
        return;
      }
      const event: OutgoingEvent = { id: newEventId(), type: step.type, occurred_at: nowIso(), dispatch_id: send.dispatch_id };
      if (step.reason !== undefined) event.reason = step.reason;
      send.reported.push(step.type);
      line.outbox.enqueue([event]);
      runStep(index + 1);
    });
  };
  runStep(0);
}

/** At most this many attachments on one inbound message (the protocol's limit). */
const MAX_INBOUND_MEDIA = 10;

/** An inbound message's attachments: URLs or `{url, content_type?, size?, filename?}`, checked and passed on as given. */
function inboundMedia(raw: unknown): InboundMediaInput[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > MAX_INBOUND_MEDIA) {
    throw inputError(400, 'invalid_media', `media must be an array of at most ${MAX_INBOUND_MEDIA} URLs or {url, content_type?, size?, filename?}`);
  }
  return raw.map((item: unknown, index): InboundMediaInput => {
    const entry = (typeof item === 'string' ? { url: item } : item) as Partial<Record<keyof InboundMediaInput, unknown>> | null;
    if (!entry || typeof entry !== 'object' || typeof entry.url !== 'string' || !/^https?:\/\/\S+$/i.test(entry.url)) {
      throw inputError(400, 'invalid_media', `media[${index}] must be an http(s) URL`);
    }
    const out: InboundMediaInput = { url: entry.url };
    if (typeof entry.content_type === 'string') out.content_type = entry.content_type;
    if (typeof entry.size === 'number') out.size = entry.size;
    if (typeof entry.filename === 'string') out.filename = entry.filename;
    return out;
  });
}

export function inbound(state: SimulatorState, input: InboundInput): { event_id: string } {
  const fields = input as Partial<Record<keyof InboundInput, unknown>>;
  const line = requireLine(state, fields.line_id);
  if (!isE164(fields.from)) throw inputError(400, 'invalid_from', 'from must be an E.164 number');
  const media = inboundMedia(fields.media);
  const body = fields.body ?? '';
  if (typeof body !== 'string' || (body.length === 0 && media.length === 0)) {
    throw inputError(400, 'invalid_body', 'body must be a non-empty string (it may be empty when media is given)');
  }
  const channel = fields.channel ?? 'imessage';
  if (!CHANNELS.includes(channel as Channel)) throw inputError(400, 'invalid_channel', 'channel must be imessage, rcs or sms');
  const event: OutgoingEvent = {
    id: newEventId(),
    type: 'received',
    occurred_at: nowIso(),
    from: fields.from,
    to: line.phone_number,
    body,
    channel,
  };
  if (media.length > 0) event.media = media;
  line.outbox.enqueue([event]);
  state.settings.logger.info({ line_id: line.line_id, event_id: event.id, channel, media: media.length }, 'inbound message queued');
  return { event_id: event.id };
}

export function emitEvents(state: SimulatorState, lineId: string, events: RawEventInput[]): { event_ids: string[] } {
  const line = requireLine(state, lineId);
  if (!Array.isArray(events) || events.length === 0 || events.length > MAX_EVENTS_PER_POST) {
    throw inputError(400, 'invalid_events', `events must be an array of 1 to ${MAX_EVENTS_PER_POST} objects`);
  }
  const outgoing = events.map((raw, index): OutgoingEvent => {
    if (raw === null || typeof raw !== 'object' || typeof raw.type !== 'string') {
      throw inputError(400, 'invalid_events', `events[${index}] needs a string type`);
    }
    return { ...raw, id: raw.id ?? newEventId(), occurred_at: raw.occurred_at ?? nowIso(), type: raw.type };
  });
  line.outbox.enqueue(outgoing);
  return { event_ids: outgoing.map((event) => event.id) };
}

export function heartbeat(state: SimulatorState, lineId: string): { event_id: string } {
  const line = requireLine(state, lineId);
  if (line.offline) throw inputError(409, 'line_offline', 'an offline line sends no heartbeat');
  return { event_id: emitHeartbeat(state, line) };
}

// ---------- config and inspection ----------

export function configure(state: SimulatorState, patch: ConfigPatch): SimulatorConfig {
  try {
    state.config = applyConfigPatch(state.config, patch);
  } catch (err) {
    if (err instanceof ConfigError) throw inputError(400, 'invalid_config', err.message);
    throw err;
  }
  state.settings.logger.info({ keys: Object.keys(patch) }, 'config changed');
  return cloneConfig(state.config);
}

export function reset(state: SimulatorState): void {
  state.config = cloneConfig(state.initialConfig);
  state.accepted.clear();
  state.firstByMessage.clear();
  state.pushesByDispatch.clear();
  state.totalPushes = 0;
  state.settings.logger.info('sends and config reset');
}

function sendRecord(state: SimulatorState, send: AcceptedSend): SendRecord {
  return { ...send, reported: [...send.reported], attempts: state.pushesByDispatch.get(send.dispatch_id) ?? 0 };
}

export function sends(state: SimulatorState): SendRecord[] {
  return [...state.accepted.values()].map((send) => sendRecord(state, send));
}

/** The first accepted send of a message, without copying the others. */
export function firstSendOf(state: SimulatorState, messageId: string): SendRecord | null {
  const send = state.firstByMessage.get(messageId);
  return send ? sendRecord(state, send) : null;
}

// ---------- sends ----------

/** What the bridge does with a push: answer it, cut the connection, or nothing (stopped while held). */
export type SendAnswer =
  | { kind: 'answer'; status: number; body: Record<string, unknown> }
  | { kind: 'drop_connection' }
  | { kind: 'none' };

const answer = (status: number, body: Record<string, unknown>): SendAnswer => ({ kind: 'answer', status, body });

function injectedStatusBody(status: number, channel: Channel): Record<string, unknown> {
  if (status === 429) return { error: 'busy' };
  if (status === 422) return { error: channel === 'rcs' ? 'not_rcs' : 'not_imessage' };
  if (status >= 500) return { error: 'unavailable' };
  if (status >= 400) return { error: 'rejected' };
  return { accepted: status >= 200 && status < 300 };
}

function waitForHang(state: SimulatorState, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const entry = {
      timer: setTimeout(() => {
        state.hangs.delete(entry);
        resolve();
      }, ms),
      wake: () => resolve(),
    };
    state.hangs.add(entry);
  });
}

/**
 * A signed, well-formed push for this line. It is counted, then the scripted behaviour decides:
 * offline, injected failures, a repeated dispatch_id (202 again, nothing sent), a recipient's
 * outcome, the capability rules; otherwise it is accepted and its reports are scheduled.
 */
export async function receiveSend(state: SimulatorState, line: LineState, request: SendRequest): Promise<SendAnswer> {
  const { logger } = state.settings;
  const logContext = { line_id: line.line_id, dispatch_id: request.dispatch_id, channel: request.channel };
  state.totalPushes += 1;
  state.pushesByDispatch.set(request.dispatch_id, (state.pushesByDispatch.get(request.dispatch_id) ?? 0) + 1);

  if (line.offline) return answer(503, { error: 'offline' });
  if (state.config.dropConnectionNext > 0) {
    state.config.dropConnectionNext -= 1;
    logger.info(logContext, 'injected: dropping the connection without an answer');
    return { kind: 'drop_connection' };
  }
  if (state.config.hangMs > 0) {
    logger.info({ ...logContext, hang_ms: state.config.hangMs }, 'injected: holding the answer');
    await waitForHang(state, state.config.hangMs);
    if (state.phase === 'stopped') return { kind: 'none' };
  }
  // state.config is read again here: a configure() or reset() while the push was held applies.
  const injectedStatus = state.config.httpStatusQueue.shift();
  if (injectedStatus !== undefined) {
    logger.info({ ...logContext, status: injectedStatus }, 'injected: answering a queued status without sending');
    return answer(injectedStatus, injectedStatusBody(injectedStatus, request.channel));
  }
  if (state.accepted.has(request.dispatch_id)) {
    logger.info(logContext, 'duplicate dispatch; answered without sending again');
    return answer(202, { accepted: true });
  }
  const outcome = state.config.outcomes[request.to];
  if (outcome?.status !== undefined) {
    logger.info({ ...logContext, status: outcome.status }, 'injected: recipient outcome status');
    return answer(outcome.status, injectedStatusBody(outcome.status, request.channel));
  }
  if (request.channel === 'imessage' && !numberMatchesRule(state.config.imessageRule, request.to)) {
    return answer(422, { error: 'not_imessage' });
  }
  if (request.channel === 'rcs' && !numberMatchesRule(state.config.rcsRule, request.to)) {
    return answer(422, { error: 'not_rcs' });
  }

  let media: ReceivedMedia[] | undefined;
  if (request.media && request.media.length > 0) {
    if (request.channel === 'sms') return answer(422, { error: 'media_not_supported' });
    // A phone needs the attachment itself: download each one, as a real bridge would, before taking the push.
    try {
      media = await downloadMedia(request.media);
    } catch (error) {
      logger.warn({ ...logContext, reason: (error as Error).message }, 'attachment download failed');
      return answer(422, { error: 'media_unavailable' });
    }
    // The same dispatch pushed again while this one downloaded: it was taken once, answer as a duplicate.
    if (state.accepted.has(request.dispatch_id)) return answer(202, { accepted: true });
  }

  const send: AcceptedSend = {
    ...(media ? { media } : {}),
    dispatch_id: request.dispatch_id,
    message_id: request.message_id,
    line_id: request.line_id,
    from: request.from,
    to: request.to,
    body: request.body,
    channel: request.channel,
    received_at: nowIso(),
    reported: [],
  };
  state.accepted.set(send.dispatch_id, send);
  if (!state.firstByMessage.has(send.message_id)) state.firstByMessage.set(send.message_id, send);
  logger.info(logContext, 'send accepted');
  // Reports are timers: the first can fire only after the 202 below has been written.
  scheduleReports(state, send);
  return answer(202, { accepted: true });
}

async function downloadMedia(items: SendMedia[]): Promise<ReceivedMedia[]> {
  const out: ReceivedMedia[] = [];
  for (const item of items) {
    const { content } = await getBytes(item.url, 5000);
    if (content.length !== item.size) throw new Error(`attachment is ${content.length} bytes, the push said ${item.size}`);
    out.push({ ...item, downloaded_size: content.length, sha256: crypto.createHash('sha256').update(content).digest('hex') });
  }
  return out;
}

/** The capability rules' answer for each number (SMS is always possible). */
export function capabilitiesOf(state: SimulatorState, numbers: string[]): { number: string; imessage: boolean; sms: true; rcs: boolean }[] {
  return numbers.map((number) => ({
    number,
    imessage: numberMatchesRule(state.config.imessageRule, number),
    sms: true,
    rcs: numberMatchesRule(state.config.rcsRule, number),
  }));
}
