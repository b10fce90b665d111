/**
 * Legacy technician tokens (deprecated: accepted for one more release beside the JWTs of
 * jwt.ts, which `ferry token issue` now mints): `ft1.<payload>.<signature>`, both parts base64url, the signature an
 * HMAC-SHA256 over `ft1.<payload>` with the gateway secret. The payload names the technician
 * and its validity. Verification runs before any session state is touched and compares the
 * signature in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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
  /**
   * Operations this technician may do beyond the basic ones (see `TECHNICIAN_PERMISSIONS` in
   * access-policy.ts); absent = the gateway's `technicianDefaultPermissions`.
   */
  readonly perms?: readonly string[];
  /** Teams (queues) the technician belongs to; absent = the gateway's `technicianDefaultTeam`. */
  readonly teams?: readonly string[];
}

/** Optional claims of `issueToken`. */
export interface TokenExtras {
  readonly perms?: readonly string[];
  readonly teams?: readonly string[];
}

/** Team names: the queue a support button or jump client belongs to. */
export const TEAM_PATTERN = /^[\w.-]{1,64}$/;
export const PERM_PATTERN = /^[a-z_]{1,32}$/;
const MAX_LIST = 32;

export type TokenCheck =
  | { readonly ok: true; readonly claims: TokenClaims }
  | {
      readonly ok: false;
      readonly code:
        | 'FERRY_ERR_TOKEN_MALFORMED'
        | 'FERRY_ERR_TOKEN_SIGNATURE'
        | 'FERRY_ERR_TOKEN_EXPIRED'
        | 'FERRY_ERR_TOKEN_NOT_YET_VALID'
        | 'FERRY_ERR_TOKEN_AUDIENCE'
        | 'FERRY_ERR_TOKEN_ISSUER'
        | 'FERRY_ERR_TOKEN_REVOKED';
      readonly message: string;
    };

function sign(secret: string, signedPart: string): Buffer {
  return createHmac('sha256', secret).update(signedPart).digest();
}

/** `extras` adds the `perms` and `teams` claims (access-policy.ts); omitted = the gateway's defaults. */
export function issueToken(
  secret: string,
  name: string,
  ttlSeconds: number,
  nowMs: number = Date.now(),
  extras: TokenExtras = {},
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
    ...(extras.perms === undefined
      ? {}
      : { perms: checkList('perms', extras.perms, PERM_PATTERN) }),
    ...(extras.teams === undefined
      ? {}
      : { teams: checkList('teams', extras.teams, TEAM_PATTERN) }),
  };
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signedPart = `${PREFIX}.${payload}`;
  return `${signedPart}.${sign(secret, signedPart).toString('base64url')}`;
}

export function checkList(what: string, list: readonly string[], pattern: RegExp): string[] {
  if (list.length > MAX_LIST) throw new RangeError(`at most ${MAX_LIST} ${what}`);
  for (const item of list) {
    if (!pattern.test(item)) throw new RangeError(`${what}: "${item}" does not match ${pattern}`);
  }
  return [...new Set(list)];
}

/** An optional list claim: absent, or an array of at most 32 strings matching `pattern`. */
export function listClaim(value: unknown, pattern: RegExp): boolean {
  return (
    value === undefined ||
    (Array.isArray(value) &&
      value.length <= MAX_LIST &&
      value.every((v) => typeof v === 'string' && pattern.test(v)))
  );
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
  if (!listClaim(claims.perms, PERM_PATTERN) || !listClaim(claims.teams, TEAM_PATTERN)) {
    return malformed('token perms or teams claim is not a list of names');
  }
  if (nowMs >= claims.exp * 1000) {
    return {
      ok: false,
      code: 'FERRY_ERR_TOKEN_EXPIRED',
      message: `token expired at ${new Date(claims.exp * 1000).toISOString()}`,
    };
  }
  return { ok: true, claims: claims as TokenClaims };
}
