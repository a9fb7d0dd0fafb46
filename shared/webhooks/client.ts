import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { assertAddressAllowed, AddressPolicy, BLOCKED_ADDRESS_CODE, BlockedAddressError, createSafeLookup, Resolver } from './ssrf';

export interface WebhookPost {
  url: string;
  body: Buffer;
  headers: Record<string, string>;
  timeoutMs: number;
  policy: AddressPolicy;
  /** Tests inject a resolver to simulate DNS answers (rebinding). */
  resolve?: Resolver;
}

export interface WebhookAnswer {
  /** HTTP status, or null when no response arrived (timeout, refused, blocked). */
  status: number | null;
  latencyMs: number;
  /** Short, log-safe description of a failure; null on 2xx. */
  error: string | null;
  /** The connection was refused by the address policy (SSRF protection). */
  blocked: boolean;
}

/** Read at most this much of a receiver's answer before hanging up on it. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** …and spend at most this long reading it. */
const DRAIN_MS = 2000;

/**
 * Keep-alive agents, one pair per address policy: a socket opened under a
 * lenient policy must never be handed to a request made under a strict one.
 * Idle sockets are closed after 4 s, under the 5 s keep-alive most servers use.
 */
const agents = new Map<string, { http: http.Agent; https: https.Agent }>();

function agentsFor(policy: AddressPolicy, resolve?: Resolver): { http: http.Agent; https: https.Agent } | null {
  if (resolve) return null; // injected resolvers get fresh connections
  const key = policy.allowPrivateNetworks ? 'private-allowed' : 'public-only';
  let pair = agents.get(key);
  if (!pair) {
    const options = { keepAlive: true, timeout: 4000, maxFreeSockets: 64 };
    pair = { http: new http.Agent(options), https: new https.Agent(options) };
    agents.set(key, pair);
  }
  return pair;
}

/**
 * The error a tenant sees in its delivery log. It names the kind of failure,
 * never the address a hostname resolved to: that would tell a tenant what
 * sits on the platform's internal network.
 */
export function describeError(error: NodeJS.ErrnoException): string {
  if (error.code === BLOCKED_ADDRESS_CODE) return `blocked: the host resolves to an address that is not allowed (${(error as BlockedAddressError).verdict.range})`;
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return 'dns: host not found';
  if (error.code) return `network: ${error.code}`;
  return `network: ${error.message.slice(0, 200).replace(/\[?[0-9a-f]*:[0-9a-f:.]*[0-9a-f]\]?(:\d+)?|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?/gi, '<address>')}`;
}

function attempt(input: WebhookPost, url: URL, started: number): Promise<{ answer: WebhookAnswer; reusedSocketReset: boolean }> {
  return new Promise((resolve) => {
    let settled = false;
    let request: http.ClientRequest | null = null;
    const timer = setTimeout(() => {
      request?.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
      finish({ status: null, latencyMs: Date.now() - started, error: `timeout after ${input.timeoutMs} ms`, blocked: false });
    }, input.timeoutMs);
    const finish = (answer: WebhookAnswer, reusedSocketReset = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ answer, reusedSocketReset });
    };

    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    // A literal IP never goes through `lookup`: check it here.
    if (net.isIP(host)) {
      try {
        assertAddressAllowed(host, input.policy);
      } catch (error) {
        finish({ status: null, latencyMs: 0, error: describeError(error as NodeJS.ErrnoException), blocked: true });
        return;
      }
    }
    const isHttps = url.protocol === 'https:';
    const pair = agentsFor(input.policy, input.resolve);
    const sent = (isHttps ? https : http).request({
      protocol: url.protocol,
      hostname: host,
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: { ...input.headers, 'Content-Length': String(input.body.length) },
      lookup: createSafeLookup(input.policy, input.resolve) as unknown as net.LookupFunction,
      agent: pair ? (isHttps ? pair.https : pair.http) : false,
    });
    request = sent;
    sent.on('response', (response) => {
      const status = response.statusCode ?? 0;
      let error: string | null = null;
      if (status >= 300 && status < 400) error = `redirect (${status}) not followed`;
      else if (status < 200 || status >= 300) error = `HTTP ${status}`;
      // The status decides; the body is only drained (bounded) so the socket can be reused.
      finish({ status, latencyMs: Date.now() - started, error, blocked: false });
      const drain = setTimeout(() => response.destroy(), DRAIN_MS);
      drain.unref();
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_RESPONSE_BYTES) response.destroy();
      });
      response.on('close', () => clearTimeout(drain));
      response.on('error', () => undefined);
    });
    sent.on('error', (error: NodeJS.ErrnoException) => {
      const reset = sent.reusedSocket && error.code === 'ECONNRESET';
      finish({ status: null, latencyMs: Date.now() - started, error: describeError(error), blocked: error.code === BLOCKED_ADDRESS_CODE }, reset);
    });
    sent.end(input.body);
  });
}

/**
 * POSTs one webhook: no redirects followed (Node's http never follows), every
 * connected address checked against the policy, one overall deadline covering
 * DNS, connect, and the answer. Never throws: the outcome is in the answer.
 */
export async function postWebhook(input: WebhookPost): Promise<WebhookAnswer> {
  const url = new URL(input.url);
  const started = Date.now();
  const first = await attempt(input, url, started);
  // A keep-alive socket the receiver closed while idle: the request never got
  // there, so sending it again on a fresh socket is safe (Node docs' pattern).
  if (first.reusedSocketReset) return (await attempt(input, url, Date.now())).answer;
  return first.answer;
}

/** Closes idle keep-alive sockets (tests, shutdown). */
export function closeWebhookAgents(): void {
  for (const pair of agents.values()) {
    pair.http.destroy();
    pair.https.destroy();
  }
  agents.clear();
}
