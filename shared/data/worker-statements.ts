import type { Knex } from 'knex';
import { BatchCall, createBatcher, rowsByItem } from '../db/batcher';
import { gatherWindowMs } from '../db';

/**
 * The router's and the dispatcher's hot statements, gathered per connection
 * pool (senderz_worker_statements) in two lanes: writes (routing decisions
 * and accepted marks) go together, and so do reads (routing and dispatch
 * contexts). A read never waits behind a write's commit and WAL flush, and an
 * accepted mark, which is off the latency path, rides with the next routing
 * decision of the process instead of taking a commit of its own. Each kind
 * runs through its own batch function, each item in its own tenant's scope.
 * Callers see one call per item; see shared/data/routes.ts and
 * shared/data/dispatches.ts.
 */
export type WorkerItem =
  | { kind: 'accepted'; tenant_id: string; dispatch_id: string }
  | { kind: 'route_commit'; tenant_id: string; message_id: string; [field: string]: unknown }
  | { kind: 'route_context'; tenant_id: string; message_id: string }
  | { kind: 'dispatch_context'; tenant_id: string; dispatch_id: string };

type Kind = WorkerItem['kind'];
const KINDS: Kind[] = ['accepted', 'route_commit', 'route_context', 'dispatch_context'];

/** Most items in one statement (of every kind together). */
const MAX_BATCH = 200;
/** Statements in flight at once per lane and pool. */
const MAX_IN_FLIGHT = 2;

export type WorkerStatement = (item: WorkerItem, call?: BatchCall) => Promise<unknown>;

const WRITES = new Set<Kind>(['accepted', 'route_commit']);

const lanes = new WeakMap<Knex, { reads: WorkerStatement; writes: WorkerStatement }>();

export function workerStatements(app: Knex): WorkerStatement {
  let pair = lanes.get(app);
  if (!pair) {
    pair = { reads: lane(app), writes: lane(app) };
    lanes.set(app, pair);
  }
  const { reads, writes } = pair;
  return (item, call) => (WRITES.has(item.kind) ? writes(item, call) : reads(item, call));
}

function lane(app: Knex): WorkerStatement {
  return createBatcher<WorkerItem, unknown>({
    maxBatch: MAX_BATCH,
    maxInFlight: MAX_IN_FLIGHT,
    lingerMs: gatherWindowMs(app),
    async run(items) {
      const byKind = new Map<Kind, { position: number; body: Record<string, unknown> }[]>(KINDS.map((kind) => [kind, []]));
      items.forEach((item, position) => {
        const { kind, ...body } = item;
        byKind.get(kind)?.push({ position, body });
      });
      const list = (kind: Kind) => JSON.stringify((byKind.get(kind) ?? []).map((entry) => entry.body));
      const result = await app.raw('SELECT kind, item, result FROM senderz_worker_statements(?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb)', [
        list('accepted'),
        list('route_commit'),
        list('route_context'),
        list('dispatch_context'),
      ]);
      const rows = result.rows as { kind: Kind; item: number; result: unknown }[];
      const answers = new Array<unknown>(items.length).fill(undefined);
      for (const kind of KINDS) {
        if (kind === 'accepted') continue;
        const entries = byKind.get(kind) ?? [];
        const found = rowsByItem(rows.filter((row) => row.kind === kind), entries.length);
        entries.forEach((entry, index) => {
          answers[entry.position] = found[index]?.result ?? null;
        });
      }
      return answers;
    },
  });
}
