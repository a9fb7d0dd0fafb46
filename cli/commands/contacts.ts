import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import type { ContactImport } from '../../sdk/src';
import { globals, output, tenantClient, UsageError } from '../context';

function summary(state: ContactImport): string {
  const lines = [`import ${state.id}: ${state.status}; ${state.created} created, ${state.updated} updated, ${state.failed} failed of ${state.progress.total}`];
  for (const problem of (state.errors ?? []).slice(0, 20)) lines.push(`  row ${problem.row}: ${problem.field} ${problem.reason}`);
  if ((state.errors ?? []).length > 20) lines.push(`  … ${(state.errors ?? []).length - 20} more`);
  return lines.join('\n');
}

export function contactCommands(program: Command): void {
  const contacts = program.command('contacts').description('contacts');

  contacts
    .command('import <file>')
    .description('import contacts from a CSV (header phone_number,name,email,…) or a JSON array, with a progress bar')
    .option('--update-existing', 'update contacts whose phone number exists')
    .option('--group <id>', 'also add every imported contact to this group')
    .option('--no-wait', 'return once the import is queued')
    .action(async (file: string, options: { updateExisting?: boolean; group?: string; wait: boolean }, command: Command) => {
      if (!fs.existsSync(file)) throw new UsageError(`no such file: ${file}`);
      const text = fs.readFileSync(file, 'utf8');
      let rows: string | unknown[] = text;
      if (path.extname(file).toLowerCase() === '.json') {
        const parsed: unknown = JSON.parse(text);
        if (!Array.isArray(parsed)) throw new UsageError('a JSON import file must hold an array of contacts');
        rows = parsed;
      }
      const client = tenantClient(command);
      const queued = await client.contacts.import(rows as string, { updateExisting: options.updateExisting, groupId: options.group });
      if (!options.wait) {
        output(command, queued, () => `import ${queued.id} queued (${queued.progress.total} rows)`);
        return;
      }
      const bar = globals(command).json ? null : new SingleBar({ format: 'importing [{bar}] {percentage}% | {value}/{total} rows | {failed} failed', stream: process.stderr }, Presets.shades_classic);
      bar?.start(queued.progress.total, 0, { failed: 0 });
      try {
        const done = await client.contacts.waitForImport(queued.id, {
          intervalMs: 300,
          onProgress: (state) => bar?.update(state.progress.processed, { failed: state.failed }),
        });
        bar?.stop();
        output(command, done, () => summary(done));
      } finally {
        bar?.stop();
      }
    });
}
