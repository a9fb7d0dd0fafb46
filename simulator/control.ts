// The control API under /control/*, for tests, demos and the CLI: register lines and take them
// offline, inject inbound messages and raw events, change the scripted behaviour, read what was
// sent and wait for quiet. Not part of docs/device-protocol.md; a real bridge has its own way in.
import type http from 'node:http';
import { type ConfigPatch, cloneConfig } from './config';
import {
  type SimulatorState,
  configure,
  emitEvents,
  heartbeat,
  inbound,
  listLines,
  registerLine,
  removeLine,
  reset,
  sends,
  updateLine,
} from './lines';
import { safeEqualStrings } from './signing';
import { type InboundInput, type LineRegistration, type LineUpdate, type RawEventInput, inputError, isSimulatorInputError } from './types';
import { headerValue, parseJsonObject, writeJson } from './wire';

export interface ControlDeps {
  state: SimulatorState;
  /** When set, every control request must carry it; when unset the control API is open. */
  controlToken: string | undefined;
  whenIdle: (timeoutMs: number) => Promise<void>;
}

/** The token a control request carries: `Authorization: Bearer <token>`, or the older `X-Simulator-Token: <token>`. */
function presentedToken(req: http.IncomingMessage): string {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headerValue(req, 'authorization') ?? '');
  return bearer ? bearer[1] : (headerValue(req, 'x-simulator-token') ?? '');
}

export function isControlPath(pathname: string): boolean {
  return pathname === '/control' || pathname.startsWith('/control/');
}

export async function handleControl(
  deps: ControlDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  rawBody: Buffer,
): Promise<void> {
  const { state, controlToken } = deps;
  if (controlToken !== undefined && !safeEqualStrings(presentedToken(req), controlToken)) {
    writeJson(res, 401, { error: 'unauthorized', message: 'the control API needs Authorization: Bearer <SIMULATOR_CONTROL_TOKEN>' });
    return;
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
      writeJson(res, 200, { lines: listLines(state) });
    } else if (path === '/control/lines' && method === 'POST') {
      writeJson(res, 200, { line: registerLine(state, body() as unknown as LineRegistration) });
    } else if (lineMatch && method === 'PATCH') {
      writeJson(res, 200, { line: updateLine(state, decodeURIComponent(lineMatch[1]), body() as LineUpdate) });
    } else if (lineMatch && method === 'DELETE') {
      const lineId = decodeURIComponent(lineMatch[1]);
      if (!removeLine(state, lineId)) throw inputError(404, 'unknown_line', `no line "${lineId}" is registered`);
      writeJson(res, 200, { deleted: true });
    } else if (path === '/control/inbound' && method === 'POST') {
      writeJson(res, 200, inbound(state, body() as unknown as InboundInput));
    } else if (path === '/control/events' && method === 'POST') {
      const input = body();
      writeJson(res, 200, emitEvents(state, String(input.line_id), input.events as RawEventInput[]));
    } else if (path === '/control/heartbeat' && method === 'POST') {
      writeJson(res, 200, heartbeat(state, String(body().line_id)));
    } else if (path === '/control/config' && method === 'GET') {
      writeJson(res, 200, { config: cloneConfig(state.config) });
    } else if (path === '/control/config' && method === 'POST') {
      writeJson(res, 200, { config: configure(state, body() as ConfigPatch) });
    } else if (path === '/control/sends' && method === 'GET') {
      writeJson(res, 200, { sends: sends(state), pushes: state.totalPushes });
    } else if (path === '/control/reset' && method === 'POST') {
      reset(state);
      writeJson(res, 200, { reset: true });
    } else if (path === '/control/idle' && method === 'POST') {
      const timeoutMs = Number(url.searchParams.get('timeout_ms') ?? 10_000);
      await deps.whenIdle(Number.isFinite(timeoutMs) ? timeoutMs : 10_000);
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
