import crypto from 'node:crypto';
import { expect } from 'chai';
import { adminHeaders, api, TestTenant } from './harness';

/** A dedicated line as the operator registers it, with the secret its bridge signs with. */
export interface DeviceLine {
  id: string;
  secret: string;
  phoneNumber: string;
}

let counter = 0;

/** Registers a dedicated line of `tenant` whose number starts with `prefix` (+1555 and 3 digits keep files apart). */
export async function addDedicatedLine(tenant: TestTenant, prefix: string): Promise<DeviceLine> {
  counter += 1;
  const secret = crypto.randomBytes(32).toString('hex');
  const phoneNumber = `${prefix}${String(1000 + ((counter + process.pid) % 9000))}`;
  const res = await api()
    .post('/admin/phone-lines')
    .set(adminHeaders())
    .send({ phone_number: phoneNumber, bridge_url: 'http://127.0.0.1:9/unused', secret, capabilities: { imessage: true, sms: true, rcs: false }, mode: 'dedicated', tenant_id: tenant.id });
  expect(res.status, JSON.stringify(res.body)).to.equal(201);
  return { id: res.body.data.id, secret, phoneNumber };
}

/**
 * Posts to /device/v1/events as a bridge written from the protocol would:
 * signed with the line's secret over `<timestamp>.<raw body>`. `tamper` flips
 * one character of the signature; `timestamp` overrides the clock.
 */
export function postDeviceEvents(line: Pick<DeviceLine, 'id' | 'secret'>, body: unknown, options: { timestamp?: number; tamper?: boolean } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const mac = crypto.createHmac('sha256', line.secret).update(`${timestamp}.${raw}`).digest('hex');
  return api()
    .post('/device/v1/events')
    .set('Content-Type', 'application/json')
    .set('X-Senderz-Line', line.id)
    .set('X-Senderz-Timestamp', timestamp)
    .set('X-Senderz-Signature', `sha256=${options.tamper ? mac.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) : mac}`)
    .send(raw);
}
