import { expect } from 'chai';
import { classifyAddress, createSafeLookup, isAddressAllowed, Resolver, webhookUrlProblem } from '../../shared/webhooks/ssrf';
import { postWebhook } from '../../shared/webhooks/client';
import { startReceiver } from './helpers';

const strict = { allowPrivateNetworks: false };
const lenient = { allowPrivateNetworks: true };

function post(url: string, policy = strict, resolve?: Resolver) {
  return postWebhook({ url, body: Buffer.from('{}'), headers: { 'Content-Type': 'application/json' }, timeoutMs: 2000, policy, resolve });
}

describe('webhooks: SSRF protection', () => {
  describe('address classes', () => {
    const cases: [string, string, 'public' | 'private' | 'forbidden'][] = [
      ['loopback', '127.0.0.1', 'private'],
      ['loopback (whole /8)', '127.10.0.5', 'private'],
      ['IPv6 loopback', '::1', 'private'],
      ['RFC 1918 10/8', '10.1.2.3', 'private'],
      ['RFC 1918 172.16/12', '172.20.0.1', 'private'],
      ['RFC 1918 192.168/16', '192.168.1.1', 'private'],
      ['CGNAT 100.64/10', '100.64.0.1', 'private'],
      ['IPv6 unique-local', 'fd12:3456::1', 'private'],
      ['link-local', '169.254.1.1', 'forbidden'],
      ['cloud metadata', '169.254.169.254', 'forbidden'],
      ['IPv6 link-local', 'fe80::1', 'forbidden'],
      ['AWS IPv6 metadata', 'fd00:ec2::254', 'forbidden'],
      ['multicast', '224.0.0.1', 'forbidden'],
      ['IPv6 multicast', 'ff02::1', 'forbidden'],
      ['unspecified', '0.0.0.0', 'forbidden'],
      ['IPv6 unspecified', '::', 'forbidden'],
      ['broadcast', '255.255.255.255', 'forbidden'],
      ['IPv4-mapped loopback', '::ffff:127.0.0.1', 'private'],
      ['IPv4-mapped metadata, as written', '::ffff:169.254.169.254', 'forbidden'],
      ['IPv4-mapped metadata, as new URL() rewrites it', '[::ffff:a9fe:a9fe]', 'forbidden'],
      ['IPv4-mapped RFC 1918', '::ffff:10.0.0.1', 'private'],
      ['NAT64 of loopback', '64:ff9b::7f00:1', 'private'],
      ['6to4 of metadata', '2002:a9fe:a9fe::1', 'forbidden'],
      ['IPv4-compatible loopback, hex form', '::7f00:1', 'private'],
      ['IPv4-compatible loopback, dotted form', '::127.0.0.1', 'private'],
      ['IPv4-compatible metadata', '::a9fe:a9fe', 'forbidden'],
      ['IPv4-compatible RFC 1918', '::a00:1', 'private'],
      ['IPv4-compatible public', '::808:808', 'public'],
      ['public IPv4', '93.184.216.34', 'public'],
      ['public IPv6', '2606:4700:4700::1111', 'public'],
      ['not an address', 'example.com', 'forbidden'],
    ];
    for (const [what, address, expected] of cases) {
      it(`when the address is ${what} (${address}), then it is ${expected}`, () => {
        expect(classifyAddress(address).class).to.equal(expected);
      });
    }

    it('when private networks are allowed, then loopback and RFC 1918 pass but link-local, metadata and multicast stay refused', () => {
      for (const address of ['127.0.0.1', '10.0.0.1', '::1', '::ffff:192.168.0.1', '100.64.1.1']) {
        expect(isAddressAllowed(address, lenient).allowed, address).to.equal(true);
        expect(isAddressAllowed(address, strict).allowed, address).to.equal(false);
      }
      for (const address of ['169.254.169.254', '::ffff:169.254.169.254', 'fe80::1', '224.0.0.1', '0.0.0.0', 'fd00:ec2::254']) {
        expect(isAddressAllowed(address, lenient).allowed, address).to.equal(false);
      }
    });
  });

  describe('registration check', () => {
    it('when the URL is a literal private, loopback or link-local IP, then it is refused (link-local even when private networks are allowed)', () => {
      expect(webhookUrlProblem('http://10.0.0.1/hook', strict)).to.match(/private/);
      expect(webhookUrlProblem('http://127.0.0.1:8080/hook', strict)).to.match(/loopback/);
      expect(webhookUrlProblem('http://[::1]/hook', strict)).to.match(/loopback/);
      expect(webhookUrlProblem('http://10.0.0.1/hook', lenient)).to.equal(null);
      expect(webhookUrlProblem('http://169.254.169.254/latest/meta-data', lenient)).to.match(/always refused/);
      expect(webhookUrlProblem('http://[::ffff:169.254.169.254]/', lenient)).to.match(/always refused/);
      // WHATWG URL parsing turns decimal and hex hosts into dotted quads before the check.
      expect(webhookUrlProblem('http://2130706433/', strict)).to.match(/loopback/);
      expect(webhookUrlProblem('http://0x7f.1/', strict)).to.match(/loopback/);
    });

    it('when the URL is not http(s), has credentials or is not a URL, then it is refused', () => {
      expect(webhookUrlProblem('ftp://example.com/x', strict)).to.match(/http or https/);
      expect(webhookUrlProblem('file:///etc/passwd', strict)).to.match(/http or https/);
      expect(webhookUrlProblem('https://user:pass@example.com/', strict)).to.match(/credentials/);
      expect(webhookUrlProblem('not a url', strict)).to.match(/not a valid URL/);
      expect(webhookUrlProblem('https://hooks.example.com/senderz', strict)).to.equal(null);
    });
  });

  describe('connect-time check', () => {
    it('when a hostname resolves to 127.0.0.1 (localhost) and private networks are not allowed, then the connection is refused and nothing arrives', async () => {
      const receiver = await startReceiver();
      try {
        const answer = await post(`http://localhost:${receiver.port}/hooks`);
        expect(answer.status).to.equal(null);
        expect(answer.blocked).to.equal(true);
        expect(answer.error).to.match(/^blocked: .*loopback/);
        expect(answer.error, 'the resolved address is not shown to the tenant').not.to.contain('127.0.0.1');
        expect(receiver.arrivals).to.equal(0);
        const allowed = await post(`http://localhost:${receiver.port}/hooks`, lenient);
        expect(allowed.status, 'the same receiver answers when allowed').to.equal(200);
      } finally {
        await receiver.close();
      }
    });

    it('when the URL is a literal loopback IP and private networks are not allowed, then it is refused without connecting', async () => {
      const receiver = await startReceiver();
      try {
        const answer = await post(`http://127.0.0.1:${receiver.port}/hooks`);
        expect(answer.blocked).to.equal(true);
        expect(receiver.arrivals).to.equal(0);
      } finally {
        await receiver.close();
      }
    });

    it('when the URL is [::ffff:169.254.169.254], then it is refused even with private networks allowed', async () => {
      const answer = await post('http://[::ffff:169.254.169.254]/latest/meta-data', lenient);
      expect(answer.blocked).to.equal(true);
      expect(answer.error).to.match(/blocked/);
    });

    it('when DNS answers a public address first and a private one on the next lookup (rebinding), then the connect-time lookup refuses the second', async () => {
      let calls = 0;
      const rebinding: Resolver = (_host, _options, callback) => {
        calls += 1;
        callback(null, [calls === 1 ? { address: '93.184.216.34', family: 4 } : { address: '127.0.0.1', family: 4 }]);
      };
      const lookup = createSafeLookup(strict, rebinding);
      const first = await new Promise<string>((resolve, reject) => lookup('rebind.test', {}, (error, address) => (error ? reject(error) : resolve(address as string))));
      expect(first).to.equal('93.184.216.34');
      const answer = await post('http://rebind.test:1/hooks', strict, rebinding);
      expect(answer.blocked).to.equal(true);
      expect(answer.error).to.match(/^blocked: .*loopback/);
      expect(answer.error, 'the resolved address is not shown to the tenant').not.to.contain('127.0.0.1');
    });

    it('when any resolved address is forbidden (mixed answer), then the connection is refused', async () => {
      const mixed: Resolver = (_host, _options, callback) =>
        callback(null, [
          { address: '93.184.216.34', family: 4 },
          { address: '169.254.169.254', family: 4 },
        ]);
      const answer = await post('http://mixed.test/hooks', lenient, mixed);
      expect(answer.blocked).to.equal(true);
    });

    it('when the receiver answers 302 to a private address, then the redirect is not followed and the attempt is a failure', async () => {
      const inside = await startReceiver();
      const outside = await startReceiver(() => ({ status: 302, headers: { Location: `http://127.0.0.1:${inside.port}/admin` } }));
      try {
        const answer = await post(outside.url, lenient);
        expect(answer.status).to.equal(302);
        expect(answer.error).to.match(/redirect \(302\) not followed/);
        expect(outside.arrivals).to.equal(1);
        expect(inside.arrivals, 'the redirect target was never contacted').to.equal(0);
      } finally {
        await inside.close();
        await outside.close();
      }
    });

    it('when the receiver never answers, then the attempt ends at the timeout', async () => {
      const receiver = await startReceiver(() => 'hang');
      try {
        const started = Date.now();
        const answer = await postWebhook({ url: receiver.url, body: Buffer.from('{}'), headers: {}, timeoutMs: 300, policy: lenient });
        expect(answer.status).to.equal(null);
        expect(answer.error).to.match(/timeout/);
        expect(Date.now() - started).to.be.lessThan(2000);
      } finally {
        await receiver.close();
      }
    });
  });
});
