import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';

/**
 * A real OIDC-style JWKS endpoint on 127.0.0.1 (random port) publishing one RS256
 * public key, plus a signer for tokens made with the matching private key, so
 * tests exercise the same code path as a portal user coming from Clerk & co.
 */
export interface JwksServer {
  url: string;
  issuer: string;
  audience: string;
  kid: string;
  privateKey: KeyLike;
  /** How many times the JWKS document was fetched. */
  hits(): number;
  /** Signs a token with the published key unless another key is given. */
  sign(claims: JWTPayload, options?: { key?: KeyLike; kid?: string | null; issuer?: string | null; audience?: string | null; expiresIn?: string | number | null }): Promise<string>;
  close(): Promise<void>;
}

export async function startJwksServer(options: { issuer?: string; audience?: string } = {}): Promise<JwksServer> {
  const issuer = options.issuer ?? 'https://auth.example.test';
  const audience = options.audience ?? 'senderz-portal';
  const kid = 'test-key-1';
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  let hits = 0;

  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      hits += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer,
    audience,
    kid,
    privateKey,
    hits: () => hits,
    async sign(claims, signOptions = {}) {
      const headerKid = signOptions.kid === undefined ? kid : signOptions.kid;
      let jwt = new SignJWT(claims).setProtectedHeader(headerKid === null ? { alg: 'RS256' } : { alg: 'RS256', kid: headerKid }).setIssuedAt();
      const iss = signOptions.issuer === undefined ? issuer : signOptions.issuer;
      const aud = signOptions.audience === undefined ? audience : signOptions.audience;
      const exp = signOptions.expiresIn === undefined ? '5m' : signOptions.expiresIn;
      if (iss !== null) jwt = jwt.setIssuer(iss);
      if (aud !== null) jwt = jwt.setAudience(aud);
      if (exp !== null) jwt = jwt.setExpirationTime(exp);
      return jwt.sign(signOptions.key ?? privateKey);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
