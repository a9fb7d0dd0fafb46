import type { Knex } from 'knex';
import { findPhoneLine, usableLines, type PhoneLineRow, type RoutingTenant } from '../data/phone-lines';
import { decryptSecret } from '../crypto';

/**
 * Phone lines as the router and the dispatcher see them, kept in process for
 * a short time so a routing decision and a push read no line rows from
 * PostgreSQL. A cached answer is only ever a first guess: the statement that
 * commits a routing decision checks the line is still enabled and online,
 * the dispatcher's read returns the line's current state, and a negative
 * answer ("no usable line") is always re-read before a message waits.
 */
export interface LineDirectory {
  /** Lines the tenant may send from (dedicated, its pool's), ordered by id. */
  usable(tenant: RoutingTenant, options?: { fresh?: boolean }): Promise<PhoneLineRow[]>;
  /** One line by id, or null when it no longer exists. */
  line(id: string, options?: { fresh?: boolean }): Promise<PhoneLineRow | null>;
  /** The line's bridge secret in clear, decrypted once per cached row. */
  secret(line: PhoneLineRow): string;
}

/** How long a line row may be served from memory. */
export const LINE_CACHE_MS = 1000;

export function createLineDirectory(app: Knex, encryptionKey: Buffer, ttlMs = LINE_CACHE_MS): LineDirectory {
  const usableByTenant = new Map<string, { at: number; lines: PhoneLineRow[] }>();
  const byId = new Map<string, { at: number; line: PhoneLineRow | null }>();
  const secrets = new WeakMap<PhoneLineRow, string>();
  const fresh = (at: number) => Date.now() - at < ttlMs;

  function remember(lines: PhoneLineRow[]): void {
    const at = Date.now();
    for (const line of lines) byId.set(line.id, { at, line });
  }

  return {
    async usable(tenant, options = {}) {
      const key = `${tenant.id}\u0000${tenant.pool}`;
      const hit = usableByTenant.get(key);
      if (hit && !options.fresh && fresh(hit.at)) return hit.lines;
      const lines = await usableLines(app, tenant);
      usableByTenant.set(key, { at: Date.now(), lines });
      remember(lines);
      return lines;
    },
    async line(id, options = {}) {
      const hit = byId.get(id);
      if (hit && !options.fresh && fresh(hit.at)) return hit.line;
      const line = await findPhoneLine(app, id);
      byId.set(id, { at: Date.now(), line });
      return line;
    },
    secret(line) {
      let secret = secrets.get(line);
      if (secret === undefined) {
        secret = decryptSecret(encryptionKey, line.secret_encrypted);
        secrets.set(line, secret);
      }
      return secret;
    },
  };
}
