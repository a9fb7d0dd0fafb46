import crypto from 'node:crypto';
import { expect } from 'chai';
import { adminHeaders, api, harness, TestTenant } from '../helpers/harness';
import { withTenant } from '../../shared/db/tenant';
import { recordInbound } from '../../shared/device/events';
import type { PhoneLineRow } from '../../shared/data/phone-lines';

/** A small shop's FAQ, the kind of data a real tenant loads. */
export const SHOP_FAQ = [
  { type: 'faq', question: 'What are your opening hours?', answer: 'We are open Monday to Saturday, 9am to 6pm, and closed on Sundays.' },
  {
    type: 'faq',
    question: 'What is your return policy?',
    answer: 'You can return unworn items within 30 days of delivery for a full refund. Bring the receipt or your order number.',
  },
  { type: 'faq', question: 'How long does shipping take?', answer: 'Standard shipping takes 3-5 business days; express shipping arrives in 1-2 business days.' },
  { type: 'faq', question: 'Do you ship internationally?', answer: 'Yes, we ship to Canada, the UK and the EU. International orders take 7-14 days.' },
  { type: 'faq', question: 'How can I track my order?', answer: 'Use the tracking link in your shipping confirmation email, or reply with your order number.' },
  {
    type: 'text',
    title: 'About the store',
    content:
      'Maple & Thread is a small clothing boutique in Portland. We carry locally made sweaters, scarves and hats. ' +
      'Parking is free behind the building on Oak Street. Gift cards are available in any amount and never expire.',
  },
] as const;

export async function addSources(tenant: TestTenant, sources: readonly object[]): Promise<string[]> {
  const ids: string[] = [];
  for (const source of sources) {
    const res = await api().post('/v1/ai/sources').set(tenant.auth).send(source);
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    ids.push(res.body.data.id);
  }
  return ids;
}

export async function putPersona(tenant: TestTenant, body: object): Promise<Record<string, unknown>> {
  const res = await api().put('/v1/ai/persona').set(tenant.auth).send(body);
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.data;
}

let lineCounter = 0;

/** A dedicated line registered through the operator API; no device answers on it (handler-level tests). */
export async function dedicatedLine(tenantId: string): Promise<PhoneLineRow> {
  lineCounter += 1;
  const res = await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({
      phone_number: `+1555${String(crypto.randomInt(0, 10_000_000)).padStart(7, '0')}`,
      bridge_url: `http://127.0.0.1:9/lines/ai-${lineCounter}`,
      secret: crypto.randomBytes(24).toString('hex'),
      capabilities: { imessage: true, sms: true, rcs: false },
      mode: 'dedicated',
      tenant_id: tenantId,
    });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return (await harness().db.owner('phone_lines').where({ id: res.body.data.id }).first()) as PhoneLineRow;
}

/** Records an inbound message as the device gateway does; returns its id. */
export async function inbound(tenantId: string, line: PhoneLineRow, from: string, body: string): Promise<string> {
  const jobs = await withTenant(harness().db.app, tenantId, (t) => recordInbound(t, line, { from, body, channel: 'imessage', occurredAt: new Date() }));
  return jobs[0].refId;
}

export function randomNumber(): string {
  return `+1555${String(crypto.randomInt(0, 10_000_000)).padStart(7, '0')}`;
}
