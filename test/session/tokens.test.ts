/**
 * Technician tokens: what issueToken signs verifies with the same secret and nothing else; every
 * refusal carries the one FERRY_ERR_TOKEN_* code that names it.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { issueToken, type TokenCheck, verifyToken } from '../../src/session/tokens.js';

const SECRET = 'test-secret-0123456789abcdef';
const NOW_MS = 1_700_000_000_000;
const TTL_SECONDS = 3600;

function parts(token: string): [string, string, string] {
  const split = token.split('.');
  assert.equal(split.length, 3);
  return split as [string, string, string];
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs an arbitrary payload with the real secret, as only the gateway could. */
function signWithSecret(payload: string): string {
  const signedPart = `ft1.${payload}`;
  return `${signedPart}.${createHmac('sha256', SECRET).update(signedPart).digest('base64url')}`;
}

function codeOf(check: TokenCheck): string {
  assert.equal(check.ok, false, 'expected a refusal');
  return check.ok ? '' : check.code;
}

test('a token issued with a secret verifies with it and carries sub, iat and exp', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  assert.match(token, /^ft1\.[\w-]+\.[\w-]+$/);
  const check = verifyToken(SECRET, token, NOW_MS);
  assert.ok(check.ok);
  assert.equal(check.claims.sub, 'tech-1');
  assert.equal(check.claims.iat, NOW_MS / 1000);
  assert.equal(check.claims.exp, NOW_MS / 1000 + TTL_SECONDS);
  assert.equal(typeof check.claims.jti, 'string');
});

test('two tokens for the same name and time differ by their jti', () => {
  const a = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  const b = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  assert.notEqual(a, b);
  assert.notEqual(payloadOf(a).jti, payloadOf(b).jti);
});

test('a token verified with a different secret is FERRY_ERR_TOKEN_SIGNATURE', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  assert.equal(codeOf(verifyToken('another-secret', token, NOW_MS)), 'FERRY_ERR_TOKEN_SIGNATURE');
});

test('a payload re-encoded with another sub under the original signature is FERRY_ERR_TOKEN_SIGNATURE', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  const [prefix, , signature] = parts(token);
  const forged = `${prefix}.${b64({ ...payloadOf(token), sub: 'admin' })}.${signature}`;
  assert.equal(codeOf(verifyToken(SECRET, forged, NOW_MS)), 'FERRY_ERR_TOKEN_SIGNATURE');
});

test('a token with one character of its payload changed is FERRY_ERR_TOKEN_SIGNATURE', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  const [prefix, payload, signature] = parts(token);
  const i = Math.floor(payload.length / 2);
  const swapped = payload[i] === 'A' ? 'B' : 'A';
  const tampered = `${prefix}.${payload.slice(0, i)}${swapped}${payload.slice(i + 1)}.${signature}`;
  assert.equal(codeOf(verifyToken(SECRET, tampered, NOW_MS)), 'FERRY_ERR_TOKEN_SIGNATURE');
});

test('a token with a truncated or extended signature is FERRY_ERR_TOKEN_SIGNATURE', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  assert.equal(
    codeOf(verifyToken(SECRET, token.slice(0, -4), NOW_MS)),
    'FERRY_ERR_TOKEN_SIGNATURE',
  );
  assert.equal(codeOf(verifyToken(SECRET, `${token}AAAA`, NOW_MS)), 'FERRY_ERR_TOKEN_SIGNATURE');
});

test('an unsigned token with an empty signature part is FERRY_ERR_TOKEN_SIGNATURE', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  const [prefix, payload] = parts(token);
  assert.equal(
    codeOf(verifyToken(SECRET, `${prefix}.${payload}.`, NOW_MS)),
    'FERRY_ERR_TOKEN_SIGNATURE',
  );
});

test('a token without a signature part is FERRY_ERR_TOKEN_MALFORMED: it is not ft1 shaped', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  const [prefix, payload] = parts(token);
  assert.equal(
    codeOf(verifyToken(SECRET, `${prefix}.${payload}`, NOW_MS)),
    'FERRY_ERR_TOKEN_MALFORMED',
  );
});

test('a token used at or after its exp is FERRY_ERR_TOKEN_EXPIRED, one ms before it is valid', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  const expMs = NOW_MS + TTL_SECONDS * 1000;
  assert.ok(verifyToken(SECRET, token, expMs - 1).ok);
  assert.equal(codeOf(verifyToken(SECRET, token, expMs)), 'FERRY_ERR_TOKEN_EXPIRED');
  assert.equal(codeOf(verifyToken(SECRET, token, expMs + 86_400_000)), 'FERRY_ERR_TOKEN_EXPIRED');
});

test('an expired token with a bad signature reports the signature, not the expiry', () => {
  const token = issueToken(SECRET, 'tech-1', 1, NOW_MS);
  assert.equal(
    codeOf(verifyToken('another-secret', token, NOW_MS + 60_000)),
    'FERRY_ERR_TOKEN_SIGNATURE',
  );
});

test('empty, garbage, oversized and other-prefix tokens are FERRY_ERR_TOKEN_MALFORMED', () => {
  const token = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS);
  const [, payload, signature] = parts(token);
  const cases = [
    '',
    'garbage',
    '...',
    'ft1',
    `ft2.${payload}.${signature}`,
    `FT1.${payload}.${signature}`,
    `.${payload}.${signature}`,
    `ft1.${payload}.${signature}.extra`,
    'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZWNoLTEifQ.',
    `ft1.${'A'.repeat(5000)}.${signature}`,
  ];
  for (const bad of cases) {
    assert.equal(
      codeOf(verifyToken(SECRET, bad, NOW_MS)),
      'FERRY_ERR_TOKEN_MALFORMED',
      bad.slice(0, 40),
    );
  }
});

test('a correctly signed payload that is not valid claims is FERRY_ERR_TOKEN_MALFORMED, never a throw', () => {
  const cases = [
    Buffer.from('not json').toString('base64url'),
    b64({ sub: 'tech-1', iat: 1 }), // no exp
    b64({ sub: 7, iat: 1, exp: 9e9 }),
    b64([]),
    b64('tech-1'),
    b64(42),
    b64(null),
  ];
  for (const payload of cases) {
    const token = signWithSecret(payload);
    let check: TokenCheck | undefined;
    assert.doesNotThrow(() => {
      check = verifyToken(SECRET, token, NOW_MS);
    }, Buffer.from(payload, 'base64url').toString());
    assert.equal(
      codeOf(check!),
      'FERRY_ERR_TOKEN_MALFORMED',
      Buffer.from(payload, 'base64url').toString(),
    );
  }
});

test('issueToken refuses names that are empty, too long or outside letters, digits and . _ @ -', () => {
  const bad = [
    '',
    'a'.repeat(65),
    'tech 1',
    'tech/1',
    'tech\n',
    'tech.1\n',
    'técnico',
    '<script>',
    'a:b',
  ];
  for (const name of bad) {
    assert.throws(
      () => issueToken(SECRET, name, TTL_SECONDS, NOW_MS),
      RangeError,
      JSON.stringify(name),
    );
  }
  for (const name of ['a', 'a'.repeat(64), 'tech-1', 'first.last@example.com', 'x_y']) {
    assert.ok(verifyToken(SECRET, issueToken(SECRET, name, TTL_SECONDS, NOW_MS), NOW_MS).ok, name);
  }
});

test('perms and teams claims: absent stays absent, listed ones are kept, and a malformed claim is refused', () => {
  const plain = verifyToken(SECRET, issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS), NOW_MS);
  assert.ok(plain.ok && plain.claims.perms === undefined && plain.claims.teams === undefined);
  const none = issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS, { perms: [] });
  assert.deepEqual(payloadOf(none).perms, []);
  const some = verifyToken(
    SECRET,
    issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS, { perms: ['sysinfo'], teams: ['eu-1'] }),
    NOW_MS,
  );
  assert.ok(some.ok);
  assert.deepEqual(some.ok && some.claims.perms, ['sysinfo']);
  assert.deepEqual(some.ok && some.claims.teams, ['eu-1']);
  const base = { sub: 'tech-1', iat: NOW_MS / 1000, exp: NOW_MS / 1000 + 60, jti: 'x' };
  for (const perms of ['sysinfo', [1], ['Sys Info'], Array(33).fill('a'), { sysinfo: true }]) {
    assert.equal(
      codeOf(verifyToken(SECRET, signWithSecret(b64({ ...base, perms })), NOW_MS)),
      'FERRY_ERR_TOKEN_MALFORMED',
      JSON.stringify(perms),
    );
  }
  assert.equal(
    codeOf(verifyToken(SECRET, signWithSecret(b64({ ...base, teams: ['a b'] })), NOW_MS)),
    'FERRY_ERR_TOKEN_MALFORMED',
  );
  assert.throws(
    () => issueToken(SECRET, 'tech-1', TTL_SECONDS, NOW_MS, { perms: ['no spaces'] }),
    RangeError,
  );
});
