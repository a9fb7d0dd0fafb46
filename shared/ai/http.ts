import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { assertAddressAllowed, BLOCKED_ADDRESS_CODE, createSafeLookup } from '../webhooks/ssrf';

/**
 * POSTs JSON to a URL a tenant configured (its AI provider) under the same
 * address policy as webhook deliveries (shared/webhooks/ssrf.ts): the address
 * the socket actually connects to is checked, so a hostname that resolves to
 * a private or loopback address is refused at connect time (DNS rebinding does
 * not help), as is an address literal. WEBHOOK_ALLOW_PRIVATE_NETWORKS lifts
 * the private/loopback refusal for self-hosting and tests; link-local and
 * cloud metadata addresses stay refused always. Redirects are never followed.
 */

export class OutboundRequestError extends Error {
  constructor(
    /** A short, safe category: timeout, blocked_address, network_error, response_too_large. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'OutboundRequestError';
  }
}

function asOutboundError(error: Error): OutboundRequestError {
  if (error instanceof OutboundRequestError) return error;
  if ((error as NodeJS.ErrnoException).code === BLOCKED_ADDRESS_CODE) return new OutboundRequestError('blocked_address', error.message);
  return new OutboundRequestError('network_error', error.message);
}

export interface PostJsonOptions {
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  headers?: Record<string, string>;
  /** Largest response body read; more is an error. */
  maxResponseBytes?: number;
}

export interface JsonResponse {
  status: number;
  body: string;
}

export async function postJson(target: string, payload: unknown, options: PostJsonOptions): Promise<JsonResponse> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundRequestError('blocked_address', 'only http and https URLs are allowed');
  const policy = { allowPrivateNetworks: options.allowPrivateNetworks };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  // An address literal never goes through lookup: check it here.
  if (net.isIP(host)) {
    try {
      assertAddressAllowed(host, policy);
    } catch (error) {
      throw asOutboundError(error as Error);
    }
  }
  const body = Buffer.from(JSON.stringify(payload));
  const maxBytes = options.maxResponseBytes ?? 256 * 1024;
  const client = url.protocol === 'https:' ? https : http;

  return new Promise<JsonResponse>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, result?: JsonResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(result!);
    };
    const request = client.request(
      url,
      {
        method: 'POST',
        // A fresh connection per call, so every call passes the address check.
        agent: false,
        lookup: createSafeLookup(policy) as unknown as net.LookupFunction,
        headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': String(body.length), ...options.headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            request.destroy(new OutboundRequestError('response_too_large', `the response exceeded ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => finish(null, { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', (error) => finish(asOutboundError(error)));
        response.on('close', () => finish(new OutboundRequestError('network_error', 'the connection closed before the response ended')));
      },
    );
    const timer = setTimeout(() => request.destroy(new OutboundRequestError('timeout', `no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    request.on('error', (error) => finish(asOutboundError(error)));
    request.end(body);
  });
}
