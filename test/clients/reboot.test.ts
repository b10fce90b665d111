/**
 * The reboot tool restarts the customer process for real: `ferry customer` (a child) gets the
 * technician's reboot, writes its resume state, starts a new process of itself with `--resume`
 * and exits; the new process (another pid) resumes, and the session goes Rebooting, then
 * Active again, with chat working as before.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { resumeFile } from '../../src/clients/resume-state.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { technician } from '../handlers/access-harness.js';
import { startGateway } from '../integration/harness.js';
import { CustomerProcess } from '../support/customer-process.js';

const S = ferry.v1.SessionStatus;

test('a reboot restarts the customer process: a new process resumes and the session is Active again', {
  timeout: 60_000,
}, async (t) => {
  const { gateway, url } = await startGateway(t);
  const { tech } = await technician(t, gateway, 'tech-1', { perms: ['reboot'] });
  const { sessionId, pin } = await tech.createSession();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-reboot-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const queued = tech.waitForCustomer(sessionId);
  const customer = new CustomerProcess(t, [
    '--screen',
    'none',
    '--url',
    url,
    '--pin',
    pin,
    '--name',
    'Alice',
    '--grant',
    'view',
    '--state-dir',
    dir,
  ]);
  const [, firstPid] = await customer.line(/^customer process (\d+)/);
  await customer.line(/^resume state kept in /);
  await queued;
  await tech.pickUp(sessionId);

  const rebooting = waitFor(tech, 'status', (s) => s.status === S.SESSION_STATUS_REBOOTING);
  const back = waitFor(
    tech,
    'status',
    (s) => s.status === S.SESSION_STATUS_ACTIVE && s.trigger === 'reboot_complete',
    30_000,
  );
  const done = await tech.reboot();
  assert.equal(done.status, S.SESSION_STATUS_REBOOTING);
  await rebooting;
  await customer.line(/^restarting: a new customer process takes the session back/);
  // the first process is gone, a second one (another pid) resumed the session
  assert.equal(await customer.exited, 0);
  await back;
  const [, resumed] = await customer.line(/^resumed session (\S+?);/);
  assert.equal(resumed, sessionId);
  const pids = customer.lines.flatMap((l) => /^customer process (\d+)/.exec(l)?.[1] ?? []);
  assert.equal(pids.length, 2);
  assert.equal(pids[0], firstPid);
  assert.notEqual(pids[1], firstPid);
  assert.ok(fs.existsSync(resumeFile(dir)), 'the new process keeps the resume file');

  tech.chat('welcome back');
  await customer.line(/\] tech-1: welcome back$/);
  await tech.endSession(sessionId, 'done');
  // the second process's close (a normal end, 41xx); the first one printed its own 1001 before
  await customer.line(/^connection closed: 41\d\d /);
  assert.equal(fs.existsSync(resumeFile(dir)), false, 'the resume file goes with the session');
});
