import { expect } from 'chai';
import { createTenant, eventually, harness } from '../helpers/harness';
import { startPlatform, RunningPlatform } from '../helpers/platform';
import { addSources, putPersona, SHOP_FAQ } from './helpers';

describe('AI auto-reply, full path (device inbound → sending pool → router → dispatch → device)', function () {
  this.timeout(30000);
  let platform: RunningPlatform;
  before(async () => {
    platform = await startPlatform({ pools: ['sending', 'dispatch'] });
  });
  after(async () => {
    await platform.stop();
  });

  it('when a customer texts a question to a tenant\'s dedicated line, then the FAQ answer is sent back from that line', async () => {
    const tenant = await createTenant();
    const line = await platform.addLine({ tenantId: tenant.id });
    await addSources(tenant, SHOP_FAQ);
    await putPersona(tenant, { business_name: 'Maple & Thread', auto_reply_enabled: true });
    const customer = '+15551234568';

    platform.simulator.inbound({ line_id: line.id, from: customer, body: 'Hi, how long does shipping take?' });

    const send = await eventually(
      async () => platform.simulator.sends().find((record) => record.to === customer && record.line_id === line.id),
      15000,
      'the auto-reply to reach the device',
    );
    expect(send.body).to.equal(SHOP_FAQ[2].answer);
    expect(send.from).to.equal(line.phoneNumber);
    const inboundRow = await harness().db.owner('messages').where({ tenant_id: tenant.id, direction: 'inbound', from_number: customer }).first();
    const log = await harness().db.owner('auto_reply_log').where({ tenant_id: tenant.id, message_id: inboundRow.id }).first();
    expect(log).to.include({ kind: 'auto_reply', status: 'replied', reply_message_id: send.message_id });
    await eventually(
      async () => (await harness().db.owner('messages').where({ tenant_id: tenant.id, id: send.message_id }).first())?.status === 'delivered',
      10000,
      'the auto-reply delivered',
    );
  });
});
