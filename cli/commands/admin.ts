import { Command, Option } from 'commander';
import type { PhoneLine, Tenant } from '../../sdk/src';
import { adminClient, output, table, UsageError } from '../context';

const PLANS = ['trial', 'starter', 'growth', 'scale'];

function tenantRows(tenants: Tenant[]): string {
  return table([['ID', 'NAME', 'PLAN', 'STATUS', 'POOL'], ...tenants.map((tenant) => [tenant.id, tenant.name, tenant.plan, tenant.status, tenant.pool])]);
}

function lineRows(lines: PhoneLine[]): string {
  return table([['ID', 'NUMBER', 'MODE', 'POOL/TENANT', 'STATUS', 'ENABLED'], ...lines.map((line) => [line.id, line.phone_number, line.mode, line.tenant_id ?? line.pool, line.status, String(line.enabled)])]);
}

function count(value: string): number | null {
  if (value === 'none') return null;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new UsageError(`expected a positive integer or "none", got "${value}"`);
  return parsed;
}

/** Operator commands (`/admin`, SENDERZ_ADMIN_KEY). */
export function adminCommands(program: Command): void {
  const admin = program.command('admin').description('operator commands (SENDERZ_ADMIN_KEY or --admin-key)');

  const tenants = admin.command('tenants').description('tenants');
  tenants
    .command('create')
    .requiredOption('--name <name>', 'tenant name')
    .addOption(new Option('--plan <plan>', 'plan').choices(PLANS))
    .option('--pool <pool>', 'line pool (default "default")')
    .option('--agency', 'mark as an agency')
    .action(async (options: { name: string; plan?: 'trial' | 'starter' | 'growth' | 'scale'; pool?: string; agency?: boolean }, command: Command) => {
      const tenant = await adminClient(command).tenants.create({ name: options.name, plan: options.plan, pool: options.pool, is_agency: options.agency });
      output(command, tenant, () => tenantRows([tenant]));
    });
  tenants
    .command('list')
    .action(async (_options: unknown, command: Command) => {
      const all: Tenant[] = [];
      for await (const tenant of adminClient(command).tenants.iterate({ limit: 100 })) all.push(tenant);
      output(command, all, () => tenantRows(all));
    });
  tenants
    .command('get <id>')
    .action(async (id: string, _options: unknown, command: Command) => {
      const tenant = await adminClient(command).tenants.get(id);
      output(command, tenant, () => tenantRows([tenant]));
    });

  admin
    .command('keys')
    .description('API keys')
    .command('create')
    .requiredOption('--tenant <id>', 'tenant id')
    .addOption(new Option('--prefix <prefix>', 'live or sandbox key').choices(['tf_live', 'tf_test']).default('tf_live'))
    .option('--name <name>', 'key name', 'cli')
    .option('--rate-limit <n>', 'requests per minute, or "none"', count)
    .addOption(new Option('--permissions <permissions>', 'permissions').choices(['full', 'read_only']))
    .action(async (options: { tenant: string; prefix: 'tf_live' | 'tf_test'; name: string; rateLimit?: number | null; permissions?: 'full' | 'read_only' }, command: Command) => {
      const key = await adminClient(command).apiKeys.create({ tenant_id: options.tenant, name: options.name, prefix: options.prefix, rate_limit: options.rateLimit, permissions: options.permissions });
      output(command, key, () => `${key.key}\n(key ${key.id} for tenant ${key.tenant_id}; shown once, store it now)`);
    });

  const lines = admin.command('lines').description('phone lines');
  lines
    .command('create')
    .requiredOption('--number <e164>', "the line's phone number")
    .requiredOption('--bridge-url <url>', "the device bridge's URL")
    .requiredOption('--secret <secret>', 'shared signing secret (32+ characters)')
    .addOption(new Option('--mode <mode>', 'pooled or dedicated').choices(['pooled', 'dedicated']).default('pooled'))
    .option('--tenant <id>', 'the tenant of a dedicated line')
    .option('--pool <pool>', 'the pool of a pooled line')
    .option('--capabilities <list>', 'comma-separated: imessage,sms,rcs', 'imessage,sms')
    .option('--max-per-minute <n>', 'per-line cap, or "none"', count)
    .option('--no-warmup', 'skip the warm-up ramp')
    .action(
      async (
        options: { number: string; bridgeUrl: string; secret: string; mode: 'pooled' | 'dedicated'; tenant?: string; pool?: string; capabilities: string; maxPerMinute?: number | null; warmup: boolean },
        command: Command,
      ) => {
        const listed = options.capabilities.split(',').map((item) => item.trim());
        const unknown = listed.filter((item) => !['imessage', 'sms', 'rcs'].includes(item));
        if (unknown.length) throw new UsageError(`unknown capabilities: ${unknown.join(', ')}`);
        const line = await adminClient(command).phoneLines.create({
          phone_number: options.number,
          bridge_url: options.bridgeUrl,
          secret: options.secret,
          mode: options.mode,
          tenant_id: options.tenant,
          pool: options.pool,
          capabilities: { imessage: listed.includes('imessage'), sms: listed.includes('sms'), rcs: listed.includes('rcs') },
          max_per_minute: options.maxPerMinute,
          warmup: options.warmup,
        });
        output(command, line, () => lineRows([line]));
      },
    );
  lines
    .command('update <id>')
    .description('reassign or change a line, e.g. --mode dedicated --tenant <id>')
    .addOption(new Option('--mode <mode>', 'pooled or dedicated').choices(['pooled', 'dedicated']))
    .option('--tenant <id>', 'dedicate the line to this tenant ("none" to clear)')
    .option('--pool <pool>', 'the pool of a pooled line')
    .option('--enable', 'enable the line')
    .option('--disable', 'disable the line')
    .option('--max-per-minute <n>', 'per-line cap, or "none"', count)
    .action(async (id: string, options: { mode?: 'pooled' | 'dedicated'; tenant?: string; pool?: string; enable?: boolean; disable?: boolean; maxPerMinute?: number | null }, command: Command) => {
      if (options.enable && options.disable) throw new UsageError('give at most one of --enable and --disable');
      const line = await adminClient(command).phoneLines.update(id, {
        mode: options.mode,
        tenant_id: options.tenant === 'none' ? null : options.tenant,
        pool: options.pool,
        enabled: options.enable ? true : options.disable ? false : undefined,
        max_per_minute: options.maxPerMinute,
      });
      output(command, line, () => lineRows([line]));
    });
  lines
    .command('list')
    .action(async (_options: unknown, command: Command) => {
      const all: PhoneLine[] = [];
      for await (const line of adminClient(command).phoneLines.iterate({ limit: 100 })) all.push(line);
      output(command, all, () => lineRows(all));
    });
}
