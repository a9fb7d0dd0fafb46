// A fake phone-line bridge serving many lines from one process. It speaks docs/device-protocol.md
// (version 1) on /lines/<line>/v1/* and reports back to the platform's /device/v1/events, with
// control endpoints under /control/* for tests and demos. It deliberately shares no code with the
// platform.
//
// This file wires the parts together and runs the HTTP server: lines.ts holds the state and the
// scripted behaviour, protocol.ts answers the platform's signed requests, control.ts the control
// API, and outbox.ts posts each line's events.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Logger } from 'pino';
import { type ConfigPatch, type SimulatorConfig, CONFIG_KEYS, applyConfigPatch, cloneConfig, defaultConfig } from './config';
import { handleControl, isControlPath } from './control';
import * as lines from './lines';
import { handleProtocol } from './protocol';
import type { InboundInput, LineRegistration, LineSummary, LineUpdate, RawEventInput, SendRecord } from './types';
import { readBody, writeJson } from './wire';

export type { ConfigPatch, SimulatorConfig, LatencySettings, NumberOutcome, HeartbeatFields } from './config';
export type { NumberRule } from './rules';
export type { OutgoingEvent } from './outbox';
export type { Channel, LineRegistration, LineUpdate, LineSummary, SendRecord, InboundInput, RawEventInput, SimulatorInputError } from './types';
export { isSimulatorInputError } from './types';

export interface SimulatorOptions extends ConfigPatch {
  /** Default 4010; 0 picks a free port. */
  port?: number;
  host?: string;
  /** Base URL of the platform; events go to `${platformUrl}/device/v1/events`. */
  platformUrl?: string;
  /** Default 30000; 0 disables heartbeats (also the one sent on registration). */
  heartbeatIntervalMs?: number;
  /** When set, /control/* requires `Authorization: Bearer <controlToken>`; when unset the control API is open. */
  controlToken?: string;
  logger?: Logger;
  lines?: LineRegistration[];
  /** First retry delay of a failed event post (doubles each time). Default 200. */
  retryInitialMs?: number;
  /** Largest retry delay. Default 5000. */
  retryMaxMs?: number;
  /** An event post without an answer this long counts as failed. Default 10000. */
  eventPostTimeoutMs?: number;
  /** How long a line's event may wait for others to go out in one post. Default 0 (only those ready in the same turn). */
  eventFlushMs?: number;
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
  /** The first accepted send of a message, or null; cheap where sends() copies every record. */
  firstSendOf(messageId: string): SendRecord | null;
  /** How many distinct dispatches were accepted (the length of sends(), without the copy). */
  sendCount(): number;
  /** Signed, well-formed `/v1/send` requests received (every push, accepted or not). */
  pushCount(): number;
  /** Resolves when no report is scheduled, no event is waiting and no request is in progress. */
  whenIdle(timeoutMs?: number): Promise<void>;
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 4010;
  const platformUrl = (options.platformUrl ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  const logger = options.logger ?? pino({ name: 'device-simulator', level: process.env.LOG_LEVEL ?? 'info' });
  const stopTimeoutMs = options.stopTimeoutMs ?? 2_000;
  const stopController = new AbortController();

  const initialPatch: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    if (options[key] !== undefined) initialPatch[key] = options[key];
  }
  const state = lines.createState(
    {
      eventsUrl: `${platformUrl}/device/v1/events`,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 30_000,
      retryInitialMs: options.retryInitialMs ?? 200,
      retryMaxMs: options.retryMaxMs ?? 5_000,
      eventPostTimeoutMs: options.eventPostTimeoutMs ?? 10_000,
      eventFlushMs: options.eventFlushMs ?? 0,
      stopSignal: stopController.signal,
      logger,
    },
    applyConfigPatch(defaultConfig(), initialPatch),
  );

  let activeRequests = 0;
  let server: http.Server | null = null;
  let baseUrl: string | null = null;

  async function whenIdle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(activeRequests === 0 && lines.linesIdle(state))) {
      if (Date.now() > deadline) throw new Error(`simulator not idle after ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  const control = { state, controlToken: options.controlToken, whenIdle };

  async function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const rawBody = await readBody(req);
    if (rawBody === null) {
      writeJson(res, 413, { error: 'body_too_large' });
      return;
    }
    if (isControlPath(url.pathname)) {
      await handleControl(control, req, res, url, rawBody);
      return;
    }
    await handleProtocol(state, req, res, url, rawBody);
  }

  async function start(): Promise<{ url: string }> {
    if (state.phase !== 'created') throw new Error(`simulator cannot start: it is ${state.phase}`);
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
    lines.startLines(state);
    logger.info({ url: baseUrl, platform_url: platformUrl, lines: state.lines.size }, 'device simulator listening');
    return { url: baseUrl };
  }

  async function stop(): Promise<void> {
    if (state.phase === 'stopped') return;
    const wasRunning = state.phase === 'running';
    lines.stopLines(state);
    if (wasRunning && server) {
      const httpServer = server;
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
      await closed;
    }
    const inFlight = Promise.allSettled([...state.lines.values()].map((line) => line.outbox.settled()));
    const bound = cancellableSleep(stopTimeoutMs);
    await Promise.race([inFlight, bound.promise]);
    bound.cancel();
    stopController.abort();
    await inFlight;
    logger.info('device simulator stopped');
  }

  for (const line of options.lines ?? []) lines.registerLine(state, line);

  return {
    start,
    stop,
    url: () => baseUrl,
    registerLine: (line) => lines.registerLine(state, line),
    updateLine: (lineId, update) => lines.updateLine(state, lineId, update),
    removeLine: (lineId) => lines.removeLine(state, lineId),
    listLines: () => lines.listLines(state),
    setLineOffline: (lineId, offline) => lines.updateLine(state, lineId, { offline }),
    inbound: (input) => lines.inbound(state, input),
    emitEvents: (lineId, events) => lines.emitEvents(state, lineId, events),
    heartbeat: (lineId) => lines.heartbeat(state, lineId),
    configure: (patch) => lines.configure(state, patch),
    getConfig: () => cloneConfig(state.config),
    reset: () => lines.reset(state),
    sends: () => lines.sends(state),
    firstSendOf: (messageId) => lines.firstSendOf(state, messageId),
    sendCount: () => state.accepted.size,
    pushCount: () => state.totalPushes,
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
