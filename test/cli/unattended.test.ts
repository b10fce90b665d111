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
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { SERVICE_RESTART_EXIT } from '../../src/cli/unattended.js';
import { waitFor } from '../../src/clients/client.js';
import { resumeFile } from '../../src/clients/resume-state.js';
import type { JumpClientCredentials } from '../../src/clients/unattended.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
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

/** `ferry unattended` as a child: its lines, and a wait for one. */
function jumpClient(t: TestContext, args: string[]) {
  const child = spawn(process.execPath, [BIN, 'unattended', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  const out: string[] = [];
  const waiters: { match: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const onLine = (line: string) => {
    out.push(line);
    for (const w of [...waiters]) {
      const m = w.match.exec(line);
      if (m !== null) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  readline.createInterface({ input: child.stdout! }).on('line', onLine);
  readline.createInterface({ input: child.stderr! }).on('line', onLine);
  const printed = (match: RegExp) =>
    new Promise<RegExpExecArray>((resolve) => {
      for (const l of out) {
        const m = match.exec(l);
        if (m !== null) return resolve(m);
      }
      waiters.push({ match, resolve });
    });
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, out, printed, exited };
}

test('under a service manager a reboot restarts the jump client: it exits 75, the restarted one resumes the session with its chat', {
  timeout: 60_000,
}, async (t) => {
  const S = ferry.v1.SessionStatus;
  const { gateway } = await startGateway(t);
  const stateDir = tempDir(t);
  const pinner = await activePair(t, gateway, {
    perms: ['jump_client', 'unattended'],
    teams: ['support'],
    tools: { stateDir },
  });
  const kept = once(pinner.tools, 'jumpClient') as Promise<[JumpClientCredentials]>;
  const pinned = await pinner.access.pinJumpClient();
  await kept;
  await pinner.tech.endSession();

  // the command the unit's ExecStart runs (`--service`), as systemd would start it
  const args = ['--url', url(gateway), '--state-dir', stateDir, '--name', 'kiosk'];
  const first = jumpClient(t, [...args, '--service', '--screen', 'test-pattern']);
  await first.printed(/waiting for a technician/);
  const { access } = await technician(t, gateway, 'tech-2', {
    perms: ['unattended', 'jump_client', 'reboot'],
    teams: ['support'],
  });
  const tech = access.tech;
  const sessionId = await access.startJumpSession(pinned.id);
  await first.printed(new RegExp(`technician started session ${sessionId}`));
  tech.chat('before the reboot');
  await waitFor(tech, 'chat', (c) => c.text === 'before the reboot');

  const rebooting = waitFor(tech, 'status', (s) => s.status === S.SESSION_STATUS_REBOOTING);
  const back = waitFor(
    tech,
    'status',
    (s) => s.status === S.SESSION_STATUS_ACTIVE && s.trigger === 'reboot_complete',
    30_000,
  );
  await tech.reboot(sessionId);
  await rebooting;
  // the process ends with the status the unit restarts on, its resume file left behind (0600)
  assert.deepEqual(await first.exited, [SERVICE_RESTART_EXIT, null]);
  assert.equal(fs.statSync(resumeFile(stateDir)).mode & 0o777, 0o600);
  assert.ok(first.out.some((l) => l.startsWith(`restarting: exit ${SERVICE_RESTART_EXIT}`)));

  // the service manager starts the same command again: the session is taken back
  const second = jumpClient(t, [...args, '--service', '--screen', 'test-pattern']);
  await second.printed(new RegExp(`resumed session ${sessionId}`));
  await back;
  const history = await tech.chatHistory(sessionId);
  assert.ok(history.entries.some((e) => e.chat?.text === 'before the reboot'));
  // after the session it waits for the next one, and its resume file is gone
  const waiting = second.printed(/waiting for a technician/);
  await tech.endSession(sessionId);
  await waiting;
  assert.equal(fs.existsSync(resumeFile(stateDir)), false);
});
