import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { JumpClientRegistry, REGISTRY_FILE } from '../../src/tools/jump-clients.js';

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-jump-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const pin = { technician: 'alice', team: 'helpdesk', deviceName: 'FRONT-DESK-01' };

test('a pinned jump client authenticates with its key until it is unpinned', async (t) => {
  let now = 1_000;
  const reg = await JumpClientRegistry.open({ dir: tmpDir(t), now: () => now });
  const { id, key, registration } = await reg.register(pin);
  assert.match(id, /^jc_[A-Za-z0-9_-]{16}$/);
  assert.equal(Buffer.from(key, 'base64url').length, 32);
  assert.deepEqual(registration, {
    id,
    ...pin,
    createdAtMs: 1_000,
    revokedAtMs: null,
    revokedBy: null,
    lastSeenAtMs: null,
  });

  now = 2_000;
  const auth = reg.authenticate(id, key);
  assert.equal(auth.ok, true);
  assert.equal(auth.ok && auth.registration.lastSeenAtMs, 2_000);

  now = 3_000;
  assert.equal(await reg.revoke(id, 'bob'), true);
  assert.equal(await reg.revoke(id, 'bob'), false, 'already revoked');
  assert.deepEqual(reg.authenticate(id, key), {
    ok: false,
    code: 'FERRY_ERR_JUMP_CLIENT_REVOKED',
  });
  const revoked = reg.get(id)!;
  assert.equal(revoked.revokedAtMs, 3_000);
  assert.equal(revoked.revokedBy, 'bob');
  assert.deepEqual(reg.list(), []);
  assert.equal(reg.list(undefined, { includeRevoked: true }).length, 1);
});

test('a wrong key, an unknown id and a revoked id with a wrong key all fail alike', async (t) => {
  const reg = await JumpClientRegistry.open({ dir: tmpDir(t) });
  const a = await reg.register(pin);
  const b = await reg.register({ ...pin, deviceName: 'OTHER' });
  const failed = { ok: false, code: 'FERRY_ERR_JUMP_CLIENT_AUTH_FAILED' };
  assert.deepEqual(reg.authenticate(a.id, b.key), failed, "another client's key");
  const flipped = `${a.key.slice(0, -1)}${a.key.endsWith('A') ? 'B' : 'A'}`;
  assert.deepEqual(reg.authenticate(a.id, flipped), failed, 'one character off');
  assert.deepEqual(reg.authenticate(a.id, ''), failed);
  assert.deepEqual(reg.authenticate('jc_unknown', a.key), failed);
  await reg.revoke(a.id);
  assert.deepEqual(reg.authenticate(a.id, b.key), failed, 'revocation is told to key holders only');
  assert.equal(reg.authenticate(b.id, b.key).ok, true);
});

test('registrations and support buttons persist across instances, digests only', async (t) => {
  const dir = tmpDir(t);
  const reg1 = await JumpClientRegistry.open({ dir });
  const kept = await reg1.register(pin);
  const gone = await reg1.register({ ...pin, team: 'billing' });
  const other = await reg1.register({ ...pin, team: 'billing', deviceName: 'TILL-2' });
  await reg1.revoke(gone.id, 'carol');
  const button = await reg1.registerButton({ team: 'billing', deviceName: 'TILL-2' });
  const dropped = await reg1.registerButton({ team: 'helpdesk', deviceName: 'LAPTOP' });
  assert.match(button.id, /^sb_/);
  assert.equal(await reg1.removeButton(dropped.id), true);
  assert.equal(await reg1.removeButton(dropped.id), false);

  const reg2 = await JumpClientRegistry.open({ dir });
  assert.equal(reg2.authenticate(kept.id, kept.key).ok, true);
  assert.equal(reg2.authenticate(other.id, other.key).ok, true);
  assert.deepEqual(reg2.authenticate(gone.id, gone.key), {
    ok: false,
    code: 'FERRY_ERR_JUMP_CLIENT_REVOKED',
  });
  assert.deepEqual(
    reg2.list('billing').map((r) => r.deviceName),
    ['TILL-2'],
  );
  assert.deepEqual(
    reg2.list().map((r) => r.id),
    [kept.id, other.id],
  );
  assert.deepEqual(reg2.button(button.id), button);
  assert.equal(reg2.button(dropped.id), undefined);
  assert.deepEqual(reg2.listButtons('billing'), [button]);

  const file = path.join(dir, REGISTRY_FILE);
  const text = fs.readFileSync(file, 'utf8');
  for (const key of [kept.key, gone.key, other.key]) {
    assert.ok(!text.includes(key), 'a key never reaches the disk');
    assert.ok(!text.includes(Buffer.from(key, 'base64url').toString('hex')));
  }
  assert.equal((JSON.parse(text) as { digest: string }).digest, 'hmac-sha256');
  if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(dir), [REGISTRY_FILE], 'no temporary file is left behind');
});

test('a different pepper voids every key', async (t) => {
  const dir = tmpDir(t);
  const reg1 = await JumpClientRegistry.open({ dir, pepper: 'secret one' });
  const { id, key } = await reg1.register(pin);
  const reg2 = await JumpClientRegistry.open({ dir, pepper: 'secret two' });
  assert.equal(reg2.authenticate(id, key).ok, false);
  const reg3 = await JumpClientRegistry.open({ dir, pepper: 'secret one' });
  assert.equal(reg3.authenticate(id, key).ok, true);
});

test('a corrupt registry file is refused and left untouched', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, REGISTRY_FILE);
  for (const bad of ['{not json', '{"version":1,"jumpClients":[]}', '[]']) {
    fs.writeFileSync(file, bad);
    await assert.rejects(JumpClientRegistry.open({ dir }), { code: 'FERRY_ERR_REGISTRY_CORRUPT' });
    assert.equal(fs.readFileSync(file, 'utf8'), bad);
  }
});

test('invalid fields and a full registry are refused with codes', async (t) => {
  const reg = await JumpClientRegistry.open({ dir: tmpDir(t), maxEntries: 2 });
  await assert.rejects(reg.register({ ...pin, team: '' }), {
    code: 'FERRY_ERR_REGISTRY_INVALID_FIELD',
  });
  await assert.rejects(reg.register({ ...pin, deviceName: 'x'.repeat(257) }), {
    code: 'FERRY_ERR_REGISTRY_INVALID_FIELD',
  });
  const first = await reg.register(pin);
  await reg.register(pin);
  await assert.rejects(reg.register(pin), { code: 'FERRY_ERR_REGISTRY_FULL' });
  await reg.revoke(first.id);
  await reg.register(pin); // a revoked registration frees its place
  await reg.registerButton({ team: 't', deviceName: 'd' });
  await reg.registerButton({ team: 't', deviceName: 'd' });
  await assert.rejects(reg.registerButton({ team: 't', deviceName: 'd' }), {
    code: 'FERRY_ERR_REGISTRY_FULL',
  });
});

test('concurrent mutations are all saved', async (t) => {
  const dir = tmpDir(t);
  const reg1 = await JumpClientRegistry.open({ dir });
  const made = await Promise.all(
    Array.from({ length: 10 }, (_, i) => reg1.register({ ...pin, deviceName: `PC-${i}` })),
  );
  const reg2 = await JumpClientRegistry.open({ dir });
  for (const m of made) assert.equal(reg2.authenticate(m.id, m.key).ok, true);
});
