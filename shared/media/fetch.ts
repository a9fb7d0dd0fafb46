import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { AddressPolicy, assertAddressAllowed, BLOCKED_ADDRESS_CODE, createSafeLookup, Resolver } from '../webhooks/ssrf';
import { describeError } from '../webhooks/client';
import { isAllowedMediaType, MAX_MEDIA_BYTES, mediaTypeOf } from './rules';

/** Why an attachment could not be taken; each is the message's `reason` when it fails. */
export type MediaFailure = 'media_too_large' | 'media_type_not_allowed' | 'media_unreachable' | 'media_url_blocked';

export type FetchedMedia =
  | { ok: true; content: Buffer; contentType: string }
  | {
      ok: false;
      reason: MediaFailure;
      /** Worth another try later (no answer, 5xx, 429); the others never change by waiting. */
      transient: boolean;
      /** Log-safe: names the kind of failure, never an address. */
      detail: string;
    };

export interface MediaFetchOptions {
  policy: AddressPolicy;
  timeoutMs: number;
  maxBytes?: number;
  resolve?: Resolver;
}

/**
 * Downloads one attachment the way webhooks are delivered: every address the
 * socket connects to is checked against the same SSRF policy, redirects are
 * not followed, one deadline covers DNS to the last byte, and the download
 * stops as soon as it passes the size limit (announced or not). Never throws.
 */
export function fetchMedia(rawUrl: string, options: MediaFetchOptions): Promise<FetchedMedia> {
  const maxBytes = options.maxBytes ?? MAX_MEDIA_BYTES;
  return new Promise((resolve) => {
    let settled = false;
    let request: http.ClientRequest | null = null;
    const finish = (result: FetchedMedia) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request?.destroy();
      resolve(result);
    };
    const unreachable = (detail: string, transient: boolean) => finish({ ok: false, reason: 'media_unreachable', transient, detail });
    const timer = setTimeout(() => unreachable(`timeout after ${options.timeoutMs} ms`, true), options.timeoutMs);

    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      unreachable('not a valid URL', false);
      return;
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (net.isIP(host)) {
      try {
        assertAddressAllowed(host, options.policy);
      } catch (error) {
        finish({ ok: false, reason: 'media_url_blocked', transient: false, detail: describeError(error as NodeJS.ErrnoException) });
        return;
      }
    }
    const isHttps = url.protocol === 'https:';
    request = (isHttps ? https : http).request({
      protocol: url.protocol,
      hostname: host,
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { Accept: 'image/*, video/*, audio/*, application/pdf, text/vcard' },
      lookup: createSafeLookup(options.policy, options.resolve) as unknown as net.LookupFunction,
      agent: false,
    });
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400) return unreachable(`redirect (${status}) not followed`, false);
      if (status === 429 || status >= 500) return unreachable(`HTTP ${status}`, true);
      if (status < 200 || status >= 300) return unreachable(`HTTP ${status}`, false);
      const contentType = mediaTypeOf(response.headers['content-type']);
      if (!isAllowedMediaType(contentType)) {
        return finish({ ok: false, reason: 'media_type_not_allowed', transient: false, detail: `type ${contentType || 'missing'} is not allowed` });
      }
      const tooLarge = () => finish({ ok: false, reason: 'media_too_large', transient: false, detail: `larger than ${maxBytes} bytes` });
      const announced = Number(response.headers['content-length']);
      if (Number.isFinite(announced) && announced > maxBytes) return tooLarge();
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) return tooLarge();
        chunks.push(chunk);
      });
      response.on('end', () => finish({ ok: true, content: Buffer.concat(chunks), contentType }));
      response.on('error', (error: NodeJS.ErrnoException) => unreachable(describeError(error), true));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === BLOCKED_ADDRESS_CODE) finish({ ok: false, reason: 'media_url_blocked', transient: false, detail: describeError(error) });
      else unreachable(describeError(error), true);
    });
    request.end();
  });
}
