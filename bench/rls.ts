import { createDatabase } from '../shared/db';
import { loadConfig } from '../shared/config';
import { acceptOutbound } from '../shared/messages/outbound';
import { withTenant } from '../shared/db/tenant';
import { createTenant } from '../shared/data/tenants';
import { createBenchEnv, printTable, progress, Row, summarize } from './lib';
import type { Knex } from 'knex';

async function measure(db: Knex, tenantId: string, operations: number, concurrency: number, work: (db: Knex, tenantId: string, i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < operations) {
        const i = next;
        next += 1;
        await work(db, tenantId, i);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return operations / seconds;
}

const accept = (db: Knex, tenantId: string, i: number) =>
  acceptOutbound(db, tenantId, { to: `+1555${String(1000000 + i).padStart(7, '0')}`, body: 'rls bench', requestedChannel: 'auto', messageType: 'alert', sandbox: false, dispatchWebhook: true });

const readBack = (db: Knex, tenantId: string) => withTenant(db, tenantId, (t) => t.from('messages').orderBy('id', 'desc').limit(20));

/**
 * The cost of row-level security on the hot path: the same accept statement
 * and the same tenant read, through the runtime role (RLS enforced) and
 * through the owning superuser role (RLS not applied), alternating, one run.
 */
export async function runRlsBench(options: { runs?: number; operations?: number } = {}): Promise<Row[]> {
  const runs = options.runs ?? 3;
  const operations = options.operations ?? 3000;
  const bench = await createBenchEnv('rls');
  const config = loadConfig(bench.env);
  const db = createDatabase(config, { appPoolMax: 10, ownerPoolMax: 10 });
  try {
    const tenant = await createTenant(db.owner, { name: 'rls bench' });
    const on: number[] = [];
    const off: number[] = [];
    const readOn: number[] = [];
    const readOff: number[] = [];
    for (let run = 0; run < runs; run += 1) {
      progress(`rls: run ${run + 1}/${runs}`);
      on.push(await measure(db.app, tenant.id, operations, 10, accept));
      off.push(await measure(db.owner, tenant.id, operations, 10, accept));
      readOn.push(await measure(db.app, tenant.id, operations, 10, readBack));
      readOff.push(await measure(db.owner, tenant.id, operations, 10, readBack));
    }
    return [
      summarize('rls: accept statement', 'RLS on (runtime role)', on, 'ops/s'),
      summarize('rls: accept statement', 'RLS off (owner role)', off, 'ops/s'),
      summarize('rls: accept statement', 'on / off', on.map((value, i) => value / off[i]), 'ratio'),
      summarize('rls: tenant read (20 rows)', 'RLS on', readOn, 'ops/s'),
      summarize('rls: tenant read (20 rows)', 'RLS off', readOff, 'ops/s'),
      summarize('rls: tenant read (20 rows)', 'on / off', readOn.map((value, i) => value / readOff[i]), 'ratio'),
    ];
  } finally {
    await db.destroy();
    await bench.cleanup();
  }
}

if (require.main === module) void runRlsBench().then(printTable);
