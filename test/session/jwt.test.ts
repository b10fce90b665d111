/**
 * Technician JWTs: what issueJwt mints verifies with the same secret, audience and issuer; RS256,
 * ES256 and EdDSA tokens verify against a JWKS file; every refusal (expired, not yet valid,
 * wrong audience, wrong issuer, bad signature, revoked) has its own code; ft1 tokens still
 * verify, flagged legacy; the deny-list persists in its file and reports newly revoked ids.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, type JSONWebKeySet, jwtVerify, SignJWT } from 'jose';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  DenyList,
  issueJwt,
  loadJwksFile,
  TechnicianVerifier,
  verifyHs256,
} from '../../src/session/jwt.js';
import { issueToken } from '../../src/session/tokens.js';

const SECRET = 'jwt-test-secret-jwt-test-secret!';
const SCOPE = { audience: 'ferry', issuer: 'ferry' } as const;
const NOW_MS = Date.UTC(2026, 0, 1);
const NOW = NOW_MS / 1000;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-jwt-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));
}

const base = { sub: 'tech-1', aud: 'ferry', iss: 'ferry', iat: NOW, exp: NOW + 60, jti: 'j-1' };

test('a token from issueJwt verifies with its claims, a jti and the 12 h default lifetime', async () => {
  const token = await issueJwt(
    SECRET,
    'tech-1',
    DEFAULT_TOKEN_TTL_SECONDS,
    SCOPE,
    {
      perms: ['scripts'],
      teams: ['support'],
    },
    NOW_MS,
  );
  const check = await new TechnicianVerifier({ secret: SECRET, scope: SCOPE }).verify(
    token,
    NOW_MS,
  );
  assert.ok(check.ok);
  assert.equal(check.legacy, false);
  assert.equal(check.claims.sub, 'tech-1');
  assert.equal(check.claims.exp - check.claims.iat, 12 * 3600);
  assert.match(check.claims.jti, /^[\w-]{20,}$/);
  assert.deepEqual(check.claims.perms, ['scripts']);
  assert.deepEqual(check.claims.teams, ['support']);
});

test('each refusal of an HS256 token has its own code', async () => {
  const verifier = new TechnicianVerifier({ secret: SECRET, scope: SCOPE });
  const cases: [Record<string, unknown>, string, string?][] = [
    [{ ...base, exp: NOW - 1 }, 'FERRY_ERR_TOKEN_EXPIRED'],
    [{ ...base, nbf: NOW + 600 }, 'FERRY_ERR_TOKEN_NOT_YET_VALID'],
    [{ ...base, aud: 'elsewhere' }, 'FERRY_ERR_TOKEN_AUDIENCE'],
    [{ ...base, iss: 'someone' }, 'FERRY_ERR_TOKEN_ISSUER'],
    [base, 'FERRY_ERR_TOKEN_SIGNATURE', 'another-secret-another-secret-xx'],
    [{ ...base, sub: 'no spaces allowed' }, 'FERRY_ERR_TOKEN_MALFORMED'],
    [{ ...base, perms: 'all' }, 'FERRY_ERR_TOKEN_MALFORMED'],
  ];
  for (const [claims, code, secret] of cases) {
    const check = await verifier.verify(await hs256(claims, secret), NOW_MS);
    assert.equal(check.ok ? 'ok' : check.code, code, JSON.stringify(claims));
  }
  const garbage = await verifier.verify('not.a.jwt', NOW_MS);
  assert.equal(garbage.ok ? 'ok' : garbage.code, 'FERRY_ERR_TOKEN_MALFORMED');
});

test('RS256, ES256 and EdDSA tokens verify against a JWKS file, and only when one is set', async (t) => {
  const dir = tempDir(t);
  const keys: JSONWebKeySet['keys'] = [];
  const signers: [string, Awaited<ReturnType<typeof generateKeyPair>>['privateKey']][] = [];
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    keys.push({ ...(await exportJWK(pair.publicKey)), kid: alg, alg });
    signers.push([alg, pair.privateKey]);
  }
  const file = path.join(dir, 'jwks.json');
  fs.writeFileSync(file, JSON.stringify({ keys }));
  const verifier = new TechnicianVerifier({
    secret: SECRET,
    scope: SCOPE,
    jwks: loadJwksFile(file),
  });
  const without = new TechnicianVerifier({ secret: SECRET, scope: SCOPE });
  for (const [alg, key] of signers) {
    const token = await new SignJWT({ teams: ['idp'] })
      .setProtectedHeader({ alg, kid: alg })
      .setSubject('idp-user')
      .setAudience('ferry')
      .setIssuer('ferry')
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 60)
      .sign(key);
    const check = await verifier.verify(token, NOW_MS);
    assert.ok(check.ok, alg);
    assert.equal(check.claims.sub, 'idp-user');
    assert.deepEqual(check.claims.teams, ['idp']);
    const refused = await without.verify(token, NOW_MS);
    assert.equal(refused.ok ? 'ok' : refused.code, 'FERRY_ERR_TOKEN_SIGNATURE', alg);
  }
  const stranger = await generateKeyPair('RS256');
  const forged = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'RS256' })
    .setSubject('idp-user')
    .setAudience('ferry')
    .setIssuer('ferry')
    .setExpirationTime(NOW + 60)
    .sign(stranger.privateKey);
  const check = await verifier.verify(forged, NOW_MS);
  assert.equal(check.ok ? 'ok' : check.code, 'FERRY_ERR_TOKEN_SIGNATURE');
  // a JWKS whose key list holds something that is no key object is refused when it is read
  const bad = path.join(dir, 'bad-jwks.json');
  fs.writeFileSync(bad, JSON.stringify({ keys: [keys[0], 'RS256'] }));
  assert.throws(() => loadJwksFile(bad), /bad-jwks\.json: keys\[1\] is not a JSON Web Key object/);
});

test('a token whose header is not a JWS header is refused as malformed before any signature work', async () => {
  const verifier = new TechnicianVerifier({ secret: SECRET, scope: SCOPE });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  for (const token of [
    'not.a.jwt',
    'only.two',
    `.${b64({ sub: 'x' })}.sig`,
    `${b64([1, 2])}.${b64({})}.sig`,
    `${b64('HS256')}.${b64({})}.sig`,
    `${Buffer.from('{"alg":').toString('base64url')}.e30.sig`,
  ]) {
    const check = verifier.check(token, NOW_MS);
    assert.ok(!(check instanceof Promise), token);
    assert.deepEqual(
      check,
      {
        ok: false,
        code: 'FERRY_ERR_TOKEN_MALFORMED',
        message: 'not a JWT: Invalid Token or Protected Header formatting',
      },
      token,
    );
  }
  // a header naming no algorithm, or one not allowed, is a signature refusal
  for (const header of [{ typ: 'JWT' }, { alg: 'none' }, { alg: 'RS256' }]) {
    const check = verifier.check(`${b64(header)}.${b64({})}.sig`, NOW_MS);
    assert.equal(
      check instanceof Promise || check.ok ? 'other' : check.code,
      'FERRY_ERR_TOKEN_SIGNATURE',
    );
  }
});

test('an ft1 token still verifies and is flagged legacy', async () => {
  const verifier = new TechnicianVerifier({ secret: SECRET, scope: SCOPE });
  const check = await verifier.verify(issueToken(SECRET, 'tech-1', 60, NOW_MS), NOW_MS);
  assert.ok(check.ok);
  assert.equal(check.legacy, true);
});

test('a revoked jti is refused, persists in the data directory and is reported once', async (t) => {
  const dir = tempDir(t);
  const deny = new DenyList(dir);
  const verifier = new TechnicianVerifier({ secret: SECRET, scope: SCOPE, deny });
  assert.ok((await verifier.verify(await hs256(base), NOW_MS)).ok);
  const other = new DenyList(dir);
  other.revoke('j-1');
  assert.deepEqual(deny.refresh(), ['j-1']);
  assert.deepEqual(deny.refresh(), []);
  const check = await verifier.verify(await hs256(base), NOW_MS);
  assert.equal(check.ok ? 'ok' : check.code, 'FERRY_ERR_TOKEN_REVOKED');
  const reread = new DenyList(dir);
  reread.refresh();
  assert.ok(reread.has('j-1'));
  assert.throws(() => deny.revoke('not a jti'), RangeError);
});

test('HS256 is checked in the same turn, and accepts and refuses exactly what jose does', async () => {
  const verifier = new TechnicianVerifier({ secret: SECRET, scope: SCOPE });
  // no promise: the Hello is answered in the frame's own turn
  const now = verifier.check(await hs256(base), NOW_MS);
  assert.ok(!(now instanceof Promise) && now.ok);
  const { exp: _exp, ...noExp } = base;
  const { iss: _iss, ...noIss } = base;
  const cases: [string, Record<string, unknown>, string][] = [
    ['audience in a list', { ...base, aud: ['other', 'ferry'] }, 'ok'],
    ['audience list without ours', { ...base, aud: ['other'] }, 'FERRY_ERR_TOKEN_AUDIENCE'],
    ['no exp', noExp, 'FERRY_ERR_TOKEN_MALFORMED'],
    ['no iss', noIss, 'FERRY_ERR_TOKEN_ISSUER'],
    ['exp a string', { ...base, exp: String(NOW + 60) }, 'FERRY_ERR_TOKEN_MALFORMED'],
    ['iat a string', { ...base, iat: 'today' }, 'FERRY_ERR_TOKEN_MALFORMED'],
    ['exp exactly now', { ...base, exp: NOW }, 'FERRY_ERR_TOKEN_EXPIRED'],
    ['nbf exactly now', { ...base, nbf: NOW }, 'ok'],
    ['nbf a second ahead', { ...base, nbf: NOW + 1 }, 'FERRY_ERR_TOKEN_NOT_YET_VALID'],
  ];
  const key = new TextEncoder().encode(SECRET);
  for (const [name, claims, code] of cases) {
    const token = await hs256(claims);
    const check = verifier.check(token, NOW_MS) as Awaited<ReturnType<typeof verifier.verify>>;
    assert.equal(check.ok ? 'ok' : check.code, code, name);
    const jose = await jwtVerify(token, key, {
      audience: SCOPE.audience,
      issuer: SCOPE.issuer,
      requiredClaims: ['exp', 'sub'],
      currentDate: new Date(NOW_MS),
      algorithms: ['HS256'],
    }).then(
      () => 'ok',
      () => 'refused',
    );
    assert.equal(jose, code === 'ok' ? 'ok' : 'refused', `jose agrees: ${name}`);
  }
  // a forged header: another alg, or extensions, or a body that is no object
  const [head, body, sig] = (await hs256(base)).split('.') as [string, string, string];
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const none = `${b64({ alg: 'none' })}.${body}.`;
  assert.equal(
    (verifyHs256(none, SECRET, SCOPE, NOW_MS) as { code: string }).code,
    'FERRY_ERR_TOKEN_SIGNATURE',
  );
  const crit = await new SignJWT(base)
    .setProtectedHeader({ alg: 'HS256', crit: ['exp'], exp: 1 } as never)
    .sign(key)
    .catch(() => `${b64({ alg: 'HS256', crit: ['x'] })}.${body}.${sig}`);
  assert.equal((verifyHs256(crit, SECRET, SCOPE, NOW_MS) as { ok: boolean }).ok, false);
  assert.equal(
    (verifyHs256(`${head}.${body}.${sig.slice(1)}A`, SECRET, SCOPE, NOW_MS) as { code: string })
      .code,
    'FERRY_ERR_TOKEN_SIGNATURE',
  );
});
