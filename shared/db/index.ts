import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import pg from 'pg';
import type { Config } from '../config';

// int8 counts come back as strings by default; our counts fit in a double.
pg.types.setTypeParser(20, (value: string) => Number(value));
// DATE columns are calendar days, not instants: keep them as 'YYYY-MM-DD'.
pg.types.setTypeParser(1082, (value: string) => value);

/**
 * Two pools with two roles:
 * - `app`: the runtime role. NOSUPERUSER, NOBYPASSRLS, owns nothing; every
 *   tenant query runs in a transaction that sets `app.tenant_id`.
 * - `owner`: the migrating role. Used only by migrations, the operator API and
 *   the few cross-tenant jobs (outbox relay, sweeps), each explicit.
 */
export interface Database {
  app: Knex;
  owner: Knex;
  destroy(): Promise<void>;
}

export interface DatabaseOptions {
  appPoolMax?: number;
  ownerPoolMax?: number;
  /**
   * The app pool's gather window in ms (STATEMENT_GATHER_MS): how long a hot
   * statement that gathers concurrent calls (accepts, the router's and the
   * dispatcher's statements) waits for more calls before it goes. 0 (the
   * default): a call waits only for the next turn of the event loop, or for a
   * statement already in flight.
   */
  gatherMs?: number;
}

const gatherWindows = new WeakMap<Knex, number>();

/**
 * The gather window of a pool (DatabaseOptions.gatherMs; 0 for a pool made
 * without one). Fewer transactions a message at a low rate, for the same
 * added latency on every step that waits: see the README's "Gather window".
 */
export function gatherWindowMs(pool: Knex): number {
  return gatherWindows.get(pool) ?? 0;
}

export function createDatabase(config: Pick<Config, 'databaseUrl' | 'appDatabaseUrl'>, options: DatabaseOptions = {}): Database {
  const app = knexFactory({
    client: 'pg',
    connection: config.appDatabaseUrl,
    pool: { min: 0, max: options.appPoolMax ?? 10 },
  });
  if (options.gatherMs) gatherWindows.set(app, options.gatherMs);
  const owner = knexFactory({
    client: 'pg',
    connection: config.databaseUrl,
    pool: { min: 0, max: options.ownerPoolMax ?? 4 },
  });
  return {
    app,
    owner,
    async destroy() {
      await Promise.all([app.destroy(), owner.destroy()]);
    },
  };
}

/** One round trip to the server: readiness probes and boot checks. */
export async function ping(db: Knex): Promise<void> {
  await db.raw('SELECT 1');
}

export function migrationConfig(): Knex.MigratorConfig {
  return {
    directory: path.resolve(__dirname, '..', '..', 'migrations'),
    loadExtensions: ['.js'],
    tableName: 'knex_migrations',
  };
}

/** Creates the database named in the URL when it is missing and the role may create it. */
export async function ensureDatabaseExists(databaseUrl: string): Promise<void> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) return;
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  try {
    await client.connect();
  } catch {
    return; // No maintenance database to reach: assume the target exists and let the real connection report.
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    }
  } catch (error) {
    // Another process may have created it between the check and the create.
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await client.end();
  }
}

/**
 * The runtime role: created when missing (cluster-wide), never a superuser and
 * never allowed to bypass RLS, then granted exactly what the app needs on this
 * database. Run after every migration so new tables are covered.
 */
export async function ensureRuntimeRole(owner: Knex, role: string, password: string | null): Promise<void> {
  const exists = await owner.raw('SELECT 1 FROM pg_roles WHERE rolname = ?', [role]);
  if (exists.rows.length === 0) {
    try {
      await owner.raw(`CREATE ROLE ?? LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`, [role]);
    } catch (error) {
      if ((error as { code?: string }).code !== '42710') throw error; // created concurrently
    }
  }
  if (password) await owner.raw(`ALTER ROLE ?? PASSWORD ${pg.escapeLiteral(password)}`, [role]);
  const database = (await owner.raw('SELECT current_database() AS name')).rows[0].name as string;
  await owner.raw('GRANT CONNECT ON DATABASE ?? TO ??', [database, role]);
  await owner.raw('GRANT USAGE ON SCHEMA public TO ??', [role]);
  await owner.raw('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ??', [role]);
  await owner.raw('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ??', [role]);
  await owner.raw('REVOKE ALL ON knex_migrations, knex_migrations_lock FROM ??', [role]);
  // Operator-owned tables: the runtime role reads them (routing needs lines) but
  // only the operator path creates tenants and links.
  await owner.raw('REVOKE INSERT, UPDATE, DELETE ON tenants FROM ??', [role]);
  // Agency links and line assignments are read and written on the operator path only.
  await owner.raw('REVOKE ALL ON agency_links, agency_line_assignments FROM ??', [role]);
  // Lines are the operator's: the runtime role reads them to route, and writes only what a
  // bridge's heartbeat reports. Bridge URL, secret, mode and owner change through the operator path.
  await owner.raw('REVOKE INSERT, UPDATE, DELETE ON phone_lines FROM ??', [role]);
  await owner.raw('GRANT UPDATE (status, last_heartbeat_at, health) ON phone_lines TO ??', [role]);
  // The TCPA consent ledger is append-only for the application.
  await owner.raw('REVOKE UPDATE, DELETE, TRUNCATE ON consent_logs FROM ??', [role]);
  await owner.raw('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ??', [role]);
}

export async function migrateLatest(owner: Knex, role: string, password: string | null): Promise<string[]> {
  const [, applied] = (await owner.migrate.latest(migrationConfig())) as [number, string[]];
  await ensureRuntimeRole(owner, role, password);
  return applied;
}

export class UnsafeDatabaseRoleError extends Error {}

/**
 * Refuses to run when RLS could be silently off: the runtime role may bypass
 * it, owns a tenant table, or a tenant table lacks enabled + forced RLS.
 */
export async function assertRowLevelSecurity(app: Knex | Knex.Transaction): Promise<void> {
  const role = (
    await app.raw(`SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`)
  ).rows[0] as { rolname: string; rolsuper: boolean; rolbypassrls: boolean };
  if (role.rolsuper || role.rolbypassrls) {
    throw new UnsafeDatabaseRoleError(`database role "${role.rolname}" is a superuser or has BYPASSRLS; tenant isolation would be off`);
  }
  const unsafe = await app.raw(`
    SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND (c.relname = 'tenants' OR EXISTS (
             SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
       AND c.relname NOT IN ('phone_lines')
       AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity OR pg_get_userbyid(c.relowner) = current_user)`);
  if (unsafe.rows.length > 0) {
    const names = (unsafe.rows as { relname: string }[]).map((row) => row.relname).join(', ');
    throw new UnsafeDatabaseRoleError(`tenant tables without enforced row-level security for this role: ${names}`);
  }
}
