import pino from 'pino';
import { createSimulator, Simulator } from '../simulator/server';
import { runDrainBaseline } from './drain';
import { benchOperator, createBenchEnv, percentile, PGSTAT_SETTLE_MS, printTable, progress, Row, stagePercentiles, stageTimes, startProcess, stopProcess, summarize, transactions, waitForHttp, freePort } from './lib';

/**
 * Campaign benchmark, with the Procfile's processes: `web`, `sending`,
 * `dispatch` and `campaigns` as separate processes, and the device simulator
 * (one pooled line, no per-minute cap) in this process.
 * - throughput: a 10,000-recipient campaign, from the POST to the last
 *   dispatch reaching the device, in messages per second;
 * - fairness: another tenant's single send (POST → dispatch reaches the
 *   device) while the campaign runs, against the same measure when idle.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Api {
  url: string;
  call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: { data: Record<string, unknown> } }>;
}

function client(url: string): Api {
  return {
    url,
    async call(method, path, headers, body) {
      const res = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { data: Record<string, unknown> } };
    },
  };
}

type SingleSend = { messageId: string; postedAt: number; atBridge: number };

/** POST one message and wait until the device has it: the latency a customer's single send sees. */
async function singleSendLatency(api: Api, auth: Record<string, string>, simulator: Simulator, to: string, sends?: SingleSend[]): Promise<number> {
  const started = Date.now();
  const res = await api.call('POST', '/v1/messages', auth, { to, body: 'single send', message_type: 'alert', channel: 'sms' });
  if (res.status !== 202) throw new Error(`single send: ${res.status} ${JSON.stringify(res.body)}`);
  const messageId = String(res.body.data.message_id);
  for (;;) {
    // A lookup, not sends(): copying every record each 5 ms would take the simulator's (this process's) time from the run.
    const send = simulator.firstSendOf(messageId);
    if (send) {
      sends?.push({ messageId, postedAt: started, atBridge: Date.parse(send.received_at) });
      return Date.parse(send.received_at) - started;
    }
    if (Date.now() - started > 120000) throw new Error('single send never reached the device');
    await sleep(5);
  }
}

export async function runCampaignBench(options: { recipients?: number; idleSamples?: number; channel?: 'auto' | 'sms' } = {}): Promise<Row[]> {
  const recipients = options.recipients ?? 10000;
  const idleSamples = options.idleSamples ?? 50;
  const channel = options.channel ?? 'sms';
  const bench = await createBenchEnv('campaign');
  const port = await freePort();
  const env = { ...bench.env, PORT: String(port), HOST: '127.0.0.1', AUTH_CACHE_SECONDS: '5', LOG_LEVEL: 'error' };
  const processes = [startProcess('bin/web.js', [], env), ...['sending', 'dispatch', 'campaigns'].map((pool) => startProcess('bin/worker.js', [pool], env))];
  const api = client(`http://127.0.0.1:${port}`);
  const simulator = createSimulator({ port: 0, platformUrl: api.url, heartbeatIntervalMs: 10000, logger: pino({ level: 'silent' }) });
  try {
    await waitForHttp(`${api.url}/healthz`);
    const { url: simulatorUrl } = await simulator.start();
    const operator = benchOperator(api.url, bench.adminKey);
    const bulk = { authorization: (await operator.tenantKey('bulk sender', 'bench')).authorization };
    const single = { authorization: (await operator.tenantKey('single sender', 'bench')).authorization };
    await operator.simulatedLine(simulator, simulatorUrl, '+15550001000', 'bench');
    await sleep(500);

    progress(`campaign: ${idleSamples} single sends, idle`);
    const idle: number[] = [];
    for (let i = 0; i < idleSamples; i += 1) idle.push(await singleSendLatency(api, single, simulator, `+1555900${String(1000 + i)}`));

    progress(`campaign: ${recipients} recipients, channel ${channel}`);
    const numbers = Array.from({ length: recipients }, (_v, i) => `+15551${String(i).padStart(6, '0')}`);
    const targets = new Set(numbers);
    await new Promise((resolve) => setTimeout(resolve, PGSTAT_SETTLE_MS));
    const transactionsBefore = await transactions(bench.env.DATABASE_URL);
    const launched = Date.now();
    const created = await api.call('POST', '/v1/campaigns', bulk, { name: 'bench', body: 'Campaign message', recipients: numbers, channel, message_type: 'alert' });
    if (created.status !== 202) throw new Error(`campaign: ${created.status} ${JSON.stringify(created.body).slice(0, 300)}`);
    const accepted = Date.now();
    const campaignId = String(created.body.data.id);

    const busy: number[] = [];
    const busySends: SingleSend[] = [];
    let fannedOutAt = 0;
    let lastDispatch = 0;
    let nextReport = Date.now() + 10000;
    for (let i = 0; ; i += 1) {
      // Counted without copying every record; the single sends (one dispatch each) are the rest.
      const dispatchedCount = simulator.sendCount() - idle.length - busy.length;
      if (dispatchedCount >= recipients) {
        const dispatched = simulator.sends().filter((send) => targets.has(send.to));
        if (dispatched.length >= recipients) {
          lastDispatch = Math.max(...dispatched.map((send) => Date.parse(send.received_at)));
          break;
        }
      }
      if (Date.now() - launched > 900000) throw new Error(`campaign stalled at ${dispatchedCount} dispatches`);
      if (!fannedOutAt) {
        const state = await api.call('GET', `/v1/campaigns/${campaignId}`, bulk);
        if (state.body.data.fanned_out === recipients) fannedOutAt = Date.now();
      }
      if (Date.now() > nextReport) {
        progress(`campaign: ${dispatchedCount}/${recipients} dispatched`);
        nextReport = Date.now() + 10000;
      }
      busy.push(await singleSendLatency(api, single, simulator, `+1555901${String(1000 + (i % 9000))}`, busySends));
      await sleep(250);
    }
    const seconds = (lastDispatch - launched) / 1000;
    const busyStages = stagePercentiles(busySends, await stageTimes(bench.env.DATABASE_URL, busySends.map((send) => send.messageId)));
    await stopBusyWork();
    // The simulator stops first: stopped while reports are still owed to a platform that is
    // already gone, it would wait for them forever.
    await simulator.stop();
    // Transactions per campaign message (the single sends in between are a few percent of them).
    await Promise.all(processes.map(stopProcess));
    await new Promise((resolve) => setTimeout(resolve, PGSTAT_SETTLE_MS));
    const perMessage = ((await transactions(bench.env.DATABASE_URL)) - transactionsBefore) / recipients;
    progress('campaign: raw BullMQ drain with the same transactions per job');
    const drain = await runDrainBaseline({ databaseUrl: bench.env.DATABASE_URL, redisUrl: bench.env.REDIS_URL, prefix: `${bench.prefix}_drain`, jobs: recipients, transactionsPerJob: perMessage });
    return [
      summarize('campaign', `${recipients} recipients: POST accepted`, [accepted - launched], 'ms', 'resolve + store recipients in the request'),
      summarize('campaign', 'launch → all messages created', [fannedOutAt ? (fannedOutAt - launched) / 1000 : NaN], 's', 'fan-out chunks of 500, window 1000'),
      summarize('campaign', 'launch → last dispatch', [seconds], 's', `channel ${channel}`),
      summarize('campaign', 'throughput', [recipients / seconds], 'msg/s', 'launch to last dispatch'),
      summarize('campaign', 'PostgreSQL transactions per message', [perMessage], 'count', 'route, dispatch, sent + delivered reports, fan-out'),
      summarize('campaign', 'raw BullMQ drain, same transactions per job', [drain], 'jobs/s', 'plain Worker, concurrency 16'),
      summarize('campaign', 'throughput vs raw drain', [recipients / seconds / drain], 'ratio'),
      summarize('single send (other tenant)', 'idle p50', [percentile(idle, 50)], 'ms', `${idle.length} sends, POST → device`),
      summarize('single send (other tenant)', 'idle p99', [percentile(idle, 99)], 'ms'),
      summarize('single send (other tenant)', 'during campaign p50', [percentile(busy, 50)], 'ms', `${busy.length} sends`),
      summarize('single send (other tenant)', 'during campaign p99', [percentile(busy, 99)], 'ms', 'target ≤ 2 × idle p99'),
      summarize('single send (other tenant)', 'p99 during / idle', [percentile(busy, 99) / percentile(idle, 99)], 'ratio'),
      ...Object.entries(busyStages).map(([metric, value]) => summarize('single send (other tenant)', `during campaign: ${metric}`, [value], 'ms', 'from the history rows (PostgreSQL clock)')),
    ];
  } finally {
    await simulator.stop();
    await Promise.all(processes.map(stopProcess));
    await bench.cleanup();
  }

  async function stopBusyWork(): Promise<void> {
    // Let in-flight device reports land before the processes stop.
    await simulator.whenIdle(10000).catch(() => undefined);
  }
}

if (require.main === module) {
  const recipients = process.env.BENCH_RECIPIENTS ? Number(process.env.BENCH_RECIPIENTS) : undefined;
  const channel = process.env.BENCH_CHANNEL === 'auto' ? 'auto' : undefined;
  void runCampaignBench({ recipients, channel }).then(printTable);
}
