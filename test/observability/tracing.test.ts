import { expect } from 'chai';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { api, createTenant, eventually, harness } from '../helpers/harness';
import { startPlatform, RunningPlatform } from '../helpers/platform';
import { dropLeftoverWebhookJobs, Receiver, registerWebhook, startReceiver } from '../webhooks/helpers';
import { payloadProblem } from '../../shared/queues';

describe('traces: one send is one trace through the sending, dispatch and webhooks pools', function () {
  this.timeout(60000);
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let platform: RunningPlatform;
  let receiver: Receiver;

  before(async () => {
    // What an operator's SDK setup does; the platform only uses @opentelemetry/api.
    expect(trace.setGlobalTracerProvider(provider)).to.equal(true);
    await dropLeftoverWebhookJobs();
    platform = await startPlatform({ pools: ['sending', 'dispatch', 'webhooks'] });
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
    await platform.stop();
    trace.disable();
    await provider.shutdown();
  });

  it('when a message is sent, then the router, the dispatcher, the bridge call and the webhook delivery are descendants of the request span', async () => {
    const pool = `p-traces-${process.pid}`;
    const tenant = await createTenant({ pool });
    const line = await platform.addLine({ pool });
    await registerWebhook(tenant, receiver.url, ['message.queued']);
    const sent = await api().post('/v1/messages').set(tenant.auth).send({ to: '+15551230043', body: 'traced' });
    expect(sent.status, JSON.stringify(sent.body)).to.equal(202);

    const root = await eventually(async () => exporter.getFinishedSpans().find((span) => span.attributes['http.route'] === '/v1/messages' && span.attributes['http.request.method'] === 'POST'), 10000, 'request span');
    const traceId = root.spanContext().traceId;
    const wanted = ['sending route-message', 'dispatch dispatch-message', 'bridge POST /v1/send', 'webhooks message-event', 'webhooks deliver'];
    const spans = await eventually(async () => {
      const inTrace = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
      return wanted.every((name) => inTrace.some((span) => span.name === name)) ? inTrace : null;
    }, 20000, 'spans of every pool in the trace');

    const byName = (name: string): ReadableSpan => spans.find((span) => span.name === name)!;
    const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
    expect(root.parentSpanContext).to.equal(undefined);
    expect(parentOf(byName('sending route-message'))).to.equal(root.spanContext().spanId);
    expect(parentOf(byName('dispatch dispatch-message'))).to.equal(byName('sending route-message').spanContext().spanId);
    expect(parentOf(byName('bridge POST /v1/send'))).to.equal(byName('dispatch dispatch-message').spanContext().spanId);
    expect(byName('bridge POST /v1/send').attributes['senderz.line_id']).to.equal(line.id);
    expect(parentOf(byName('webhooks message-event'))).to.equal(root.spanContext().spanId);
    expect(parentOf(byName('webhooks deliver'))).to.equal(byName('webhooks message-event').spanContext().spanId);
    // The job carries the request span as a traceparent, nothing more.
    const routed = await harness().queues.get('sending').getJob(`route-message__${sent.body.data.message_id as string}`);
    expect(routed?.data).to.deep.equal({ tenantId: tenant.id, messageId: sent.body.data.message_id, traceparent: `00-${traceId}-${root.spanContext().spanId}-01` });
    // One trace: every span of it hangs off another span of it, and only the request is a root.
    const ids = new Set(spans.map((span) => span.spanContext().spanId));
    expect(spans.filter((span) => !span.parentSpanContext)).to.deep.equal([root]);
    for (const span of spans) if (span !== root) expect(ids.has(parentOf(span)!), span.name).to.equal(true);
  });

  it('when a job carries a traceparent, then only a well-formed one is accepted', () => {
    const ids = { tenantId: 'T1', messageId: 'M1' };
    expect(payloadProblem('sending', 'route-message', { ...ids, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })).to.equal(null);
    expect(payloadProblem('sending', 'route-message', { ...ids, traceparent: 'a message body' })).to.match(/traceparent/);
  });
});
