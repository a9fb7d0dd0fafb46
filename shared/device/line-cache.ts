import type { Knex } from 'knex';
import { decryptSecret } from '../crypto';
import { findPhoneLineVersion, PhoneLineRow } from '../data/phone-lines';

/** A line as the device route last read it: the row, its version and its decrypted secret. */
export interface KnownLine {
  line: PhoneLineRow;
  /** The row's xmin when read: senderz_apply_line_reports applies nothing once it has moved. */
  version: string;
  secret: string;
  /** True when read from PostgreSQL for this request rather than kept from an earlier one. */
  fresh: boolean;
}

/** Entries are dropped this long after they were read, used or not (they are only a shortcut). */
const KEEP_MS = 60_000;
/** Far more lines than one platform runs; past it the oldest entry goes. */
const MAX_LINES = 10_000;

/**
 * The lines the device route has read, kept in this process so a bridge's
 * next event post costs no line read. Nothing is decided on a kept row
 * alone: a post of status reports is applied on the condition that the line
 * is still at the kept version (senderz_apply_line_reports), any other post
 * reads the line again, and a kept row that fails a check (unknown secret,
 * disabled) is read again before the request is refused.
 */
export function createLineCache(app: Knex, encryptionKey: Buffer) {
  const kept = new Map<string, { entry: KnownLine; at: number }>();
  return {
    /** The kept line, if it was read less than a minute ago. */
    peek(lineId: string): KnownLine | null {
      const found = kept.get(lineId);
      if (!found) return null;
      if (Date.now() - found.at > KEEP_MS) {
        kept.delete(lineId);
        return null;
      }
      return { ...found.entry, fresh: false };
    },
    /** Reads the line from PostgreSQL and keeps it; null (and forgets it) when there is none. */
    async load(lineId: string): Promise<KnownLine | null> {
      kept.delete(lineId);
      const found = await findPhoneLineVersion(app, lineId);
      if (!found) return null;
      const entry: KnownLine = { line: found.line, version: found.version, secret: decryptSecret(encryptionKey, found.line.secret_encrypted), fresh: true };
      if (kept.size >= MAX_LINES) kept.delete(kept.keys().next().value as string);
      kept.set(lineId, { entry, at: Date.now() });
      return entry;
    },
    forget(lineId: string): void {
      kept.delete(lineId);
    },
  };
}

export type LineCache = ReturnType<typeof createLineCache>;
