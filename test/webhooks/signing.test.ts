import crypto from 'node:crypto';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signDelivery, webhookSecretProblem } from '../../shared/webhooks/signing';
import { verifySenderzSignature, verifyStandardWebhook } from '../../shared/webhooks/verify';

/** What a receiver writes from the documentation alone (no platform code). */
function receiverHexSignature(secret: string, raw: Buffer): string {
  return 'sha256=' + crypto.createHmac('sha256', secret).update(raw).digest('hex');
}

describe('webhooks: signatures', () => {
  const body = Buffer.from('{"event":"message.sent","event_id":"01J00000000000000000000000","sequence":3,"to":"+15551234567","note":"ünïcode ✓"}');
  /** Read at each use: the suite may start long after this file is loaded, and signatures expire after 5 minutes. */
  let now = 0;
  beforeEach(() => {
    now = Math.floor(Date.now() / 1000);
  });

  it('when a secret is generated, then it is whsec_ + base64 of 32 random bytes and each is different', () => {
    const one = generateWebhookSecret();
    const two = generateWebhookSecret();
    expect(one).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(one.slice(6), 'base64')).to.have.length(32);
    expect(one).not.to.equal(two);
    expect(webhookSecretProblem(one)).to.equal(null);
  });

  it('when a tenant brings a secret, then only whsec_ + base64 of 24–64 bytes is accepted', () => {
    expect(webhookSecretProblem('whsec_' + crypto.randomBytes(24).toString('base64'))).to.equal(null);
    expect(webhookSecretProblem('whsec_' + crypto.randomBytes(64).toString('base64'))).to.equal(null);
    expect(webhookSecretProblem('whsec_' + crypto.randomBytes(16).toString('base64'))).to.match(/between 24 and 64/);
    expect(webhookSecretProblem('whsec_' + crypto.randomBytes(65).toString('base64'))).to.match(/between 24 and 64/);
    expect(webhookSecretProblem('hunter2hunter2hunter2hunter2')).to.match(/must start with/);
    expect(webhookSecretProblem('whsec_not base64!!')).to.match(/base64/);
  });

  it('when a delivery is signed, then the standardwebhooks package, a hand-written receiver and the verify helper all accept it', () => {
    const secret = generateWebhookSecret();
    const headers = signDelivery({ id: 'evt_1', timestamp: now, body, secrets: [secret] });
    // 1. The stock library, exactly as a receiver calls it (throws when invalid).
    const parsed = new Webhook(secret).verify(body.toString('utf8'), {
      'webhook-id': headers['webhook-id'],
      'webhook-timestamp': headers['webhook-timestamp'],
      'webhook-signature': headers['webhook-signature'],
    }) as Record<string, unknown>;
    expect(parsed.event).to.equal('message.sent');
    // 2. A receiver following the documentation with node:crypto.
    expect(headers['X-Senderz-Signature']).to.equal(receiverHexSignature(secret, body));
    const standard = crypto.createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`evt_1.${now}.${body.toString('utf8')}`).digest('base64');
    expect(headers['webhook-signature']).to.equal(`v1,${standard}`);
    // 3. The exported helper.
    expect(verifySenderzSignature(body, headers['X-Senderz-Signature'], secret)).to.equal(true);
    expect(verifySenderzSignature(body.toString('utf8'), headers['X-Senderz-Signature'], secret)).to.equal(true);
    expect(verifyStandardWebhook(body, headers, secret)).to.equal(true);
  });

  it('when the library signs, then the verify helper accepts it (both directions agree)', () => {
    const secret = generateWebhookSecret();
    const webhook = new Webhook(secret);
    const signature = webhook.sign('msg_2', new Date(now * 1000), body.toString('utf8'));
    expect(verifyStandardWebhook(body, { 'webhook-id': 'msg_2', 'webhook-timestamp': String(now), 'webhook-signature': signature }, secret)).to.equal(true);
  });

  it('when the body, the secret or the timestamp is wrong, then verification fails', () => {
    const secret = generateWebhookSecret();
    const other = generateWebhookSecret();
    const headers = signDelivery({ id: 'evt_3', timestamp: now, body, secrets: [secret] });
    const tampered = Buffer.from(body.toString('utf8').replace('+15551234567', '+15550000000'));
    expect(verifySenderzSignature(tampered, headers['X-Senderz-Signature'], secret)).to.equal(false);
    expect(verifySenderzSignature(body, headers['X-Senderz-Signature'], other)).to.equal(false);
    expect(verifySenderzSignature(body, undefined, secret)).to.equal(false);
    expect(verifyStandardWebhook(tampered, headers, secret)).to.equal(false);
    expect(() => new Webhook(secret).verify(tampered.toString('utf8'), { ...headers })).to.throw();
    const stale = signDelivery({ id: 'evt_3', timestamp: now - 600, body, secrets: [secret] });
    expect(verifyStandardWebhook(body, stale, secret), 'older than the 5-minute tolerance').to.equal(false);
    expect(() => new Webhook(secret).verify(body.toString('utf8'), { ...stale })).to.throw();
  });

  it('when a receiver re-serialises the parsed JSON, then the signature no longer matches, and the helper refuses a parsed object outright', () => {
    const secret = generateWebhookSecret();
    const spaced = Buffer.from('{ "event": "message.sent", "n": 1.0 }');
    const headers = signDelivery({ id: 'evt_4', timestamp: now, body: spaced, secrets: [secret] });
    const reserialised = JSON.stringify(JSON.parse(spaced.toString('utf8')));
    expect(verifySenderzSignature(reserialised, headers['X-Senderz-Signature'], secret)).to.equal(false);
    expect(() => verifySenderzSignature(JSON.parse(spaced.toString('utf8')) as unknown as string, headers['X-Senderz-Signature'], secret)).to.throw(TypeError, /raw request body/);
  });

  it('when two secrets sign (rotation), then both signatures are sent and each secret verifies on its own', () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const headers = signDelivery({ id: 'evt_5', timestamp: now, body, secrets: [current, previous] });
    expect(headers['webhook-signature'].split(' ')).to.have.length(2);
    expect(headers['X-Senderz-Signature'].split(',')).to.deep.equal([receiverHexSignature(current, body), receiverHexSignature(previous, body)]);
    for (const secret of [current, previous]) {
      expect(() => new Webhook(secret).verify(body.toString('utf8'), { ...headers })).not.to.throw();
      expect(verifySenderzSignature(body, headers['X-Senderz-Signature'], secret)).to.equal(true);
    }
  });
});
