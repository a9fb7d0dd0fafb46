import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where a webhook may connect. A URL is only a name: the check that matters is
 * on the address the socket actually connects to, made inside the connect path
 * (`lookup`), so a hostname that resolved to a public address at registration
 * and to 127.0.0.1 now (DNS rebinding) is still refused.
 *
 * - `public`: allowed.
 * - `private`: loopback, RFC 1918, CGNAT 100.64/10, IPv6 unique-local. Refused
 *   unless `WEBHOOK_ALLOW_PRIVATE_NETWORKS=1` (self-hosting, tests).
 * - `forbidden`: link-local (169.254/16, fe80::/10, which holds the cloud
 *   metadata address 169.254.169.254), known metadata addresses, multicast,
 *   broadcast, unspecified, reserved and other special ranges. Always refused.
 */
export type AddressClass = 'public' | 'private' | 'forbidden';

export interface AddressVerdict {
  address: string;
  class: AddressClass;
  /** The ipaddr.js range name (e.g. "loopback"), or why it is refused. */
  range: string;
}

const PRIVATE_RANGES = new Set(['loopback', 'private', 'carrierGradeNat', 'uniqueLocal']);

/**
 * Metadata services reachable from a cloud VM, refused even when private
 * networks are allowed (AWS IPv6 IMDS sits in fc00::/7; Alibaba's in CGNAT).
 */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200']);

/** The IPv4 address an IPv6 form carries (mapped, translated, NAT64, 6to4), if any. */
function embeddedIPv4(address: ipaddr.IPv6, range: string): ipaddr.IPv4 | null {
  const parts = address.parts;
  // IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks): the last 32 bits,
  // whatever ipaddr.js calls the range (it sees ::7f00:1 as plain unicast). :: and ::1 are not.
  if (parts.slice(0, 6).every((part) => part === 0) && (parts[6] !== 0 || parts[7] > 1)) {
    return new ipaddr.IPv4([parts[6] >> 8, parts[6] & 0xff, parts[7] >> 8, parts[7] & 0xff]);
  }
  switch (range) {
    case 'ipv4Mapped':
      return address.toIPv4Address();
    case 'rfc6145':
    case 'rfc6052':
      return new ipaddr.IPv4([parts[6] >> 8, parts[6] & 0xff, parts[7] >> 8, parts[7] & 0xff]);
    case '6to4':
      return new ipaddr.IPv4([parts[1] >> 8, parts[1] & 0xff, parts[2] >> 8, parts[2] & 0xff]);
    default:
      return null;
  }
}

function classifyIPv4(address: ipaddr.IPv4): AddressVerdict {
  const text = address.toString();
  const range = address.range();
  if (METADATA_ADDRESSES.has(text)) return { address: text, class: 'forbidden', range: 'metadata' };
  if (range === 'unicast') return { address: text, class: 'public', range };
  if (PRIVATE_RANGES.has(range)) return { address: text, class: 'private', range };
  return { address: text, class: 'forbidden', range };
}

/** Classifies one IP address (v4 or v6, with or without brackets). Not an IP → forbidden. */
export function classifyAddress(input: string): AddressVerdict {
  const raw = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // parse() (not process()) so the IPv6 form is classified on its own first.
    if (!net.isIP(raw.split('%')[0])) throw new Error('not an IP address');
    parsed = ipaddr.parse(raw);
  } catch {
    return { address: raw, class: 'forbidden', range: 'invalid' };
  }
  if (parsed.kind() === 'ipv4') return classifyIPv4(parsed as ipaddr.IPv4);

  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  const inner = embeddedIPv4(v6, range);
  if (inner) {
    const verdict = classifyIPv4(inner);
    return { address: raw, class: verdict.class, range: `${range}(${verdict.range})` };
  }
  if (METADATA_ADDRESSES.has(v6.toString())) return { address: raw, class: 'forbidden', range: 'metadata' };
  if (range === 'unicast') return { address: raw, class: 'public', range };
  if (PRIVATE_RANGES.has(range)) return { address: raw, class: 'private', range };
  return { address: raw, class: 'forbidden', range };
}

export interface AddressPolicy {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: lifts only the private/loopback refusal. */
  allowPrivateNetworks: boolean;
}

/** Refused addresses are an error with this code, so callers can tell them from network errors. */
export const BLOCKED_ADDRESS_CODE = 'EWEBHOOKBLOCKED';

export class BlockedAddressError extends Error {
  readonly code = BLOCKED_ADDRESS_CODE;
  constructor(readonly verdict: AddressVerdict) {
    super(`refused to connect to ${verdict.address} (${verdict.range} address)`);
    this.name = 'BlockedAddressError';
  }
}

export function isAddressAllowed(address: string, policy: AddressPolicy): { allowed: boolean; verdict: AddressVerdict } {
  const verdict = classifyAddress(address);
  const allowed = verdict.class === 'public' || (verdict.class === 'private' && policy.allowPrivateNetworks);
  return { allowed, verdict };
}

export function assertAddressAllowed(address: string, policy: AddressPolicy): void {
  const { allowed, verdict } = isAddressAllowed(address, policy);
  if (!allowed) throw new BlockedAddressError(verdict);
}

type LookupAddress = { address: string; family: number };
type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
export type Resolver = (hostname: string, options: dns.LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

const systemResolver: Resolver = (hostname, options, callback) => dns.lookup(hostname, options, callback);

/**
 * A `lookup` for `http.request` / `net.connect`: resolves the name, refuses the
 * connection when any resolved address is not allowed, and hands the socket
 * only addresses it checked. Works with the `all: true` form Node uses for
 * happy-eyeballs connects as well as the single-address form.
 */
export function createSafeLookup(policy: AddressPolicy, resolve: Resolver = systemResolver) {
  return function safeLookup(hostname: string, options: dns.LookupOptions | number | undefined, callback: LookupCallback): void {
    const opts: dns.LookupOptions = typeof options === 'number' ? { family: options } : { ...(options ?? {}) };
    const wantsAll = opts.all === true;
    resolve(hostname, { ...opts, all: true }, (error, addresses) => {
      if (error) return callback(error, wantsAll ? [] : '', undefined);
      if (!addresses || addresses.length === 0) {
        const empty = Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }) as NodeJS.ErrnoException;
        return callback(empty, wantsAll ? [] : '', undefined);
      }
      for (const entry of addresses) {
        const { allowed, verdict } = isAddressAllowed(entry.address, policy);
        if (!allowed) return callback(new BlockedAddressError(verdict), wantsAll ? [] : '', undefined);
      }
      if (wantsAll) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/**
 * The registration-time check: http(s) only, no credentials in the URL, and a
 * literal IP host must be allowed. Returns a reason when the URL is refused.
 * Hostnames pass here; they are checked on every connect.
 */
export function webhookUrlProblem(raw: string, policy: AddressPolicy): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password) return 'must not contain credentials; deliveries are authenticated by their signature';
  if (!url.hostname) return 'has no host';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (net.isIP(host)) {
    const { allowed, verdict } = isAddressAllowed(host, policy);
    if (!allowed) {
      return verdict.class === 'private'
        ? `points to a ${verdict.range} address, which is refused unless WEBHOOK_ALLOW_PRIVATE_NETWORKS=1`
        : `points to a ${verdict.range} address, which is always refused`;
    }
  }
  return null;
}
