import { expect } from 'chai';
import { ajv } from '../../shared/validation';
import { sendMessageSchema, type SendMessageBody } from '../../shared/schemas/messages';
import { createTenantSchema, type CreateTenantBody, type TenantLimits } from '../../shared/schemas/admin';
import type { DeviceEvent } from '../../shared/schemas/device';
import type { CreateWebhookBody } from '../../shared/schemas/webhooks';
import type { CreateCampaignBody } from '../../shared/schemas/campaigns';

/**
 * Request and payload types are derived from the ajv schemas (SchemaType).
 * The `@ts-expect-error` lines are checked when the project compiles: if a
 * derived type ever widened to `any` or lost a required field, the build
 * (and so `npm test`) fails here.
 */
describe('types derived from the request schemas', () => {
  it('when a body passes the schema, then it has the derived type; a body the type refuses, the schema refuses too', () => {
    const valid: SendMessageBody = { to: '+15551234567', body: 'hi', channel: 'imessage' };
    // @ts-expect-error `to` is required by the schema, so by the type
    const missingTo: SendMessageBody = { body: 'hi' };
    // @ts-expect-error `channel` is an enum in the schema, so in the type
    const badChannel: SendMessageBody = { to: '+15551234567', channel: 'fax' };
    const validate = ajv.compile(sendMessageSchema);
    expect(validate(valid)).to.equal(true);
    expect(validate(missingTo)).to.equal(false);
    expect(validate(badChannel)).to.equal(false);
  });

  it('when a schema nests another (limits in a tenant, events in a batch), then the nested type follows it', () => {
    const limits: TenantLimits = { messages_per_day: null, requests_per_minute: 60 };
    // @ts-expect-error limits are integers or null
    const wrong: TenantLimits = { messages_per_day: 'many' };
    const tenant: CreateTenantBody = { name: 'Acme', plan: 'growth', limits };
    // @ts-expect-error plan is one of the plans
    const badPlan: CreateTenantBody = { name: 'Acme', plan: 'platinum' };
    const validate = ajv.compile(createTenantSchema);
    expect(validate(tenant)).to.equal(true);
    expect(validate(badPlan)).to.equal(false);
    expect(validate({ name: 'Acme', limits: wrong })).to.equal(false);

    const event: DeviceEvent = { id: 'e1', type: 'delivered', occurred_at: new Date().toISOString(), dispatch_id: 'd1' };
    // @ts-expect-error the event type is one of the protocol's types
    const badEvent: DeviceEvent = { id: 'e1', type: 'exploded', occurred_at: '' };
    expect(event.type).to.equal('delivered');
    expect(badEvent.type).to.equal('exploded');

    // @ts-expect-error a webhook needs events
    const noEvents: CreateWebhookBody = { url: 'https://example.com' };
    expect(noEvents.url).to.equal('https://example.com');
    // @ts-expect-error a campaign's message_type is an enum
    const campaign: CreateCampaignBody = { name: 'x', body: 'y', message_type: 'spam' };
    expect(campaign.name).to.equal('x');
  });
});
