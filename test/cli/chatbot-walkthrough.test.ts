import path from 'node:path';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { Senderz } from '../../sdk/src';
import { createTenant, eventually, harness } from '../helpers/harness';
import { RunningPlatform, startPlatform } from '../helpers/platform';

const DIST = path.resolve(__dirname, '..', '..');
const CLI = path.join(DIST, 'cli', 'index.js');
const SIMULATOR_CLI = path.join(DIST, 'simulator', 'cli.js');

function node(script: string, args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
}

/** The README's "build a two-way chatbot" steps, run as written (CLI, SDK, simulator CLI) against a running platform. */
describe('README walkthrough: a two-way chatbot', function () {
  this.timeout(60000);
  let platform: RunningPlatform;

  before(async function () {
    platform = await startPlatform({ pools: ['sending', 'dispatch'] });
  });

  after(async function () {
    this.timeout(20000);
    await platform.stop();
  });

  it('when a customer texts a question the FAQ answers, then the bot replies from the same line and `senderz tail`-style listing shows both', async function () {
    const pool = `p-bot-${crypto.randomBytes(3).toString('hex')}`;
    const tenant = await createTenant({ pool });
    const line = await platform.addLine({ pool });
    const env = { SENDERZ_URL: platform.url, SENDERZ_API_KEY: tenant.key, SENDERZ_ADMIN_KEY: harness().config.adminApiKey };

    // 1. The operator finds the line and dedicates it to the tenant: a pooled line only
    //    routes an inbound message to a tenant that has already written to that number.
    const lines = JSON.parse(await node(CLI, ['admin', 'lines', 'list', '--json'], env)) as { id: string; phone_number: string }[];
    expect(lines.find((item) => item.phone_number === line.phoneNumber)?.id).to.equal(line.id);
    const dedicated = JSON.parse(await node(CLI, ['admin', 'lines', 'update', line.id, '--mode', 'dedicated', '--tenant', tenant.id, '--json'], env)) as { mode: string; tenant_id: string };
    expect(dedicated).to.include({ mode: 'dedicated', tenant_id: tenant.id });

    // 2. Persona and an FAQ source (the README shows these with curl; the SDK makes the same calls).
    const senderz = new Senderz({ apiKey: tenant.key, baseUrl: platform.url });
    await senderz.ai.putPersona({ business_name: 'Acme Bikes', auto_reply_enabled: true, voice_handoff_number: '+15551230000' });
    await senderz.ai.addSource({ type: 'faq', question: 'What are your opening hours?', answer: 'We are open 9am to 6pm, Monday to Saturday.' });

    // 3. A customer texts the line, through the simulator's control CLI (the simulator treats
    //    numbers ending in an even digit as iMessage-capable, and inbound defaults to iMessage).
    await node(SIMULATOR_CLI, ['inbound', '--url', platform.simulator.url()!, '--line', line.id, '--from', '+15557654320', '--body', 'what are your opening hours?'], {});

    // 4. The inbound message and the bot's reply, as `senderz tail` would print them.
    const reply = await eventually(
      async () => {
        const page = await senderz.messages.list({ limit: 10 });
        return page.data.find((message) => message.direction === 'outbound' && message.to === '+15557654320' && ['sent', 'delivered', 'read'].includes(message.status));
      },
      40000,
      'the auto-reply',
    );
    expect(reply.body).to.contain('9am to 6pm');
    expect(reply.from).to.equal(line.phoneNumber);
    const inbound = (await senderz.messages.list({ direction: 'inbound' })).data[0];
    expect(inbound).to.include({ from: '+15557654320', body: 'what are your opening hours?', status: 'received' });
  });
});
