import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { api, createTenant, eventually, harness, TestTenant } from '../helpers/harness';
import { RunningPlatform, startPlatform } from '../helpers/platform';

/** Debian's Chromium (`apt-get install chromium`); playwright-core downloads no browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '..', '..', '..', 'test-artifacts');
/** The job a send enqueues on `sending` (shared/queues.ts). */
const JOB_NAME = 'route-message';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage });
}

describe('in a browser: Bull Board and the API reference', function () {
  this.timeout(120000);
  let browser: Browser;
  let platform: RunningPlatform;
  let tenant: TestTenant;

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      // In CI (.ci/run sets CI) a missing browser is a failure: a green run must mean these ran.
      if (process.env.CI) throw new Error(`${CHROMIUM} is absent: the browser tests cannot run (install the Debian package "chromium").`);
      process.stderr.write(`SKIPPED browser tests: ${CHROMIUM} is absent (install the Debian package "chromium").\n`);
      this.skip();
    }
    // No worker pools: a send stays visible as a waiting job in the `sending` queue.
    platform = await startPlatform({ pools: [] });
    const pool = `p-browser-${crypto.randomBytes(3).toString('hex')}`;
    tenant = await createTenant({ pool });
    await platform.addLine({ pool });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
  });

  after(async () => {
    await browser?.close();
    // Take our waiting job out of the shared run's queue so no later test's pool routes it.
    const sending = harness().queues.get('sending');
    for (const job of await sending.getJobs(['waiting', 'prioritized', 'delayed'])) {
      if ((job?.data as { tenantId?: string } | undefined)?.tenantId === tenant?.id) await job.remove();
    }
    await platform?.stop();
  });

  it('when an operator opens /admin/queues without credentials, then it is refused; with the admin key (Basic), the queues show and a send appears live in `sending`', async () => {
    const anonymous = await browser.newContext();
    const refused = await anonymous.request.get(`${platform.url}/admin/queues`);
    expect(refused.status()).to.equal(401);
    expect(refused.headers()['www-authenticate']).to.match(/^Basic /);
    await anonymous.close();

    const context = await browser.newContext({ httpCredentials: { username: 'operator', password: harness().config.adminApiKey } });
    const page = await context.newPage();
    try {
      const response = await page.goto(`${platform.url}/admin/queues`);
      expect(response?.status()).to.equal(200);
      const card = (queue: string) => page.locator('[class*="queueCard"]').filter({ has: page.locator(`a[title="${queue}"]`) });
      for (const queue of ['sending', 'dispatch', 'webhooks', 'campaigns', 'billing', 'maintenance']) await card(queue).waitFor();
      const total = async () => Number(/(\d+)\s+Jobs?/.exec((await card('sending').locator('[class*="total"]').innerText()) ?? '')?.[1] ?? NaN);
      const before = await total();
      expect(Number.isFinite(before), 'the sending card shows a job count').to.equal(true);

      const sent = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551234573', body: 'watch the board' });
      expect(sent.status).to.equal(202);

      // No reload: the board polls its API and the card's count moves on its own.
      await eventually(async () => (await total()) >= before + 1, 30000, 'the sending card to count the new job');
      await screenshot(page, 'bull-board-dashboard.png');

      // Sends are prioritized jobs (OTP ahead of marketing): the job is listed under that status, named after its work.
      await page.goto(`${platform.url}/admin/queues/queue/sending?status=prioritized`);
      // The job id names the message: `route-message__<message id>`.
      await page.getByText(`${JOB_NAME}__${sent.body.data.message_id as string}`).first().waitFor({ timeout: 15000 });
      await screenshot(page, 'bull-board-sending-job.png');
    } finally {
      await context.close();
    }
  });

  it('when anyone opens /docs, then the interactive reference renders without errors, lists every tag, and opens POST /v1/messages with its body and Idempotency-Key', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      const response = await page.goto(`${platform.url}/docs`);
      expect(response?.status()).to.equal(200);
      expect(page.url()).to.equal(`${platform.url}/docs/`);
      await page.locator('.opblock-tag[data-tag="Messages"]').waitFor();
      expect(await page.locator('.info .title').innerText()).to.contain('senderz API');
      expect(await page.locator('.errors-wrapper').count(), 'Swagger UI reported problems with the document').to.equal(0);
      for (const tag of ['Messages', 'Contacts', 'Campaigns', 'Webhooks', 'Operator']) expect(await page.locator(`.opblock-tag[data-tag="${tag}"]`).count(), tag).to.equal(1);

      // As a person would: open the Messages tag, then the operation.
      await page.locator('.opblock-tag[data-tag="Messages"]').click();
      const send = page.locator('#operations-Messages-sendMessage');
      await send.locator('.opblock-summary-path[data-path="/v1/messages"]').waitFor();
      expect(await send.getAttribute('class')).to.contain('opblock-post');
      await send.locator('.opblock-summary-control').click();
      await send.locator('.opblock-body').waitFor();
      expect(page.url()).to.match(/#\/Messages\/sendMessage$/);
      const body = await send.locator('.opblock-body').innerText();
      expect(body).to.contain('Idempotency-Key');
      expect(body).to.contain('202');
      await send.scrollIntoViewIfNeeded();
      await screenshot(page, 'api-reference-send-message.png', false);
    } finally {
      await context.close();
    }
  });
});
