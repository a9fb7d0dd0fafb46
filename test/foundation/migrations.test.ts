import { expect } from 'chai';
import crypto from 'node:crypto';
import pg from 'pg';
import { createDatabase, ensureDatabaseExists, migrateLatest, migrationConfig, assertRowLevelSecurity } from '../../shared/db';
import { harness } from '../helpers/harness';

describe('migrations', () => {
  it('when migrated up, down and up again on a fresh database, then every step succeeds and the RLS check passes', async function () {
    this.timeout(60000);
    const name = `senderz_migtest_${crypto.randomBytes(4).toString('hex')}`;
    const url = new URL(harness().config.databaseUrl);
    url.pathname = `/${name}`;
    const appUrl = new URL(harness().config.appDatabaseUrl);
    appUrl.pathname = `/${name}`;
    await ensureDatabaseExists(url.toString());
    const db = createDatabase({ databaseUrl: url.toString(), appDatabaseUrl: appUrl.toString() });
    try {
      const role = harness().config.appDatabaseRole;
      const applied = await migrateLatest(db.owner, role, null);
      expect(applied.length).to.be.greaterThan(0);
      await assertRowLevelSecurity(db.app);
      const tables = async () =>
        (await db.owner.raw("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex%'")).rows[0].n as number;
      expect(await tables()).to.be.greaterThan(25);
      await db.owner.migrate.rollback(migrationConfig(), true);
      expect(await tables()).to.equal(0);
      await migrateLatest(db.owner, role, null);
      expect(await tables()).to.be.greaterThan(25);
    } finally {
      await db.destroy();
      const admin = new URL(harness().config.databaseUrl);
      admin.pathname = '/postgres';
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await client.end();
    }
  });
});
