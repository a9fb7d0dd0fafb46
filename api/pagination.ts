import { ValidationError } from '../shared/errors';

export interface Page {
  limit: number;
  cursor: string | null;
}

/** Opaque cursors: the last id of the previous page, base64url-encoded. */
export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | null {
  if (!cursor) return null;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[A-Za-z0-9_:.+-]{1,100}$/.test(id)) {
    throw new ValidationError('Invalid cursor.', [{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  }
  return id;
}

export function pageFrom(query: { limit?: number; cursor?: string }): Page {
  return { limit: query.limit ?? 50, cursor: decodeCursor(query.cursor) };
}

/** Rows were fetched with limit + 1 to learn whether another page exists. */
export function pageOf<Row, Out>(rows: Row[], page: Page, present: (row: Row) => Out, idOf: (row: Row) => string) {
  const more = rows.length > page.limit;
  const kept = more ? rows.slice(0, page.limit) : rows;
  return { data: kept.map(present), next_cursor: more ? encodeCursor(idOf(kept[kept.length - 1])) : null };
}
