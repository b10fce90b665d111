/**
 * Technician Hello with JWTs through a real gateway: an RS256 token from a JWKS file is
 * welcomed; expired, not-yet-valid, wrong-audience and revoked tokens are each refused with their
 * own code and the auth-failure close; an ft1 token still works and logs one deprecation warning
 * per technician; revoking the token of a live technician ends its connection.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { resolveConfig } from '../../src/config/config.js';
import { Gateway } from '../../src/gateway.js';
import { CloseCodes } from '../../src/protocol/codes.js';
import type { ferry } from '../../src/protocol/gen/ferry.js';
import { DenyList, issueJwt } from '../../src/session/jwt.js';
import { issueToken } from '../../src/session/tokens.js';
import { helloTechnician, type RawPeer, rawPeer, startGateway } from '../integration/harness.js';

const SCOPE = { audience: 'ferry', issuer: 'ferry' } as const;

function hs256(secret: string, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));
}

const now = () => Math.floor(Date.now() / 1000);

/** Sends a technician Hello; resolves with the first frame the gateway answers. */
async function hello(
  t: TestContext,
  url: string,
  token: string,
): Promise<[RawPeer, ferry.v1.Frame]> {
  const peer = await rawPeer(t, url);
  const first = new Promise<void>((resolve) => peer.ws.once('message', () => resolve()));
  peer.send(helloTechnician(token));
  await first;
  return [peer, peer.frames[0]!];
}

async function refusedWith(t: TestContext, url: string, token: string, code: string) {
  const [peer] = await hello(t, url, token);
  const error = await peer.nextError();
  assert.equal(error.code, code);
  assert.equal((await peer.closed).code, CloseCodes.AUTH_FAILED);
}

test('an RS256 technician token verified by the JWKS file is welcomed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-jwks-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pair = await generateKeyPair('RS256', { extractable: true });
  const jwksFile = path.join(dir, 'jwks.json');
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256' };
  fs.writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const { url } = await startGateway(t, { jwksFile });
  const token = await new SignJWT({ perms: [] })
    .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
    .setSubject('idp-tech')
    .setAudience('ferry')
    .setIssuer('ferry')
    .setIssuedAt()
    .setExpirationTime('1h')
    .setJti('idp-jti-1')
    .sign(pair.privateKey);
  const [, frame] = await hello(t, url, token);
  assert.ok(frame.control?.welcome, 'a Welcome answers the Hello');
});

test('expired, not-yet-valid, wrong-audience and revoked tokens are each refused with their own code', async (t) => {
  const { gateway, url, dataDir } = await startGateway(t);
  const secret = gateway.config.secret;
  const claims = { sub: 'tech-1', aud: 'ferry', iss: 'ferry', exp: now() + 600, jti: 'ok-1' };
  await refusedWith(
    t,
    url,
    await hs256(secret, { ...claims, exp: now() - 10 }),
    'FERRY_ERR_TOKEN_EXPIRED',
  );
  await refusedWith(
    t,
    url,
    await hs256(secret, { ...claims, nbf: now() + 600 }),
    'FERRY_ERR_TOKEN_NOT_YET_VALID',
  );
  await refusedWith(
    t,
    url,
    await hs256(secret, { ...claims, aud: 'other-gateway' }),
    'FERRY_ERR_TOKEN_AUDIENCE',
  );
  new DenyList(dataDir).revoke('gone-1');
  await refusedWith(
    t,
    url,
    await hs256(secret, { ...claims, jti: 'gone-1' }),
    'FERRY_ERR_TOKEN_REVOKED',
  );
});

test('an ft1 token is still welcomed and logs one deprecation warning per technician', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-test-'));
  const lines: { msg: string; name?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const config = resolveConfig(
    { host: '127.0.0.1', port: 0, adminPort: 0, dataDir, logLevel: 'warn' },
    {},
  );
  const gateway = await Gateway.start(config, pino({ level: 'warn' }, sink));
  t.after(async () => {
    await gateway.close('test finished');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const url = `ws://127.0.0.1:${gateway.port}/v1/ws`;
  for (let i = 0; i < 2; i++) {
    const [peer, frame] = await hello(t, url, issueToken(gateway.config.secret, 'old-tech', 60));
    assert.ok(frame.control?.welcome, 'a Welcome answers the ft1 Hello');
    peer.ws.close();
  }
  const warnings = lines.filter((l) => /deprecated ft1/.test(l.msg));
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.name, 'old-tech');
});

test('revoking the token of a live technician ends its connection with the revoked code', async (t) => {
  const { gateway, url, dataDir } = await startGateway(t);
  const token = await issueJwt(gateway.config.secret, 'tech-1', 3600, SCOPE);
  const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
  const [peer, frame] = await hello(t, url, token);
  assert.ok(frame.control?.welcome);
  new DenyList(dataDir).revoke(jti);
  gateway.relay.hello.checkRevocations();
  const error = await peer.nextError();
  assert.equal(error.code, 'FERRY_ERR_TOKEN_REVOKED');
  assert.equal((await peer.closed).code, CloseCodes.AUTH_FAILED);
});

test('POST /api/v1/tokens/{jti}/revoke ends the live technician and persists the revocation', async (t) => {
  const { gateway, url, dataDir } = await startGateway(t);
  const token = await issueJwt(gateway.config.secret, 'tech-2', 3600, SCOPE);
  const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
  const [peer, frame] = await hello(t, url, token);
  assert.ok(frame.control?.welcome);
  const res = await fetch(`http://127.0.0.1:${gateway.adminPort}/api/v1/tokens/${jti}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.adminToken}` },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { jti, revoked: true });
  assert.equal((await peer.nextError()).code, 'FERRY_ERR_TOKEN_REVOKED');
  assert.equal((await peer.closed).code, CloseCodes.AUTH_FAILED);
  const reread = new DenyList(dataDir);
  reread.refresh();
  assert.ok(reread.has(jti));
  await refusedWith(t, url, token, 'FERRY_ERR_TOKEN_REVOKED');
});
