// A fake phone-line bridge serving many lines from one process. It speaks DEVICE-PROTOCOL.md
// (version 1) on /lines/<line>/v1/* and reports back to the platform's /device/v1/events, with
// control endpoints under /control/* for tests and demos. It deliberately shares no code with the
// platform.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Logger } from 'pino';
import {
  type ConfigPatch,
  type SimulatorConfig,
  CONFIG_KEYS,
  ConfigError,
  applyConfigPatch,
  cloneConfig,
  defaultConfig,
} from './config';
import { type OutgoingEvent, type Outbox, MAX_EVENTS_PER_POST, createOutbox, newEventId } from './outbox';
import { isE164, numberMatchesRule } from './rules';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, safeEqualStrings, verifySignature } from './signing';

export type { ConfigPatch, SimulatorConfig, LatencySettings, NumberOutcome, HeartbeatFields } from './config';
export type { NumberRule } from './rules';
export type { OutgoingEvent } from './outbox';

export type Channel = 'imessage' | 'rcs' | 'sms';
const CHANNELS: readonly Channel[] = ['imessage', 'rcs', 'sms'];

export interface LineRegistration {
  line_id: string;
  phone_number: string;
  secret: string;
  offline?: boolean;
}

export interface LineUpdate {
  phone_number?: string;
  secret?: string;
  offline?: boolean;
}

export interface LineSummary {
  line_id: string;
  phone_number: string;
  offline: boolean;
  pending_events: number;
  heartbeats: number;
}

export interface SendRecord {
  dispatch_id: string;
  message_id: string;
  line_id: string;
  from: string;
  to: string;
  body: string;
  channel: Channel;
  received_at: string;
  /** How many signed, well-formed `/v1/send` requests carried this dispatch_id (including refused ones). */
  attempts: number;
  /** Event types reported so far for this dispatch, in order. */
  reported: string[];
}

export interface InboundInput {
  line_id: string;
  from: string;
  body: string;
  channel?: Channel;
}

/** An event to emit as-is; `id` and `occurred_at` are filled in when absent. */
export type RawEventInput = { type: string; id?: string; occurred_at?: string; [field: string]: unknown };

export interface SimulatorOptions extends ConfigPatch {
  /** Default 4010; 0 picks a free port. */
  port?: number;
  host?: string;
  /** Base URL of the platform; events go to `${platformUrl}/device/v1/events`. */
  platformUrl?: string;
  /** Default 30000; 0 disables heartbeats (also the one sent on registration). */
  heartbeatIntervalMs?: number;
  /** When set, /control/* requires header `X-Simulator-Token` with this value. */
  controlToken?: string;
  logger?: Logger;
  lines?: LineRegistration[];
  /** First retry delay of a failed event post (doubles each time). Default 200. */
  retryInitialMs?: number;
  /** Largest retry delay. Default 5000. */
  retryMaxMs?: number;
  /** An event post without an answer this long counts as failed. Default 10000. */
  eventPostTimeoutMs?: number;
  /** How long stop() waits for event posts in flight. Default 2000. */
  stopTimeoutMs?: number;
}

export interface Simulator {
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
  /** Base URL once started, else null. */
  url(): string | null;
  registerLine(line: LineRegistration): LineSummary;
  updateLine(lineId: string, update: LineUpdate): LineSummary;
  removeLine(lineId: string): boolean;
  listLines(): LineSummary[];
  setLineOffline(lineId: string, offline: boolean): LineSummary;
  /** Emits a `received` event (to = the line's number). */
  inbound(input: InboundInput): { event_id: string };
  /** Emits arbitrary events for a line, e.g. a report naming another line's dispatch. */
  emitEvents(lineId: string, events: RawEventInput[]): { event_ids: string[] };
  /** Emits one heartbeat now. */
  heartbeat(lineId: string): { event_id: string };
  configure(patch: ConfigPatch): SimulatorConfig;
  getConfig(): SimulatorConfig;
  /** Forgets sends and pushes, and puts the config back to what the options set. Lines stay. */
  reset(): void;
  sends(): SendRecord[];
  /** Signed, well-formed `/v1/send` requests received (every push, accepted or not). */
  pushCount(): number;
  /** Resolves when no report is scheduled, no event is waiting and no request is in progress. */
  whenIdle(timeoutMs?: number): Promise<void>;
}

/** A refusal of bad input to a control helper; the HTTP control endpoints answer with `status`. */
export interface SimulatorInputError extends Error {
  status: number;
  code: string;
}

export function isSimulatorInputError(err: unknown): err is SimulatorInputError {
  return err instanceof Error && typeof (err as Partial<SimulatorInputError>).status === 'number';
}

function inputError(status: number, code: string, message: string): SimulatorInputError {
  return Object.assign(new Error(message), { status, code });
}

interface LineState {
  line_id: string;
  phone_number: string;
  secret: string;
  offline: boolean;
  outbox: Outbox;
  heartbeatTimer: NodeJS.Timeout | null;
  heartbeats: number;
}

type AcceptedSend = Omit<SendRecord, 'attempts'>;

type ProtocolEndpoint = 'send' | 'capabilities' | 'health';

const MAX_BODY_BYTES = 1024 * 1024;
const LINE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const MIN_RECOMMENDED_SECRET_LENGTH = 32;

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 4010;
  const platformUrl = (options.platformUrl ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  const eventsUrl = `${platformUrl}/device/v1/events`;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 30_000;
  const logger = options.logger ?? pino({ name: 'device-simulator', level: process.env.LOG_LEVEL ?? 'info' });
  const controlToken = options.controlToken;
  const retryInitialMs = options.retryInitialMs ?? 200;
  const retryMaxMs = options.retryMaxMs ?? 5_000;
  const eventPostTimeoutMs = options.eventPostTimeoutMs ?? 10_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 2_000;

  const initialPatch: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    if (options[key] !== undefined) initialPatch[key] = options[key];
  }
  const initialConfig = applyConfigPatch(defaultConfig(), initialPatch);
  let config = cloneConfig(initialConfig);

  const lines = new Map<string, LineState>();
  const accepted = new Map<string, AcceptedSend>();
  const pushesByDispatch = new Map<string, number>();
  let totalPushes = 0;
  const reportTimers = new Set<NodeJS.Timeout>();
  const hangs = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  let activeRequests = 0;
  const stopController = new AbortController();
  let phase: 'created' | 'running' | 'stopped' = 'created';
  let server: http.Server | null = null;
  let baseUrl: string | null = null;

  // ---------- lines ----------

  function requireLine(lineId: unknown): LineState {
    const line = typeof lineId === 'string' ? lines.get(lineId) : undefined;
    if (!line) throw inputError(404, 'unknown_line', `no line "${String(lineId)}" is registered`);
    return line;
  }

  function summarize(line: LineState): LineSummary {
    return {
      line_id: line.line_id,
      phone_number: line.phone_number,
      offline: line.offline,
      pending_events: line.outbox.pendingCount(),
      heartbeats: line.heartbeats,
    };
  }

  function assertNumberFree(phoneNumber: string, lineId: string): void {
    for (const other of lines.values()) {
      if (other.phone_number === phoneNumber && other.line_id !== lineId) {
        throw inputError(409, 'number_taken', `line "${other.line_id}" already has ${phoneNumber}`);
      }
    }
  }

  function validateSecret(secret: unknown, lineId: string): string {
    if (typeof secret !== 'string' || secret.length === 0) throw inputError(400, 'invalid_secret', 'secret must be a non-empty string');
    if (secret.length < MIN_RECOMMENDED_SECRET_LENGTH) {
      logger.warn({ line_id: lineId }, 'line secret is shorter than the 32 bytes the protocol asks for');
    }
    return secret;
  }

  function registerLine(registration: LineRegistration): LineSummary {
    const input = registration as Partial<Record<keyof LineRegistration, unknown>>;
    if (typeof input.line_id !== 'string' || !LINE_ID_PATTERN.test(input.line_id)) {
      throw inputError(400, 'invalid_line_id', 'line_id must be 1-128 characters of letters, digits, . _ : -');
    }
    if (!isE164(input.phone_number)) throw inputError(400, 'invalid_phone_number', 'phone_number must be E.164');
    if (input.offline !== undefined && typeof input.offline !== 'boolean') {
      throw inputError(400, 'invalid_offline', 'offline must be a boolean');
    }
    const lineId = input.line_id;
    const secret = validateSecret(input.secret, lineId);
    assertNumberFree(input.phone_number, lineId);

    const existing = lines.get(lineId);
    if (existing) {
      existing.phone_number = input.phone_number;
      existing.secret = secret;
      if (input.offline !== undefined && input.offline !== existing.offline) setOffline(existing, input.offline);
      logger.info({ line_id: lineId }, 'line updated');
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
        eventsUrl,
        lineId,
        currentSecret: () => line.secret,
        isPaused: () => line.offline || phase !== 'running',
        logger,
        retryInitialMs,
        retryMaxMs,
        requestTimeoutMs: eventPostTimeoutMs,
        stopSignal: stopController.signal,
      }),
    };
    lines.set(lineId, line);
    logger.info({ line_id: lineId, offline: line.offline }, 'line registered');
    if (phase === 'running' && !line.offline) startHeartbeats(line);
    return summarize(line);
  }

  function updateLine(lineId: string, update: LineUpdate): LineSummary {
    const line = requireLine(lineId);
    const input = update as Partial<Record<keyof LineUpdate, unknown>>;
    if (input.phone_number !== undefined) {
      if (!isE164(input.phone_number)) throw inputError(400, 'invalid_phone_number', 'phone_number must be E.164');
      assertNumberFree(input.phone_number, lineId);
    }
    if (input.offline !== undefined && typeof input.offline !== 'boolean') {
      throw inputError(400, 'invalid_offline', 'offline must be a boolean');
    }
    const secret = input.secret === undefined ? undefined : validateSecret(input.secret, lineId);
    if (input.phone_number !== undefined) line.phone_number = input.phone_number;
    if (secret !== undefined) line.secret = secret;
    if (input.offline !== undefined && input.offline !== line.offline) setOffline(line, input.offline);
    return summarize(line);
  }

  function removeLine(lineId: string): boolean {
    const line = lines.get(lineId);
    if (!line) return false;
    stopHeartbeats(line);
    line.outbox.close();
    lines.delete(lineId);
    logger.info({ line_id: lineId }, 'line removed');
    return true;
  }

  function setOffline(line: LineState, offline: boolean): void {
    line.offline = offline;
    logger.info({ line_id: line.line_id, offline }, offline ? 'line went offline' : 'line came back online');
    if (offline) {
      stopHeartbeats(line);
      return;
    }
    if (phase === 'running') {
      startHeartbeats(line);
      line.outbox.kick();
    }
  }

  // ---------- events ----------

  function nowIso(): string {
    return new Date().toISOString();
  }

  function enqueue(line: LineState, events: OutgoingEvent[]): void {
    line.outbox.enqueue(events);
  }

  function heartbeatEvent(): OutgoingEvent {
    return { id: newEventId(), type: 'heartbeat', occurred_at: nowIso(), ...(config.heartbeat ?? {}) };
  }

  function emitHeartbeat(line: LineState): string {
    const event = heartbeatEvent();
    line.heartbeats += 1;
    enqueue(line, [event]);
    return event.id;
  }

  function startHeartbeats(line: LineState): void {
    stopHeartbeats(line);
    if (heartbeatIntervalMs <= 0) return;
    emitHeartbeat(line);
    line.heartbeatTimer = setInterval(() => {
      if (!line.offline) emitHeartbeat(line);
    }, heartbeatIntervalMs);
  }

  function stopHeartbeats(line: LineState): void {
    if (line.heartbeatTimer) clearInterval(line.heartbeatTimer);
    line.heartbeatTimer = null;
  }

  function later(delayMs: number, action: () => void): void {
    if (phase === 'stopped') return;
    const timer = setTimeout(() => {
      reportTimers.delete(timer);
      action();
    }, delayMs);
    reportTimers.add(timer);
  }

  /** Plays out sent → delivered (→ read), or failed, each step after its own delay. */
  function scheduleReports(send: AcceptedSend): void {
    const outcome = config.outcomes[send.to];
    if (outcome?.silent) return;
    const latency = { ...config.latencyMs };
    const steps: Array<{ type: string; delayMs: number; reason?: string }> = [];
    if (outcome?.fail !== undefined) {
      if (outcome.failAfterSent) steps.push({ type: 'sent', delayMs: latency.sent });
      steps.push({ type: 'failed', delayMs: outcome.failAfterSent ? latency.delivered : latency.sent, reason: outcome.fail });
    } else {
      steps.push({ type: 'sent', delayMs: latency.sent }, { type: 'delivered', delayMs: latency.delivered });
      if (latency.read !== null) steps.push({ type: 'read', delayMs: latency.read });
    }

    const runStep = (index: number): void => {
      const step = steps[index];
      if (!step) return;
      later(step.delayMs, () => {
        const line = lines.get(send.line_id);
        if (!line) {
          logger.warn({ line_id: send.line_id, dispatch_id: send.dispatch_id, type: step.type }, 'line removed; report dropped');
          return;
        }
        const event: OutgoingEvent = { id: newEventId(), type: step.type, occurred_at: nowIso(), dispatch_id: send.dispatch_id };
        if (step.reason !== undefined) event.reason = step.reason;
        send.reported.push(step.type);
        enqueue(line, [event]);
        runStep(index + 1);
      });
    };
    runStep(0);
  }

  function inbound(input: InboundInput): { event_id: string } {
    const fields = input as Partial<Record<keyof InboundInput, unknown>>;
    const line = requireLine(fields.line_id);
    if (!isE164(fields.from)) throw inputError(400, 'invalid_from', 'from must be an E.164 number');
    if (typeof fields.body !== 'string' || fields.body.length === 0) throw inputError(400, 'invalid_body', 'body must be a non-empty string');
    const channel = fields.channel ?? 'imessage';
    if (!CHANNELS.includes(channel as Channel)) throw inputError(400, 'invalid_channel', 'channel must be imessage, rcs or sms');
    const event: OutgoingEvent = {
      id: newEventId(),
      type: 'received',
      occurred_at: nowIso(),
      from: fields.from,
      to: line.phone_number,
      body: fields.body,
      channel,
    };
    enqueue(line, [event]);
    logger.info({ line_id: line.line_id, event_id: event.id, channel }, 'inbound message queued');
    return { event_id: event.id };
  }

  function emitEvents(lineId: string, events: RawEventInput[]): { event_ids: string[] } {
    const line = requireLine(lineId);
    if (!Array.isArray(events) || events.length === 0 || events.length > MAX_EVENTS_PER_POST) {
      throw inputError(400, 'invalid_events', `events must be an array of 1 to ${MAX_EVENTS_PER_POST} objects`);
    }
    const outgoing = events.map((raw, index): OutgoingEvent => {
      if (raw === null || typeof raw !== 'object' || typeof raw.type !== 'string') {
        throw inputError(400, 'invalid_events', `events[${index}] needs a string type`);
      }
      return { ...raw, id: raw.id ?? newEventId(), occurred_at: raw.occurred_at ?? nowIso(), type: raw.type };
    });
    enqueue(line, outgoing);
    return { event_ids: outgoing.map((event) => event.id) };
  }

  function heartbeat(lineId: string): { event_id: string } {
    const line = requireLine(lineId);
    if (line.offline) throw inputError(409, 'line_offline', 'an offline line sends no heartbeat');
    return { event_id: emitHeartbeat(line) };
  }

  // ---------- config and inspection ----------

  function configure(patch: ConfigPatch): SimulatorConfig {
    try {
      config = applyConfigPatch(config, patch);
    } catch (err) {
      if (err instanceof ConfigError) throw inputError(400, 'invalid_config', err.message);
      throw err;
    }
    logger.info({ keys: Object.keys(patch) }, 'config changed');
    return cloneConfig(config);
  }

  function reset(): void {
    config = cloneConfig(initialConfig);
    accepted.clear();
    pushesByDispatch.clear();
    totalPushes = 0;
    logger.info('sends and config reset');
  }

  function sends(): SendRecord[] {
    return [...accepted.values()].map((send) => ({
      ...send,
      reported: [...send.reported],
      attempts: pushesByDispatch.get(send.dispatch_id) ?? 0,
    }));
  }

  function isIdle(): boolean {
    if (reportTimers.size > 0 || activeRequests > 0) return false;
    for (const line of lines.values()) {
      if (line.outbox.isBusy()) return false;
      if (line.outbox.pendingCount() > 0 && !line.offline) return false;
    }
    return true;
  }

  async function whenIdle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!isIdle()) {
      if (Date.now() > deadline) throw new Error(`simulator not idle after ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  // ---------- HTTP plumbing ----------

  function writeJson(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > MAX_BODY_BYTES) return null;
      chunks.push(buffer);
    }
    return Buffer.concat(chunks);
  }

  function parseJsonObject(raw: Buffer): Record<string, unknown> | null {
    try {
      const value: unknown = JSON.parse(raw.toString('utf8'));
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  function headerValue(req: http.IncomingMessage, name: string): string | undefined {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  function waitForHang(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          hangs.delete(entry);
          resolve();
        }, ms),
        wake: () => resolve(),
      };
      hangs.add(entry);
    });
  }

  async function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const rawBody = await readBody(req);
    if (rawBody === null) {
      writeJson(res, 413, { error: 'body_too_large' });
      return;
    }
    if (url.pathname === '/control' || url.pathname.startsWith('/control/')) {
      await handleControl(req, res, url, rawBody);
      return;
    }
    await handleProtocol(req, res, url, rawBody);
  }

  // ---------- protocol side (platform → bridge) ----------

  function resolveLineKey(key: string): LineState | undefined {
    // bridge_url may name the line by id or, when the id is not known yet, by its phone number.
    const byId = lines.get(key);
    if (byId) return byId;
    const asNumber = key.startsWith('+') ? key : `+${key}`;
    for (const line of lines.values()) {
      if (line.phone_number === asNumber) return line;
    }
    return undefined;
  }

  function matchProtocolRoute(pathname: string): { line: LineState | undefined; endpoint: ProtocolEndpoint } | null {
    const multi = /^\/lines\/([^/]+)\/v1\/(send|capabilities|health)\/?$/.exec(pathname);
    if (multi) {
      let key: string;
      try {
        key = decodeURIComponent(multi[1]);
      } catch {
        return { line: undefined, endpoint: multi[2] as ProtocolEndpoint };
      }
      return { line: resolveLineKey(key), endpoint: multi[2] as ProtocolEndpoint };
    }
    const single = /^\/v1\/(send|capabilities|health)\/?$/.exec(pathname);
    if (single) {
      const onlyLine = lines.size === 1 ? [...lines.values()][0] : undefined;
      return { line: onlyLine, endpoint: single[1] as ProtocolEndpoint };
    }
    return null;
  }

  async function handleProtocol(req: http.IncomingMessage, res: http.ServerResponse, url: URL, rawBody: Buffer): Promise<void> {
    const route = matchProtocolRoute(url.pathname);
    if (!route) {
      writeJson(res, 404, { error: 'not_found' });
      return;
    }
    const { line, endpoint } = route;
    if (!line) {
      logger.warn({ path: url.pathname }, 'protocol request for an unknown line');
      writeJson(res, 404, { error: 'unknown_line' });
      return;
    }
    const expectedMethod = endpoint === 'health' ? 'GET' : 'POST';
    if (req.method !== expectedMethod) {
      res.setHeader('Allow', expectedMethod);
      writeJson(res, 405, { error: 'method_not_allowed' });
      return;
    }
    const check = verifySignature(
      line.secret,
      headerValue(req, TIMESTAMP_HEADER),
      headerValue(req, SIGNATURE_HEADER),
      rawBody,
    );
    if (!check.ok) {
      logger.warn({ line_id: line.line_id, endpoint, reason: check.reason }, 'refused unsigned or stale request');
      writeJson(res, 401, { error: 'unauthorized', reason: check.reason });
      return;
    }

    if (endpoint === 'health') {
      if (line.offline) {
        writeJson(res, 503, { ok: false, error: 'offline', line_id: line.line_id });
        return;
      }
      writeJson(res, 200, {
        ok: true,
        line_id: line.line_id,
        phone_number: line.phone_number,
        ...(config.heartbeat ?? {}),
        pending_events: line.outbox.pendingCount(),
        bridge: 'senderz-device-simulator',
        protocol: 1,
      });
      return;
    }

    const payload = parseJsonObject(rawBody);
    if (!payload) {
      writeJson(res, 400, { error: 'invalid_json' });
      return;
    }
    if (endpoint === 'capabilities') {
      handleCapabilities(res, line, payload);
      return;
    }
    await handleSend(req, res, line, payload);
  }

  function handleCapabilities(res: http.ServerResponse, line: LineState, payload: Record<string, unknown>): void {
    const numbers = payload.numbers;
    if (!Array.isArray(numbers) || numbers.length > 100) {
      writeJson(res, 400, { error: 'invalid_request', field: 'numbers', message: 'numbers must be an array of at most 100' });
      return;
    }
    const badIndex = numbers.findIndex((number) => !isE164(number));
    if (badIndex !== -1) {
      writeJson(res, 400, { error: 'invalid_request', field: `numbers[${badIndex}]`, message: 'not an E.164 number' });
      return;
    }
    if (line.offline) {
      writeJson(res, 503, { error: 'offline' });
      return;
    }
    const results = (numbers as string[]).map((number) => ({
      number,
      imessage: numberMatchesRule(config.imessageRule, number),
      sms: true,
      rcs: numberMatchesRule(config.rcsRule, number),
    }));
    writeJson(res, 200, { results });
  }

  function validateSend(payload: Record<string, unknown>): { field: string; message: string } | null {
    for (const field of ['dispatch_id', 'message_id', 'line_id'] as const) {
      const value = payload[field];
      if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
        return { field, message: 'must be a non-empty string' };
      }
    }
    for (const field of ['from', 'to'] as const) {
      if (!isE164(payload[field])) return { field, message: 'must be an E.164 number' };
    }
    if (typeof payload.body !== 'string' || payload.body.length === 0) return { field: 'body', message: 'must be a non-empty string' };
    if (!CHANNELS.includes(payload.channel as Channel)) return { field: 'channel', message: 'must be imessage, rcs or sms' };
    return null;
  }

  function injectedStatusBody(status: number, channel: Channel): Record<string, unknown> {
    if (status === 429) return { error: 'busy' };
    if (status === 422) return { error: channel === 'rcs' ? 'not_rcs' : 'not_imessage' };
    if (status >= 500) return { error: 'unavailable' };
    if (status >= 400) return { error: 'rejected' };
    return { accepted: status >= 200 && status < 300 };
  }

  async function handleSend(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    line: LineState,
    payload: Record<string, unknown>,
  ): Promise<void> {
    const invalid = validateSend(payload);
    if (invalid) {
      writeJson(res, 400, { error: 'invalid_request', ...invalid });
      return;
    }
    const request = payload as unknown as Omit<SendRecord, 'received_at' | 'attempts' | 'reported'>;
    if (request.line_id !== line.line_id) {
      writeJson(res, 400, { error: 'wrong_line', message: 'line_id does not name this line' });
      return;
    }
    if (request.from !== line.phone_number) {
      writeJson(res, 400, { error: 'wrong_from', message: "from is not this line's number" });
      return;
    }
    const logContext = { line_id: line.line_id, dispatch_id: request.dispatch_id, channel: request.channel };
    totalPushes += 1;
    pushesByDispatch.set(request.dispatch_id, (pushesByDispatch.get(request.dispatch_id) ?? 0) + 1);

    if (line.offline) {
      writeJson(res, 503, { error: 'offline' });
      return;
    }
    if (config.dropConnectionNext > 0) {
      config.dropConnectionNext -= 1;
      logger.info(logContext, 'injected: dropping the connection without an answer');
      req.socket.destroy();
      return;
    }
    if (config.hangMs > 0) {
      logger.info({ ...logContext, hang_ms: config.hangMs }, 'injected: holding the answer');
      await waitForHang(config.hangMs);
      if (phase === 'stopped') return;
    }
    const injectedStatus = config.httpStatusQueue.shift();
    if (injectedStatus !== undefined) {
      logger.info({ ...logContext, status: injectedStatus }, 'injected: answering a queued status without sending');
      writeJson(res, injectedStatus, injectedStatusBody(injectedStatus, request.channel));
      return;
    }
    if (accepted.has(request.dispatch_id)) {
      logger.info(logContext, 'duplicate dispatch; answered without sending again');
      writeJson(res, 202, { accepted: true });
      return;
    }
    const outcome = config.outcomes[request.to];
    if (outcome?.status !== undefined) {
      logger.info({ ...logContext, status: outcome.status }, 'injected: recipient outcome status');
      writeJson(res, outcome.status, injectedStatusBody(outcome.status, request.channel));
      return;
    }
    if (request.channel === 'imessage' && !numberMatchesRule(config.imessageRule, request.to)) {
      writeJson(res, 422, { error: 'not_imessage' });
      return;
    }
    if (request.channel === 'rcs' && !numberMatchesRule(config.rcsRule, request.to)) {
      writeJson(res, 422, { error: 'not_rcs' });
      return;
    }

    const send: AcceptedSend = {
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
    accepted.set(send.dispatch_id, send);
    logger.info(logContext, 'send accepted');
    writeJson(res, 202, { accepted: true });
    scheduleReports(send);
  }

  // ---------- control side ----------

  async function handleControl(req: http.IncomingMessage, res: http.ServerResponse, url: URL, rawBody: Buffer): Promise<void> {
    if (controlToken !== undefined) {
      const given = headerValue(req, 'x-simulator-token') ?? '';
      if (!safeEqualStrings(given, controlToken)) {
        writeJson(res, 401, { error: 'unauthorized' });
        return;
      }
    }
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '');
    const body = (): Record<string, unknown> => {
      if (rawBody.length === 0) return {};
      const parsed = parseJsonObject(rawBody);
      if (!parsed) throw inputError(400, 'invalid_json', 'body must be a JSON object');
      return parsed;
    };

    try {
      const lineMatch = /^\/control\/lines\/([^/]+)$/.exec(path);
      if (path === '/control/lines' && method === 'GET') {
        writeJson(res, 200, { lines: listLines() });
      } else if (path === '/control/lines' && method === 'POST') {
        writeJson(res, 200, { line: registerLine(body() as unknown as LineRegistration) });
      } else if (lineMatch && method === 'PATCH') {
        writeJson(res, 200, { line: updateLine(decodeURIComponent(lineMatch[1]), body() as LineUpdate) });
      } else if (lineMatch && method === 'DELETE') {
        const lineId = decodeURIComponent(lineMatch[1]);
        if (!removeLine(lineId)) throw inputError(404, 'unknown_line', `no line "${lineId}" is registered`);
        writeJson(res, 200, { deleted: true });
      } else if (path === '/control/inbound' && method === 'POST') {
        writeJson(res, 200, inbound(body() as unknown as InboundInput));
      } else if (path === '/control/events' && method === 'POST') {
        const input = body();
        writeJson(res, 200, emitEvents(String(input.line_id), input.events as RawEventInput[]));
      } else if (path === '/control/heartbeat' && method === 'POST') {
        writeJson(res, 200, heartbeat(String(body().line_id)));
      } else if (path === '/control/config' && method === 'GET') {
        writeJson(res, 200, { config: cloneConfig(config) });
      } else if (path === '/control/config' && method === 'POST') {
        writeJson(res, 200, { config: configure(body() as ConfigPatch) });
      } else if (path === '/control/sends' && method === 'GET') {
        writeJson(res, 200, { sends: sends(), pushes: totalPushes });
      } else if (path === '/control/reset' && method === 'POST') {
        reset();
        writeJson(res, 200, { reset: true });
      } else if (path === '/control/idle' && method === 'POST') {
        const timeoutMs = Number(url.searchParams.get('timeout_ms') ?? 10_000);
        await whenIdle(Number.isFinite(timeoutMs) ? timeoutMs : 10_000);
        writeJson(res, 200, { idle: true });
      } else {
        writeJson(res, 404, { error: 'not_found' });
      }
    } catch (err) {
      if (isSimulatorInputError(err)) {
        writeJson(res, err.status, { error: err.code, message: err.message });
        return;
      }
      throw err;
    }
  }

  function listLines(): LineSummary[] {
    return [...lines.values()].map(summarize);
  }

  // ---------- lifecycle ----------

  async function start(): Promise<{ url: string }> {
    if (phase !== 'created') throw new Error(`simulator cannot start: it is ${phase}`);
    const httpServer = http.createServer((req, res) => {
      activeRequests += 1;
      handleRequest(req, res)
        .catch((err: unknown) => {
          logger.error({ err, path: req.url }, 'request handler failed');
          writeJson(res, 500, { error: 'internal' });
        })
        .finally(() => {
          activeRequests -= 1;
        });
    });
    server = httpServer;
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(port, host, () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
    const address = httpServer.address() as AddressInfo;
    const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    baseUrl = `http://${urlHost}:${address.port}`;
    phase = 'running';
    for (const line of lines.values()) {
      if (!line.offline) startHeartbeats(line);
      line.outbox.kick();
    }
    logger.info({ url: baseUrl, platform_url: platformUrl, lines: lines.size }, 'device simulator listening');
    return { url: baseUrl };
  }

  async function stop(): Promise<void> {
    if (phase === 'stopped') return;
    const wasRunning = phase === 'running';
    phase = 'stopped';
    for (const timer of reportTimers) clearTimeout(timer);
    reportTimers.clear();
    for (const hang of hangs) {
      clearTimeout(hang.timer);
      hang.wake();
    }
    hangs.clear();
    for (const line of lines.values()) {
      stopHeartbeats(line);
      line.outbox.close();
    }
    if (wasRunning && server) {
      const httpServer = server;
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
      await closed;
    }
    const inFlight = Promise.allSettled([...lines.values()].map((line) => line.outbox.settled()));
    const bound = cancellableSleep(stopTimeoutMs);
    await Promise.race([inFlight, bound.promise]);
    bound.cancel();
    stopController.abort();
    await inFlight;
    logger.info('device simulator stopped');
  }

  for (const line of options.lines ?? []) registerLine(line);

  return {
    start,
    stop,
    url: () => baseUrl,
    registerLine,
    updateLine,
    removeLine,
    listLines,
    setLineOffline: (lineId, offline) => updateLine(lineId, { offline }),
    inbound,
    emitEvents,
    heartbeat,
    configure,
    getConfig: () => cloneConfig(config),
    reset,
    sends,
    pushCount: () => totalPushes,
    whenIdle,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function cancellableSleep(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
