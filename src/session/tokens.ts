/**
 * Technician tokens: `ft1.<payload>.<signature>`, both parts base64url, the signature an
 * HMAC-SHA256 over `ft1.<payload>` with the gateway secret. The payload names the technician
 * and its validity. Verification runs before any session state is touched and compares the
 * signature in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fromClaim, MAX_PRIVILEGES } from './privileges.js';

const PREFIX = 'ft1';
const MAX_TOKEN_LENGTH = 4096;

export interface TokenClaims {
  /** Technician name, e.g. "tech-1". */
  readonly sub: string;
  /** Issued at, unix seconds. */
  readonly iat: number;
  /** Expires at, unix seconds. */
  readonly exp: number;
  /** Token id, for audit logs. */
  readonly jti: string;
  /** Privileges set by the administrator (privileges.ts); absent = every privilege. */
  readonly priv?: readonly string[];
}

export type TokenCheck =
  | { readonly ok: true; readonly claims: TokenClaims }
  | {
      readonly ok: false;
      readonly code:
        | 'FERRY_ERR_TOKEN_MALFORMED'
        | 'FERRY_ERR_TOKEN_SIGNATURE'
        | 'FERRY_ERR_TOKEN_EXPIRED';
      readonly message: string;
    };

function sign(secret: string, signedPart: string): Buffer {
  return createHmac('sha256', secret).update(signedPart).digest();
}

/** `privileges` limits the technician to those listed (privileges.ts); omitted = all. */
export function issueToken(
  secret: string,
  name: string,
  ttlSeconds: number,
  nowMs: number = Date.now(),
  privileges?: readonly string[],
): string {
  if (!/^[\w.@-]{1,64}$/.test(name)) {
    throw new RangeError('technician name must be 1-64 characters of letters, digits, . _ @ -');
  }
  const iat = Math.floor(nowMs / 1000);
  const claims: TokenClaims = {
    sub: name,
    iat,
    exp: iat + ttlSeconds,
    jti: randomBytes(9).toString('base64url'),
    ...(privileges === undefined ? {} : { priv: [...privileges] }),
  };
  if (fromClaim(claims.priv) === false) {
    throw new RangeError(`at most ${MAX_PRIVILEGES} privileges of lowercase letters, digits, _`);
  }
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signedPart = `${PREFIX}.${payload}`;
  return `${signedPart}.${sign(secret, signedPart).toString('base64url')}`;
}

const malformed = (message: string): TokenCheck => ({
  ok: false,
  code: 'FERRY_ERR_TOKEN_MALFORMED',
  message,
});

export function verifyToken(secret: string, token: string, nowMs: number = Date.now()): TokenCheck {
  if (token.length === 0) return malformed('no technician token in Hello');
  if (token.length > MAX_TOKEN_LENGTH) return malformed('technician token is too long');
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return malformed('not a Ferry technician token');
  const [, payload, signature] = parts as [string, string, string];
  // Compare the text form: base64url decoding is lenient, so one signature has several spellings.
  const given = Buffer.from(signature);
  const expected = Buffer.from(sign(secret, `${PREFIX}.${payload}`).toString('base64url'));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      ok: false,
      code: 'FERRY_ERR_TOKEN_SIGNATURE',
      message: 'token signature does not match',
    };
  }
  let claims: Partial<TokenClaims> | null;
  try {
    claims = JSON.parse(
      Buffer.from(payload, 'base64url').toString('utf8'),
    ) as Partial<TokenClaims> | null;
  } catch {
    return malformed('token payload is not JSON');
  }
  if (typeof claims !== 'object' || claims === null)
    return malformed('token payload is not an object');
  if (
    typeof claims.sub !== 'string' ||
    typeof claims.exp !== 'number' ||
    typeof claims.iat !== 'number'
  ) {
    return malformed('token payload lacks sub, iat or exp');
  }
  if (fromClaim(claims.priv) === false)
    return malformed('token privileges are not a list of names');
  if (nowMs >= claims.exp * 1000) {
    return {
      ok: false,
      code: 'FERRY_ERR_TOKEN_EXPIRED',
      message: `token expired at ${new Date(claims.exp * 1000).toISOString()}`,
    };
  }
  return { ok: true, claims: claims as TokenClaims };
}
