// The bridge side of docs/device-protocol.md (platform → bridge): the signed POST /v1/send,
// POST /v1/capabilities and GET /v1/health of each line, under /lines/<line>/v1/* (or the bare
// /v1/* while exactly one line is registered). Every request is checked for its method, its
// signature and its timestamp before anything else; what a send then does is up to lines.ts.
import type http from 'node:http';
import { type LineState, type SimulatorState, capabilitiesOf, receiveSend } from './lines';
import { isE164 } from './rules';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from './signing';
import { type Channel, type SendRequest, CHANNELS } from './types';
import { headerValue, parseJsonObject, writeJson } from './wire';

type ProtocolEndpoint = 'send' | 'capabilities' | 'health';

function resolveLineKey(state: SimulatorState, key: string): LineState | undefined {
  // bridge_url may name the line by id or, when the id is not known yet, by its phone number.
  const byId = state.lines.get(key);
  if (byId) return byId;
  const asNumber = key.startsWith('+') ? key : `+${key}`;
  for (const line of state.lines.values()) {
    if (line.phone_number === asNumber) return line;
  }
  return undefined;
}

function matchProtocolRoute(state: SimulatorState, pathname: string): { line: LineState | undefined; endpoint: ProtocolEndpoint } | null {
  const multi = /^\/lines\/([^/]+)\/v1\/(send|capabilities|health)\/?$/.exec(pathname);
  if (multi) {
    let key: string;
    try {
      key = decodeURIComponent(multi[1]);
    } catch {
      return { line: undefined, endpoint: multi[2] as ProtocolEndpoint };
    }
    return { line: resolveLineKey(state, key), endpoint: multi[2] as ProtocolEndpoint };
  }
  const single = /^\/v1\/(send|capabilities|health)\/?$/.exec(pathname);
  if (single) {
    const onlyLine = state.lines.size === 1 ? [...state.lines.values()][0] : undefined;
    return { line: onlyLine, endpoint: single[1] as ProtocolEndpoint };
  }
  return null;
}

/** Answers any request outside /control: a protocol endpoint of a line, or 404. */
export async function handleProtocol(
  state: SimulatorState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  rawBody: Buffer,
): Promise<void> {
  const { logger } = state.settings;
  const route = matchProtocolRoute(state, url.pathname);
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
  const check = verifySignature(line.secret, headerValue(req, TIMESTAMP_HEADER), headerValue(req, SIGNATURE_HEADER), rawBody);
  if (!check.ok) {
    logger.warn({ line_id: line.line_id, endpoint, reason: check.reason }, 'refused unsigned or stale request');
    writeJson(res, 401, { error: 'unauthorized', reason: check.reason });
    return;
  }

  if (endpoint === 'health') {
    handleHealth(state, res, line);
    return;
  }
  const payload = parseJsonObject(rawBody);
  if (!payload) {
    writeJson(res, 400, { error: 'invalid_json' });
    return;
  }
  if (endpoint === 'capabilities') {
    handleCapabilities(state, res, line, payload);
    return;
  }
  await handleSend(state, req, res, line, payload);
}

function handleHealth(state: SimulatorState, res: http.ServerResponse, line: LineState): void {
  if (line.offline) {
    writeJson(res, 503, { ok: false, error: 'offline', line_id: line.line_id });
    return;
  }
  writeJson(res, 200, {
    ok: true,
    line_id: line.line_id,
    phone_number: line.phone_number,
    ...(state.config.heartbeat ?? {}),
    pending_events: line.outbox.pendingCount(),
    bridge: 'senderz-device-simulator',
    protocol: 1,
  });
}

function handleCapabilities(state: SimulatorState, res: http.ServerResponse, line: LineState, payload: Record<string, unknown>): void {
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
  writeJson(res, 200, { results: capabilitiesOf(state, numbers as string[]) });
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
  const hasMedia = Array.isArray(payload.media) && payload.media.length > 0;
  if (typeof payload.body !== 'string' || (payload.body.length === 0 && !hasMedia)) return { field: 'body', message: 'must be a non-empty string (or empty with media)' };
  if (!CHANNELS.includes(payload.channel as Channel)) return { field: 'channel', message: 'must be imessage, rcs or sms' };
  if (payload.media !== undefined) return validateMedia(payload.media);
  return null;
}

/** docs/device-protocol.md, Media: at most 10 items of {url, content_type, size, filename?}. */
function validateMedia(media: unknown): { field: string; message: string } | null {
  if (!Array.isArray(media) || media.length > 10) return { field: 'media', message: 'must be an array of at most 10 attachments' };
  for (const [index, item] of media.entries()) {
    const entry = item as Record<string, unknown> | null;
    if (!entry || typeof entry !== 'object') return { field: `media[${index}]`, message: 'must be an object' };
    if (typeof entry.url !== 'string' || !/^https?:\/\//.test(entry.url)) return { field: `media[${index}].url`, message: 'must be an http(s) URL' };
    if (typeof entry.content_type !== 'string' || !entry.content_type.includes('/')) return { field: `media[${index}].content_type`, message: 'must be a MIME type' };
    if (!Number.isInteger(entry.size) || (entry.size as number) < 0) return { field: `media[${index}].size`, message: 'must be a non-negative integer' };
    if (entry.filename !== undefined && typeof entry.filename !== 'string') return { field: `media[${index}].filename`, message: 'must be a string' };
  }
  return null;
}

async function handleSend(
  state: SimulatorState,
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
  const request = payload as unknown as SendRequest;
  if (request.line_id !== line.line_id) {
    writeJson(res, 400, { error: 'wrong_line', message: 'line_id does not name this line' });
    return;
  }
  if (request.from !== line.phone_number) {
    writeJson(res, 400, { error: 'wrong_from', message: "from is not this line's number" });
    return;
  }
  const outcome = await receiveSend(state, line, request);
  if (outcome.kind === 'drop_connection') req.socket.destroy();
  else if (outcome.kind === 'answer') writeJson(res, outcome.status, outcome.body);
}
