import { bootConfig, runMain, BootError } from '../shared/boot';
import { createDatabase, ensureDatabaseExists, migrateLatest, migrationConfig, ensureRuntimeRole } from '../shared/db';

runMain('migrate', async () => {
  const command = process.argv[2] ?? 'latest';
  if (!['latest', 'rollback'].includes(command)) throw new BootError(`unknown migrate command "${command}" (use latest or rollback)`);
  const config = bootConfig({ requireSecrets: false });
  await ensureDatabaseExists(config.databaseUrl).catch(() => undefined);
  const db = createDatabase(config);
  try {
    await db.owner.raw('SELECT 1').catch((error: Error) => {
      throw new BootError(`PostgreSQL is unreachable (${error.message})`);
    });
    if (command === 'latest') {
      const applied = await migrateLatest(db.owner, config.appDatabaseRole, config.appDatabasePassword);
      console.log(applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date');
    } else {
      const [, undone] = (await db.owner.migrate.rollback(migrationConfig())) as [number, string[]];
      await ensureRuntimeRole(db.owner, config.appDatabaseRole, config.appDatabasePassword).catch(() => undefined);
      console.log(undone.length ? `rolled back: ${undone.join(', ')}` : 'nothing to roll back');
    }
  } finally {
    await db.destroy();
  }
});
