// Failure-injection, latency and capability settings, validated the same way whether they come
// from code (options) or from JSON (POST /control/config), so a typo fails loudly instead of
// silently doing nothing.
import { type NumberRule, DEFAULT_IMESSAGE_RULE, DEFAULT_RCS_RULE, isE164, parseNumberRule } from './rules';

/** Delays of the asynchronous reports; each one counts from the previous report (or from acceptance). */
export interface LatencySettings {
  sent: number;
  delivered: number;
  /** `null`: no `read` report. */
  read: number | null;
}

/** What happens to a send addressed to one recipient number. */
export interface NumberOutcome {
  /** Accept (202), then report `failed` with this reason instead of sent/delivered. */
  fail?: string;
  /** With `fail`: report `sent` first, then `failed`. */
  failAfterSent?: boolean;
  /**
   * With `fail`: only sends on this channel fail; the others play out normally. `"imessage"` is the
   * usual real case of an iMessage taken by the phone and then "Not Delivered", while SMS gets through.
   */
  failOn?: 'imessage' | 'rcs' | 'sms';
  /** Answer `POST /v1/send` with this HTTP status instead of accepting. */
  status?: number;
  /** Accept (202) and then never report anything. */
  silent?: boolean;
}

export interface HeartbeatFields {
  battery?: number;
  signal?: number;
}

export interface SimulatorConfig {
  latencyMs: LatencySettings;
  imessageRule: NumberRule;
  rcsRule: NumberRule;
  outcomes: Record<string, NumberOutcome>;
  /** The next `/v1/send` requests answer these statuses, one each, without sending. */
  httpStatusQueue: number[];
  /** The next N `/v1/send` requests get their connection dropped without an answer. */
  dropConnectionNext: number;
  /** Every `/v1/send` waits this long before answering (and then proceeds normally). */
  hangMs: number;
  /** Fields of each heartbeat event; `null` sends a heartbeat with neither field. */
  heartbeat: HeartbeatFields | null;
}

export interface ConfigPatch {
  latencyMs?: Partial<LatencySettings>;
  imessageRule?: NumberRule;
  rcsRule?: NumberRule;
  /** Merged per number; `null` removes a number's outcome. */
  outcomes?: Record<string, NumberOutcome | null>;
  httpStatusQueue?: number[];
  /** `true` means 1. */
  dropConnectionNext?: number | boolean;
  hangMs?: number;
  heartbeat?: HeartbeatFields | null;
}

export const CONFIG_KEYS: ReadonlyArray<keyof ConfigPatch> = [
  'latencyMs',
  'imessageRule',
  'rcsRule',
  'outcomes',
  'httpStatusQueue',
  'dropConnectionNext',
  'hangMs',
  'heartbeat',
];

export function defaultConfig(): SimulatorConfig {
  return {
    latencyMs: { sent: 50, delivered: 150, read: null },
    imessageRule: DEFAULT_IMESSAGE_RULE,
    rcsRule: DEFAULT_RCS_RULE,
    outcomes: {},
    httpStatusQueue: [],
    dropConnectionNext: 0,
    hangMs: 0,
    heartbeat: { battery: 100, signal: 4 },
  };
}

export function cloneConfig(config: SimulatorConfig): SimulatorConfig {
  return structuredClone(config);
}

export class ConfigError extends Error {}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function nonNegativeNumber(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative number`);
  }
  return value;
}

function rejectUnknownKeys(value: Record<string, unknown>, allowed: readonly string[], name: string): void {
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw new ConfigError(`${name}: unknown field(s) ${unknown.join(', ')}`);
}

function parseOutcome(value: unknown, number: string): NumberOutcome {
  const name = `outcomes["${number}"]`;
  if (!isPlainObject(value)) throw new ConfigError(`${name} must be an object or null`);
  rejectUnknownKeys(value, ['fail', 'failAfterSent', 'failOn', 'status', 'silent'], name);
  const outcome: NumberOutcome = {};
  if (value.fail !== undefined) {
    if (typeof value.fail !== 'string' || value.fail.length === 0) throw new ConfigError(`${name}.fail must be a reason string`);
    outcome.fail = value.fail;
  }
  if (value.failAfterSent !== undefined) {
    if (typeof value.failAfterSent !== 'boolean') throw new ConfigError(`${name}.failAfterSent must be a boolean`);
    outcome.failAfterSent = value.failAfterSent;
  }
  if (value.failOn !== undefined) {
    if (value.failOn !== 'imessage' && value.failOn !== 'rcs' && value.failOn !== 'sms') throw new ConfigError(`${name}.failOn must be imessage, rcs or sms`);
    outcome.failOn = value.failOn;
  }
  if (value.status !== undefined) {
    if (!Number.isInteger(value.status) || (value.status as number) < 400 || (value.status as number) > 599) {
      throw new ConfigError(`${name}.status must be an HTTP status from 400 to 599`);
    }
    outcome.status = value.status as number;
  }
  if (value.silent !== undefined) {
    if (typeof value.silent !== 'boolean') throw new ConfigError(`${name}.silent must be a boolean`);
    outcome.silent = value.silent;
  }
  return outcome;
}

function parseHeartbeat(value: unknown): HeartbeatFields | null {
  if (value === null) return null;
  if (!isPlainObject(value)) throw new ConfigError('heartbeat must be an object or null');
  rejectUnknownKeys(value, ['battery', 'signal'], 'heartbeat');
  const fields: HeartbeatFields = {};
  if (value.battery !== undefined) fields.battery = nonNegativeNumber(value.battery, 'heartbeat.battery');
  if (value.signal !== undefined) fields.signal = nonNegativeNumber(value.signal, 'heartbeat.signal');
  return fields;
}

/** Returns a new config with `patch` merged in; throws ConfigError naming the bad field. */
export function applyConfigPatch(current: SimulatorConfig, patch: unknown): SimulatorConfig {
  if (!isPlainObject(patch)) throw new ConfigError('config must be a JSON object');
  rejectUnknownKeys(patch, CONFIG_KEYS, 'config');
  const next = cloneConfig(current);

  if (patch.latencyMs !== undefined) {
    if (!isPlainObject(patch.latencyMs)) throw new ConfigError('latencyMs must be an object');
    rejectUnknownKeys(patch.latencyMs, ['sent', 'delivered', 'read'], 'latencyMs');
    const { sent, delivered, read } = patch.latencyMs;
    if (sent !== undefined) next.latencyMs.sent = nonNegativeNumber(sent, 'latencyMs.sent');
    if (delivered !== undefined) next.latencyMs.delivered = nonNegativeNumber(delivered, 'latencyMs.delivered');
    if (read !== undefined) next.latencyMs.read = read === null ? null : nonNegativeNumber(read, 'latencyMs.read');
  }

  for (const key of ['imessageRule', 'rcsRule'] as const) {
    if (patch[key] === undefined) continue;
    const parsed = parseNumberRule(patch[key]);
    if ('error' in parsed) throw new ConfigError(`${key}: ${parsed.error}`);
    next[key] = parsed.rule;
  }

  if (patch.outcomes !== undefined) {
    if (!isPlainObject(patch.outcomes)) throw new ConfigError('outcomes must be an object keyed by E.164 number');
    for (const [number, outcome] of Object.entries(patch.outcomes)) {
      if (!isE164(number)) throw new ConfigError(`outcomes: "${number}" is not an E.164 number`);
      if (outcome === null) delete next.outcomes[number];
      else next.outcomes[number] = parseOutcome(outcome, number);
    }
  }

  if (patch.httpStatusQueue !== undefined) {
    const queue = patch.httpStatusQueue;
    if (!Array.isArray(queue) || !queue.every((status) => Number.isInteger(status) && status >= 100 && status <= 599)) {
      throw new ConfigError('httpStatusQueue must be an array of HTTP statuses');
    }
    next.httpStatusQueue = [...(queue as number[])];
  }

  if (patch.dropConnectionNext !== undefined) {
    const drop = patch.dropConnectionNext;
    if (typeof drop === 'boolean') next.dropConnectionNext = drop ? 1 : 0;
    else if (Number.isInteger(drop) && (drop as number) >= 0) next.dropConnectionNext = drop as number;
    else throw new ConfigError('dropConnectionNext must be a boolean or a non-negative integer');
  }

  if (patch.hangMs !== undefined) next.hangMs = nonNegativeNumber(patch.hangMs, 'hangMs');
  if (patch.heartbeat !== undefined) next.heartbeat = parseHeartbeat(patch.heartbeat);

  return next;
}
