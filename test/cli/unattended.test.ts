/**
 * The reference customer's command line in unattended mode: `ferry unattended --state-dir`
 * finds the key a pin left there, waits for a technician, runs the operator's after-session
 * command when the session closes, comes back, and stops once unpinned.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import type { JumpClientCredentials } from '../../src/clients/unattended.js';
import { activePair, startGateway, technician, tempDir, url } from '../handlers/access-harness.js';

const BIN = path.resolve('bin/ferry.js');

test('ferry unattended: a pinned client waits, serves a session, locks after it, and stops when unpinned', async (t) => {
  const { gateway } = await startGateway(t);
  const stateDir = tempDir(t);
  const pinner = await activePair(t, gateway, {
    perms: ['jump_client', 'unattended', 'after_session_lock'],
    teams: ['support'],
    tools: { stateDir },
  });
  const kept = once(pinner.tools, 'jumpClient') as Promise<[JumpClientCredentials]>;
  const pinned = await pinner.access.pinJumpClient();
  await kept;
  await pinner.tech.endSession();

  const locked = path.join(stateDir, 'locked');
  const child = spawn(
    process.execPath,
    [
      BIN,
      'unattended',
      '--url',
      url(gateway),
      '--state-dir',
      stateDir,
      '--name',
      'kiosk',
      '--lock-command',
      `echo "$FERRY_SESSION_ID" >> '${locked}'`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const out: string[] = [];
  const waiters: { match: RegExp; resolve: () => void }[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    out.push(line);
    for (const w of [...waiters]) {
      if (w.match.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const printed = (match: RegExp) =>
    new Promise<void>((resolve) => {
      if (out.some((l) => match.test(l))) resolve();
      else waiters.push({ match, resolve });
    });

  await printed(/waiting for a technician/);
  const { access } = await technician(t, gateway, 'tech-2', {
    perms: ['unattended', 'after_session_lock', 'jump_client'],
    teams: ['support'],
  });
  const sessionId = await access.startJumpSession(pinned.id);
  await printed(new RegExp(`technician started session ${sessionId}`));
  await access.setAfterSessionAction('lock');
  out.length = 0;
  const lockRan = printed(/after-session lock: exit 0/);
  const backWaiting = printed(/waiting for a technician/);
  await access.tech.endSession(sessionId);
  await Promise.all([lockRan, backWaiting]);
  assert.equal(fs.readFileSync(locked, 'utf8'), `${sessionId}\n`);

  const exited = once(child, 'close');
  await access.unpinJumpClient(pinned.id);
  assert.deepEqual(await exited, [0, null]);
  assert.ok(
    out.some((l) => l.includes('unattended client stopped: FERRY_ERR_JUMP_CLIENT_REVOKED')),
    out.join('\n'),
  );
});
