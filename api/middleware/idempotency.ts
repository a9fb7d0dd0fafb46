import type { RequestHandler, Response } from 'express';
import type { Knex } from 'knex';
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey, type StoredIdempotencyKey } from '../../shared/data/idempotency-keys';
import { sha256Hex } from '../../shared/crypto';
import { ConflictError, ValidationError } from '../../shared/errors';
import { withTenant } from '../../shared/db/tenant';
import type { Logger } from '../../shared/logger';

const KEY_TTL_HOURS = 24;
const IN_PROGRESS_WAIT_MS = 2000;

type StoredKey = StoredIdempotencyKey;

type Piece = { text: string } | { value: unknown };

/**
 * The same fields in another order are the same request. Iterative, not
 * recursive: a body is client input, and a few thousand nested arrays (which
 * JSON.parse accepts) must not exhaust the call stack.
 */
function canonicalJson(root: unknown): string {
  const out: string[] = [];
  const pending: Piece[] = [{ value: root }];
  while (pending.length > 0) {
    const piece = pending.pop()!;
    if ('text' in piece) {
      out.push(piece.text);
      continue;
    }
    const { value } = piece;
    if (Array.isArray(value)) {
      out.push('[');
      pending.push({ text: ']' });
      for (let index = value.length - 1; index >= 0; index -= 1) {
        pending.push({ value: value[index] });
        if (index > 0) pending.push({ text: ',' });
      }
    } else if (value && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      out.push('{');
      pending.push({ text: '}' });
      for (let index = entries.length - 1; index >= 0; index -= 1) {
        const [field, inner] = entries[index];
        pending.push({ value: inner }, { text: `${index > 0 ? ',' : ''}${JSON.stringify(field)}:` });
      }
    } else {
      out.push(JSON.stringify(value ?? null));
    }
  }
  return out.join('');
}

function requestHash(method: string, path: string, body: unknown): string {
  return sha256Hex(`${method} ${path}\n${canonicalJson(body)}`);
}

/** Fields shown once (a new API key, a generated webhook secret) are never stored for replay. */
const SHOWN_ONCE = new Set(['key', 'secret']);

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return Boolean(value) && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/** What JSON.stringify would write for a leaf: a Date (or anything with toJSON) as its JSON form, e.g. an ISO string. */
function leaf(value: unknown): unknown {
  return value && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
}

/**
 * A copy without shown-once fields. Iterative for the same reason as
 * canonicalJson: a response can echo client data nested thousands deep.
 */
export function withoutSecrets(value: unknown): unknown {
  if (!isContainer(value)) return leaf(value);
  const emptyLike = (source: Container): Container => (Array.isArray(source) ? new Array<unknown>(source.length) : {});
  const root = emptyLike(value);
  const pending: [Container, Container][] = [[value, root]];
  while (pending.length > 0) {
    const [source, target] = pending.pop()!;
    const isArray = Array.isArray(source);
    const entries: [string | number, unknown][] = isArray ? source.map((inner, index) => [index, inner]) : Object.entries(source);
    for (const [field, inner] of entries) {
      let copy: unknown;
      if (!isArray && SHOWN_ONCE.has(field as string) && typeof inner === 'string') copy = null;
      else if (isContainer(inner)) {
        copy = emptyLike(inner);
        pending.push([inner, copy as Container]);
      } else copy = leaf(inner);
      // defineProperty, not assignment: a "__proto__" key in echoed client data stays a plain field.
      Object.defineProperty(target, field, { value: copy, enumerable: true, writable: true, configurable: true });
    }
  }
  return root;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `Idempotency-Key` on POST: the first request with a key runs; a repeat with the
 * same body gets the stored response, with another body 409 IDEMPOTENCY_CONFLICT.
 * The claim is a row in PostgreSQL (per tenant, 24 h), so a concurrent duplicate
 * can never execute twice: it waits briefly for the first, then gets 409.
 * Server errors (5xx) release the key so the client can retry.
 */
export function createIdempotency(app: Knex, log: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get('Idempotency-Key');
    if (req.method !== 'POST' || given === undefined || !req.caller) {
      next();
      return;
    }
    const tenantId = req.caller.tenantId;
    // Keys are scoped to the tenant and to the key's mode: a test key never replays a live
    // response. The mark cannot collide with a live key: a header value holds no line break.
    const key = req.caller.sandbox ? `test\n${given}` : given;
    if (given.length === 0 || given.length > 255) {
      next(new ValidationError('Idempotency-Key must be 1 to 255 characters.', [{ path: 'Idempotency-Key', message: 'must be 1 to 255 characters' }]));
      return;
    }
    const hash = requestHash(req.method, req.originalUrl.split('?')[0], req.body);

    const claim = async (): Promise<StoredKey | null> =>
      withTenant(app, tenantId, (t) => claimIdempotencyKey(t, key, hash, KEY_TTL_HOURS));

    const replay = (response: Response, stored: StoredKey) => {
      response.set('Idempotent-Replayed', 'true');
      response.status(stored.response_status ?? 200).json(stored.response_body);
    };

    const run = async () => {
      let stored = await claim();
      const deadline = Date.now() + IN_PROGRESS_WAIT_MS;
      while (stored && stored.request_hash === hash && stored.state === 'in_progress' && Date.now() < deadline) {
        await sleep(100);
        stored = await claim();
      }
      if (stored) {
        if (stored.request_hash !== hash) {
          throw new ConflictError('This Idempotency-Key was already used with a different request body.', 'IDEMPOTENCY_CONFLICT');
        }
        if (stored.state === 'in_progress') {
          throw new ConflictError('A request with this Idempotency-Key is still in progress; retry shortly.', 'IDEMPOTENCY_CONFLICT');
        }
        replay(res, stored);
        return;
      }

      const originalJson = res.json.bind(res);
      let captured: unknown;
      res.json = (body: unknown) => {
        captured = body;
        return originalJson(body);
      };
      res.on('finish', () => {
        const status = res.statusCode;
        const settle = withTenant(app, tenantId, (t) =>
          status >= 500 ? releaseIdempotencyKey(t, key) : completeIdempotencyKey(t, key, status, withoutSecrets(captured ?? null)),
        );
        settle.catch((error: unknown) => log.error({ err: error }, 'failed to record idempotent response'));
      });
      next();
    };
    run().catch(next);
  };
}
