import { Command, Option } from 'commander';
import type { Message, MessageEvent, Schemas } from '../../sdk/src';
import { globals, output, table, tenantClient, UsageError, write } from '../context';

const FINAL = new Set(['delivered', 'read', 'failed', 'blocked']);

/** `--data name=Ada --data code=123` → `{name: 'Ada', code: '123'}`. */
function collectData(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const equals = value.indexOf('=');
  if (equals < 1) throw new UsageError(`--data expects name=value, got "${value}"`);
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) };
}

function eventLines(events: MessageEvent[]): string {
  return table(events.map((event) => [String(event.sequence), event.occurred_at, event.status, event.reason ?? '']));
}

function messageLine(message: Message): string {
  return [message.created_at, message.id, message.direction, `${message.from ?? '-'} → ${message.to}`, message.channel, message.status + (message.reason ? ` (${message.reason})` : '')].join('  ');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function messageCommands(program: Command): void {
  program
    .command('send')
    .description('send a message (202: queued); --wait follows it to a final status')
    .requiredOption('--to <e164>', 'recipient, E.164 (+15551234567)')
    .option('--body <text>', 'message text (or --template)')
    .option('--template <name>', 'template name or id')
    .option('--data <name=value>', 'template variable (repeatable)', collectData)
    .addOption(new Option('--channel <channel>', 'channel').choices(['auto', 'imessage', 'sms', 'rcs']))
    .option('--from <e164>', 'send from this line of yours')
    .addOption(new Option('--type <type>', 'message type').choices(['otp', 'alert', 'marketing']))
    .option('--idempotency-key <key>', 'your own key (default: one is generated)')
    .option('--wait', 'poll until delivered, read, failed or blocked')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '60')
    .action(async (options: { to: string; body?: string; template?: string; data?: Record<string, string>; channel?: Schemas['SendMessageRequest']['channel']; from?: string; type?: Schemas['SendMessageRequest']['message_type']; idempotencyKey?: string; wait?: boolean; timeout: string }, command: Command) => {
      if ((options.body === undefined) === (options.template === undefined)) throw new UsageError('give exactly one of --body or --template');
      const client = tenantClient(command);
      const accepted = await client.messages.send(
        { to: options.to, body: options.body, template: options.template, data: options.data, channel: options.channel, from_number: options.from, message_type: options.type },
        { idempotencyKey: options.idempotencyKey },
      );
      if (!options.wait) {
        output(command, accepted, () => `${accepted.message_id}  ${accepted.status}  (channel ${accepted.channel}, ~${accepted.estimated_delivery_ms} ms)`);
        return;
      }
      const deadline = Date.now() + Number(options.timeout) * 1000;
      let message = await client.messages.get(accepted.message_id);
      while (!FINAL.has(message.status) && Date.now() < deadline) {
        await sleep(250);
        message = await client.messages.get(accepted.message_id);
      }
      output(command, message, () => messageLine(message));
      if (!FINAL.has(message.status)) throw new Error(`still ${message.status} after ${options.timeout} s`);
    });

  program
    .command('message <id>')
    .description('a message and its status history')
    .action(async (id: string, _options: unknown, command: Command) => {
      const client = tenantClient(command);
      const [message, events] = await Promise.all([client.messages.get(id), client.messages.events(id)]);
      output(command, { message, events }, () => `${messageLine(message)}\n${message.body === null ? '' : `body: ${message.body}\n`}${eventLines(events)}`);
    });

  program
    .command('tail')
    .description("follow the tenant's messages live: new messages and every status change (Ctrl-C to stop)")
    .option('--interval <ms>', 'poll interval', '1000')
    .option('--direction <direction>', 'only inbound or outbound')
    .option('--polls <n>', 'stop after this many polls (for scripts)')
    .action(async (options: { interval: string; direction?: 'inbound' | 'outbound'; polls?: string }, command: Command) => {
      const client = tenantClient(command);
      const json = globals(command).json === true;
      const seen = new Map<string, string>();
      let first = true;
      let stopped = false;
      const stop = () => {
        stopped = true;
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      for (let poll = 0; !stopped && (options.polls === undefined || poll < Number(options.polls)); poll += 1) {
        if (poll > 0) await sleep(Number(options.interval));
        const page = await client.messages.list({ limit: 100, direction: options.direction });
        // Oldest first, so a burst prints in the order it happened.
        for (const message of [...page.data].reverse()) {
          const before = seen.get(message.id);
          seen.set(message.id, message.status);
          // The first page is history: only what changes after start is printed.
          if (first || before === message.status) continue;
          write(json ? JSON.stringify({ change: before === undefined ? 'new' : 'status', message }) : messageLine(message));
        }
        first = false;
        // On stderr even with --json (stdout stays one JSON document per line): a script can wait for it before acting.
        if (poll === 0) process.stderr.write(`following ${client.baseUrl} (${seen.size} recent messages known); Ctrl-C to stop\n`);
      }
    });
}
