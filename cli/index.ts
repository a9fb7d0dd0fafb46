#!/usr/bin/env node
import { Command } from 'commander';
import { renderError } from './context';
import { messageCommands } from './commands/messages';
import { contactCommands } from './commands/contacts';
import { adminCommands } from './commands/admin';

/**
 * `senderz`: the API from a terminal, built on @senderz/sdk. Configuration:
 * SENDERZ_API_KEY, SENDERZ_ADMIN_KEY, SENDERZ_URL (default http://127.0.0.1:3000), or the flags.
 */
export function buildProgram(): Command {
  const program = new Command('senderz')
    .description('senderz from the command line: send, follow and import; operator commands under `admin`')
    .option('--url <url>', 'API base URL (default $SENDERZ_URL or http://127.0.0.1:3000)')
    .option('--api-key <key>', 'tenant API key (default $SENDERZ_API_KEY)')
    .option('--admin-key <key>', 'operator key (default $SENDERZ_ADMIN_KEY)')
    .option('--json', 'machine-readable output: one JSON document per line')
    .showHelpAfterError();
  messageCommands(program);
  contactCommands(program);
  adminCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    const { text, exitCode } = renderError(error, program.opts<{ json?: boolean }>().json === true);
    process.stderr.write(`${text}\n`);
    return exitCode;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
