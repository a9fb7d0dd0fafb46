import { expect } from 'chai';
import { harness } from '../helpers/harness';

/**
 * The schema fits a database distributed by tenant (Citus, README "Running on
 * many machines"): on every table with a tenant_id, each primary key, unique
 * constraint and unique index leads with tenant_id, so a row's identity and
 * every uniqueness rule live on one tenant's shard.
 */
describe('schema: keys lead with tenant_id', () => {
  it('when the catalog is read, then every primary and unique key of a tenant table starts with tenant_id', async () => {
    const { rows } = await harness().db.owner.raw(`
      SELECT c.relname AS "table", i.relname AS "index", ix.indisprimary AS "primary",
             (SELECT array_agg(a.attname::text ORDER BY k.ordinality)
                FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ordinality)
                LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS columns
        FROM pg_index ix
        JOIN pg_class c ON c.oid = ix.indrelid
        JOIN pg_class i ON i.oid = ix.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND ix.indisunique
         AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND t.attnotnull AND NOT t.attisdropped)
       ORDER BY 1, 2`);
    const keys = rows as { table: string; index: string; primary: boolean; columns: (string | null)[] }[];
    expect(keys.length, 'tenant tables have keys').to.be.greaterThan(20);
    const misfits = keys.filter((key) => key.columns[0] !== 'tenant_id').map((key) => `${key.table}.${key.index} (${key.columns.map((column) => column ?? '<expression>').join(', ')})`);
    expect(misfits, 'keys that do not lead with tenant_id').to.deep.equal([]);
    const tables = new Set(keys.filter((key) => key.primary).map((key) => key.table));
    const withTenant = (await harness().db.owner.raw(`
      SELECT DISTINCT c.relname AS "table" FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id' AND a.attnotnull AND NOT a.attisdropped`)).rows as { table: string }[];
    expect(withTenant.map((row) => row.table).filter((table) => !tables.has(table)), 'tenant tables without a primary key').to.deep.equal([]);
  });

  it('when a stored function writes to the outbox, then its ON CONFLICT names the tenant-leading key', async () => {
    const { rows } = await harness().db.owner.raw(`
      SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public' AND p.prosrc ~* 'ON CONFLICT\\s*\\(\\s*queue\\s*,'`);
    expect((rows as { name: string }[]).map((row) => row.name)).to.deep.equal([]);
  });

  it('when a table has a tenant_id that may be null, then it is one of the known platform tables (reference tables on Citus)', async () => {
    // A pooled line belongs to no tenant: phone lines are platform data, shared by the tenants of a pool.
    const { rows } = await harness().db.owner.raw(`
      SELECT c.relname AS "table" FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id' AND NOT a.attnotnull AND NOT a.attisdropped ORDER BY 1`);
    expect((rows as { table: string }[]).map((row) => row.table)).to.deep.equal(['phone_lines']);
  });
});
