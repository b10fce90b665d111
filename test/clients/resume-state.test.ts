/**
 * The customer's resume file: written 0600 in a 0700 state directory, read back for the same
 * gateway, refused with a clear message and removed when corrupt or for another gateway, kept
 * current by ResumeKeeper through a real session (Welcome, consent) and removed when it ends.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import {
  defaultStateDir,
  loadResumeState,
  ResumeKeeper,
  type ResumeState,
  ResumeStateError,
  resumeFile,
  saveResumeState,
} from '../../src/clients/resume-state.js';
import { Codes } from '../../src/protocol/codes.js';
import { activeSession, startGateway } from '../integration/harness.js';

function stateDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-state-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'state');
}

const URL = 'ws://127.0.0.1:9/v1/ws';
const STATE: ResumeState = {
  version: 1,
  gatewayUrl: URL,
  gatewayId: 'gw-1',
  sessionId: 's-1',
  token: 'tok',
  granted: ['view', 'control'],
  savedAtMs: 1,
};

test('the state directory defaults to $XDG_STATE_HOME/ferry, else ~/.local/state/ferry', () => {
  assert.equal(defaultStateDir({ XDG_STATE_HOME: '/x/state' }), '/x/state/ferry');
  assert.equal(defaultStateDir({}), path.join(os.homedir(), '.local', 'state', 'ferry'));
});

test('the resume file is written mode 0600 in a 0700 directory and read back', async (t) => {
  const dir = stateDir(t);
  assert.equal(await loadResumeState(dir, URL), null, 'no file: nothing to resume');
  await saveResumeState(dir, STATE);
  assert.equal(fs.statSync(resumeFile(dir)).mode & 0o777, 0o600);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(await loadResumeState(dir, URL), STATE);
  assert.deepEqual(
    fs.readdirSync(dir),
    ['customer-resume.json'],
    'no temporary file is left behind',
  );
});

test('a corrupt resume file is refused with a clear message and removed', async (t) => {
  const dir = stateDir(t);
  for (const text of ['{"version":1,', '[]', JSON.stringify({ ...STATE, token: '' })]) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(resumeFile(dir), text);
    await assert.rejects(loadResumeState(dir, URL), (err: ResumeStateError) => {
      assert.equal(err.code, Codes.RESUME_STATE_INVALID.code);
      assert.match(err.message, /refused and removed/);
      return true;
    });
    assert.equal(fs.existsSync(resumeFile(dir)), false);
  }
});

test('a resume file of another gateway is refused, naming both, and removed', async (t) => {
  const dir = stateDir(t);
  await saveResumeState(dir, STATE);
  await assert.rejects(loadResumeState(dir, 'wss://other.example/v1/ws'), (err: Error) => {
    assert.ok(err instanceof ResumeStateError);
    assert.match(
      err.message,
      /belongs to gateway ws:\/\/127\.0\.0\.1:9\/v1\/ws, not wss:\/\/other/,
    );
    return true;
  });
  assert.equal(fs.existsSync(resumeFile(dir)), false);
});

test('the keeper writes the file on join and consent, and removes it when the session ends', async (t) => {
  const dir = stateDir(t);
  const { gateway } = await startGateway(t);
  const { tech, customer, sessionId } = await activeSession(t, gateway);
  // the technician's request resolves when the gateway records the grant; the customer hears of it
  if (customer.granted.length < 2) await waitFor(customer, 'consentChanged');
  const errors: Error[] = [];
  const keeper = new ResumeKeeper(customer, dir, {
    granted: () => customer.granted,
    onError: (err) => errors.push(err),
  });
  keeper.save();
  await keeper.settled();
  const saved = await loadResumeState(dir, customer.options.url);
  assert.ok(saved);
  assert.equal(saved.sessionId, sessionId);
  assert.equal(saved.token, customer.resumeToken);
  assert.equal(saved.gatewayId, customer.welcome?.gatewayId);
  assert.deepEqual([...saved.granted].sort(), ['control', 'view']);

  const changed = waitFor(customer, 'consentChanged');
  await customer.revoke(['control']);
  await changed;
  await keeper.settled();
  assert.deepEqual((await loadResumeState(dir, customer.options.url))?.granted, ['view']);

  await tech.endSession(sessionId, 'done');
  await new Promise<void>((resolve) => customer.once('close', () => resolve()));
  await keeper.settled();
  assert.equal(fs.existsSync(resumeFile(dir)), false);
  assert.deepEqual(errors, []);
});
