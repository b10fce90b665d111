/**
 * Honest elevation, end to end with `ferry customer` as a child process: the elevation command
 * relaunches the client with `--resume`, and the relaunched process takes the session over only
 * when its effective uid is 0. Without the privilege (no command, a failing command, a relaunch
 * as `nobody`) the technician gets FERRY_ERR_ELEVATION_FAILED and the session stays with the
 * first process; with it (root) the result says uid 0 and the session log records it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { Codes } from '../../src/protocol/codes.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { technician } from '../handlers/access-harness.js';
import { startGateway } from '../integration/harness.js';
import { CustomerProcess, stateDir } from '../support/customer-process.js';

const S = ferry.v1.SessionStatus;

/** A gateway, a technician allowed to elevate, and a `ferry customer` child in an Active session. */
async function activeChild(t: TestContext, elevateCommand: string | null) {
  const { gateway, url } = await startGateway(t, { elevationPlatforms: process.platform });
  const { tech, access } = await technician(t, gateway, 'tech-1', { perms: ['elevate'] });
  const { sessionId, pin } = await tech.createSession();
  const queued = tech.waitForCustomer(sessionId);
  const dir = stateDir(t);
  const args = [
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
  ];
  if (elevateCommand !== null) args.push('--elevate-command', elevateCommand);
  const customer = new CustomerProcess(t, ['--screen', 'none', ...args]);
  await customer.line(/^resume state kept in /);
  await queued;
  await tech.pickUp(sessionId);
  return { gateway, tech, access, customer, sessionId };
}

/** The session's log events of `type`, as "actor: detail". */
async function logged(
  tech: Awaited<ReturnType<typeof technician>>['tech'],
  type: string,
): Promise<string[]> {
  const history = await tech.chatHistory();
  return history.entries
    .map((e) => e.event)
    .filter((e) => e?.type === type)
    .map((e) => `${e!.actor}: ${e!.detail}`);
}

test('elevation without a command, with a failing command or as nobody is refused with FERRY_ERR_ELEVATION_FAILED', {
  timeout: 90_000,
}, async (t) => {
  const nobody = spawnSync('id', ['-u', 'nobody']).status === 0;
  const cases: [string, string | null, RegExp][] = [
    ['no command', null, /no elevation command is configured/],
    ['a failing command', 'false', /the elevation command failed \(exit code 1\)/],
  ];
  if (nobody && process.geteuid?.() === 0) {
    cases.push([
      'a relaunch as nobody',
      'setpriv --reuid=nobody --regid=nogroup --clear-groups',
      /does not run with administrative rights/,
    ]);
  } else t.diagnostic('not root or no user nobody: the relaunch-as-nobody case is skipped');
  for (const [label, command, why] of cases) {
    const { tech, access, customer } = await activeChild(t, command);
    const result = await access.elevate('admin');
    assert.equal(result.elevated, false, label);
    assert.ok(
      result.error.startsWith(`${Codes.ELEVATION_FAILED.code}: `),
      `${label}: ${result.error}`,
    );
    assert.match(result.error, why, label);
    // the session stays with the first, unelevated process
    assert.equal(customer.child.exitCode, null, label);
    const heard = waitFor(tech, 'chat', (c) => c.text === 'still here');
    customer.child.stdin!.write('still here\n');
    await heard;
    assert.deepEqual(await logged(tech, 'elevate'), [
      'tech-1: asked to elevate the customer client (admin)',
      'tech-1: elevation asked by tech-1 was not done (admin)',
    ]);
    if (label === 'a relaunch as nobody') {
      await customer.line(/FERRY_ERR_ELEVATION_FAILED: the relaunched client runs as nobody/);
    }
  }
});

test('an elevation the operator command grants relaunches the client as uid 0, which takes the session over and is logged', {
  timeout: 60_000,
  skip:
    process.geteuid?.() !== 0 ? 'needs root: the relaunch must run with effective uid 0' : false,
}, async (t) => {
  // `env` runs the relaunch as it is: as root, the elevated process has effective uid 0
  const { tech, access, customer, sessionId } = await activeChild(t, 'env');
  const [, firstPid] = await customer.line(/^customer process (\d+)/);
  const result = await access.elevate('admin');
  assert.equal(result.elevated, true, result.error);
  assert.equal(result.effectiveUid, 0);
  assert.equal(result.user, 'root');
  assert.equal(result.error, '');
  // the first process hands over and stops; the relaunched one holds the session
  await customer.line(/took the session over; this process stops/);
  assert.equal(await customer.exited, 0);
  await customer.line(/^elevated: this client runs as root \(uid 0\)/);
  const pids = customer.lines.flatMap((l) => /^customer process (\d+)/.exec(l)?.[1] ?? []);
  assert.equal(pids.length, 2);
  assert.equal(pids[0], firstPid);
  assert.notEqual(pids[1], firstPid);
  const [, resumed] = await customer.line(/^resumed session (\S+?);/);
  assert.equal(resumed, sessionId);

  assert.deepEqual(await logged(tech, 'elevate'), [
    'tech-1: asked to elevate the customer client (admin)',
    'tech-1: elevated by tech-1 (admin)',
  ]);
  assert.deepEqual(await logged(tech, 'identity'), [
    'Alice: the customer client runs as root (uid 0)',
  ]);
  tech.chat('are you there?');
  await customer.line(/\] tech-1: are you there\?$/);
  const closed = waitFor(tech, 'status', (s) => s.status !== S.SESSION_STATUS_ACTIVE);
  await tech.endSession(sessionId, 'done');
  await closed;
  // the elevated process's normal close (41xx), not the first process's when it was replaced
  await customer.line(/^connection closed: 41\d\d /);
});
