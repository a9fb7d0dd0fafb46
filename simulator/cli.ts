// Tiny client for the simulator's control endpoints:
//   node dist/simulator/cli.js inbound --line <id> --from +15551234567 --body "hi" [--channel sms] [--media "https://a/1.png https://a/2.jpg"]
//   node dist/simulator/cli.js sends | lines | reset
//   node dist/simulator/cli.js heartbeat --line <id>
//   node dist/simulator/cli.js add-line --line <id> --number +15550001112 --secret <secret>
//   node dist/simulator/cli.js config ['{"httpStatusQueue":[503]}']
// Common flags: --url (default $SIMULATOR_URL or http://127.0.0.1:4010), --token (default $SIMULATOR_CONTROL_TOKEN,
// else the token `npm start` keeps in .senderz/secrets.json of the current folder).
import fs from 'node:fs';
import path from 'node:path';

export interface ParsedArgs {
  command: string | undefined;
  flags: Record<string, string | true>;
  positional: string[];
}

export function parseArgs(argv: string[]): ParsedArgs {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    if (arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      if (equals !== -1) {
        flags[arg.slice(2, equals)] = arg.slice(equals + 1);
        continue;
      }
      const next = argv[index + 1];
      if (next !== undefined && !next.startsWith('--')) {
        flags[arg.slice(2)] = next;
        index += 1;
      } else {
        flags[arg.slice(2)] = true;
      }
    } else {
      positional.push(arg);
    }
  }
  return { command: positional.shift(), flags, positional };
}

const USAGE = `usage: cli.js <command> [flags]
  inbound   --line <id> --from <E.164> --body <text> [--channel imessage|rcs|sms] [--media "<url> <url>..."]
            (--body may be left out when --media is given)
  heartbeat --line <id>
  add-line  --line <id> --number <E.164> --secret <secret>
  remove-line --line <id>
  sends | lines | reset
  config [<json patch>]
flags: --url <simulator url> --token <control token>`;


/** The control token `npm start` generated into .senderz/secrets.json, when run from the same folder. */
function localControlToken(): string | undefined {
  try {
    const secrets = JSON.parse(fs.readFileSync(path.resolve(process.cwd(), '.senderz', 'secrets.json'), 'utf8')) as { simulatorControlToken?: unknown };
    return typeof secrets.simulatorControlToken === 'string' ? secrets.simulatorControlToken : undefined;
  } catch {
    return undefined;
  }
}

function requireFlag(flags: ParsedArgs['flags'], name: string): string {
  const value = flags[name];
  if (typeof value !== 'string' || value.length === 0) throw new Error(`--${name} is required\n${USAGE}`);
  return value;
}

/** Maps a command to the control request it makes. */
export function controlRequestFor(args: ParsedArgs): { method: string; path: string; body?: unknown } {
  const { command, flags, positional } = args;
  switch (command) {
    case 'inbound': {
      const media = typeof flags.media === 'string' ? flags.media.split(/\s+/).filter(Boolean) : [];
      const body: Record<string, string | string[]> = {
        line_id: requireFlag(flags, 'line'),
        from: requireFlag(flags, 'from'),
        body: media.length > 0 && flags.body === undefined ? '' : requireFlag(flags, 'body'),
      };
      if (typeof flags.channel === 'string') body.channel = flags.channel;
      if (media.length > 0) body.media = media;
      return { method: 'POST', path: '/control/inbound', body };
    }
    case 'heartbeat':
      return { method: 'POST', path: '/control/heartbeat', body: { line_id: requireFlag(flags, 'line') } };
    case 'add-line':
      return {
        method: 'POST',
        path: '/control/lines',
        body: { line_id: requireFlag(flags, 'line'), phone_number: requireFlag(flags, 'number'), secret: requireFlag(flags, 'secret') },
      };
    case 'remove-line':
      return { method: 'DELETE', path: `/control/lines/${encodeURIComponent(requireFlag(flags, 'line'))}` };
    case 'sends':
      return { method: 'GET', path: '/control/sends' };
    case 'lines':
      return { method: 'GET', path: '/control/lines' };
    case 'reset':
      return { method: 'POST', path: '/control/reset' };
    case 'config': {
      if (positional.length === 0) return { method: 'GET', path: '/control/config' };
      let patch: unknown;
      try {
        patch = JSON.parse(positional.join(' '));
      } catch {
        throw new Error('config patch is not valid JSON');
      }
      return { method: 'POST', path: '/control/config', body: patch };
    }
    default:
      throw new Error(command ? `unknown command "${command}"\n${USAGE}` : USAGE);
  }
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number; body: unknown }> {
  const args = parseArgs(argv);
  const request = controlRequestFor(args);
  const baseUrl = (typeof args.flags.url === 'string' ? args.flags.url : env.SIMULATOR_URL || 'http://127.0.0.1:4010').replace(/\/+$/, '');
  const token = typeof args.flags.token === 'string' ? args.flags.token : (env.SIMULATOR_CONTROL_TOKEN ?? localControlToken());
  const headers: Record<string, string> = {};
  if (request.body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${baseUrl}${request.path}`, {
    method: request.method,
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: show it as text.
  }
  return { status: response.status, body };
}

if (require.main === module) {
  runCli(process.argv.slice(2))
    .then(({ status, body }) => {
      console.log(JSON.stringify(body, null, 2));
      process.exit(status >= 200 && status < 300 ? 0 : 1);
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(2);
    });
}
