import type { RequestHandler } from 'express';
import { constantTimeEqual } from '../../shared/crypto';
import { UnauthorizedError } from '../../shared/errors';

/**
 * The operator credential: `Authorization: Bearer <ADMIN_API_KEY>`, or HTTP Basic
 * with the admin key as the password (any user name) so a browser can open Bull Board.
 */
export function adminAuth(adminApiKey: string, options: { basicChallenge?: boolean } = {}): RequestHandler {
  return (req, res, next) => {
    const header = req.headers.authorization ?? '';
    let presented = '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (bearer) presented = bearer[1];
    else if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      presented = decoded.slice(decoded.indexOf(':') + 1);
    }
    if (presented && constantTimeEqual(presented, adminApiKey)) {
      next();
      return;
    }
    if (options.basicChallenge) res.set('WWW-Authenticate', 'Basic realm="senderz operator", charset="UTF-8"');
    next(new UnauthorizedError('Missing or invalid operator credential.', 'INVALID_API_KEY'));
  };
}
