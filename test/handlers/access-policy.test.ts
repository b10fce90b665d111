/**
 * Where a technician's permissions and teams come from (token claims, else the operator's
 * defaults), the canned script library's checks, and `ferry token issue --perm/--team`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { resolveConfig } from '../../src/config/config.js';
import { Gateway } from '../../src/gateway.js';
import { silentLogger } from '../../src/log.js';
import { defaultGrants, grantsOf, personalTeam, reaches } from '../../src/session/access-policy.js';
import { CannedScriptLibrary } from '../../src/session/canned-scripts.js';
import { TechnicianVerifier } from '../../src/session/jwt.js';
import { issueToken, verifyToken } from '../../src/session/tokens.js';
import { tempDir } from './access-harness.js';

const run = promisify(execFile);
const BIN = path.resolve('bin/ferry.js');
const SECRET = 'policy-secret-0123456789';
const DEFAULTS = { perms: ['reboot' as const], team: 'default' };

test('permission and team claims travel in the signed token; without them the operator defaults apply', () => {
  const token = issueToken(SECRET, 'tech-1', 60, Date.now(), {
    perms: ['scripts', 'elevate', 'scripts'],
    teams: ['support', 'billing'],
  });
  const check = verifyToken(SECRET, token);
  assert.ok(check.ok);
  assert.deepEqual(check.claims.perms, ['scripts', 'elevate']);
  const grants = grantsOf(check.claims, DEFAULTS);
  assert.deepEqual([...grants.perms], ['scripts', 'elevate']);
  assert.deepEqual(grants.teams, ['support', 'billing']);
  assert.ok(reaches(grants, 'billing'));
  assert.ok(reaches(grants, personalTeam('tech-1')));
  assert.ok(!reaches(grants, personalTeam('tech-2')));
  assert.ok(!reaches(grants, 'sales'));

  const plain = verifyToken(SECRET, issueToken(SECRET, 'tech-2', 60));
  assert.ok(plain.ok);
  const fallback = grantsOf(plain.claims, DEFAULTS);
  assert.deepEqual([...fallback.perms], ['reboot']);
  assert.deepEqual(fallback.teams, ['default']);
  // an empty list is a claim too: no permission at all
  const none = verifyToken(SECRET, issueToken(SECRET, 'tech-3', 60, Date.now(), { perms: [] }));
  assert.ok(none.ok);
  assert.deepEqual([...grantsOf(none.claims, DEFAULTS).perms], []);
});

test('bad claims are refused when issuing and when verifying', () => {
  assert.throws(
    () => issueToken(SECRET, 'tech-1', 60, Date.now(), { teams: ['no spaces'] }),
    RangeError,
  );
  assert.throws(
    () => issueToken(SECRET, 'tech-1', 60, Date.now(), { perms: ['Bad-Perm'] }),
    RangeError,
  );
  // a correctly signed payload whose teams claim is not a list of names
  const payload = Buffer.from(
    JSON.stringify({ sub: 'x', iat: 1, exp: 4_000_000_000, jti: 'j', teams: 'support' }),
  ).toString('base64url');
  const signature = createHmac('sha256', SECRET).update(`ft1.${payload}`).digest('base64url');
  const check = verifyToken(SECRET, `ft1.${payload}.${signature}`);
  assert.equal(check.ok ? '' : check.code, 'FERRY_ERR_TOKEN_MALFORMED');
});

test('the operator defaults are checked at start: an unknown permission or team stops the gateway', async (t) => {
  const dir = tempDir(t);
  const base = { host: '127.0.0.1', port: 0, adminPort: 0, dataDir: dir, logLevel: 'silent' };
  assert.throws(
    () => defaultGrants(resolveConfig({ ...base, technicianDefaultPermissions: 'reboot,fly' }, {})),
    /unknown permission "fly"/,
  );
  assert.throws(
    () => defaultGrants(resolveConfig({ ...base, technicianDefaultTeam: 'a b' }, {})),
    /not a team name/,
  );
  const badScripts = path.join(dir, 'scripts.json');
  fs.writeFileSync(badScripts, '{"scripts": [{"id": "x", "name": "X"}]}');
  await assert.rejects(
    Gateway.start(resolveConfig({ ...base, cannedScriptsFile: badScripts }, {}), silentLogger()),
    { code: 'FERRY_ERR_CONFIG', message: /scripts\[0\]\.body/ },
  );
});

test('the canned script library refuses repeated ids, missing bodies and bad team lists', () => {
  const ok = CannedScriptLibrary.parse({
    scripts: [
      { id: 'a', name: 'A', body: 'true' },
      { id: 'b', name: 'B', body: 'true', teams: ['sales'] },
    ],
  });
  const lib = new CannedScriptLibrary(ok);
  assert.deepEqual(
    lib.visibleTo(['support']).map((s) => s.id),
    ['a'],
  );
  assert.equal(lib.get('b', ['support']), undefined);
  assert.equal(lib.get('b', ['sales'])?.body, 'true');
  for (const [bad, why] of [
    [
      {
        scripts: [
          { id: 'a', name: 'A', body: 'x' },
          { id: 'a', name: 'A2', body: 'y' },
        ],
      },
      /repeated/,
    ],
    [{ scripts: [{ id: 'a', name: 'A' }] }, /body/],
    [{ scripts: [{ id: 'a', name: 'A', body: 'x', teams: 'all' }] }, /teams/],
    [{ scripts: [{ id: 'has space', name: 'A', body: 'x' }] }, /id must match/],
    [{ nope: [] }, /expected/],
  ] as const) {
    assert.throws(() => CannedScriptLibrary.parse(bad), why);
  }
});

test('ferry token issue --perm and --team sign the claims; an unknown permission is refused', async (t) => {
  const dir = tempDir(t);
  const { stdout } = await run(process.execPath, [
    BIN,
    'token',
    'issue',
    '--name',
    'tech-1',
    '--data-dir',
    dir,
    '--perm',
    'jump_client,unattended',
    '--perm',
    'scripts',
    '--team',
    'support',
  ]);
  const secret = fs.readFileSync(path.join(dir, 'secret'), 'utf8').trim();
  const check = await new TechnicianVerifier({
    secret,
    scope: { audience: 'ferry', issuer: 'ferry' },
  }).verify(stdout.trim());
  assert.ok(check.ok);
  assert.deepEqual(check.claims.perms, ['jump_client', 'unattended', 'scripts']);
  assert.deepEqual(check.claims.teams, ['support']);
  await assert.rejects(
    run(process.execPath, [
      BIN,
      'token',
      'issue',
      '--name',
      'x',
      '--data-dir',
      dir,
      '--perm',
      'fly',
    ]),
    (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /unknown permission "fly"/);
      return true;
    },
  );
});
