import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AfterSessionExecutor } from '../../src/tools/after-session.js';

const node = process.execPath;

function tmpDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-after-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A stand-in for `loginctl lock-session`: appends "<action> <session>" to a file. */
function recorder(file: string): string[] {
  const code =
    "require('fs').appendFileSync(process.argv[1], " +
    "process.env.FERRY_AFTER_SESSION_ACTION + ' ' + process.env.FERRY_SESSION_ID + '\\n')";
  return [node, '-e', code, file];
}

test('an after-session action runs its configured command once per session', async (t) => {
  const log = path.join(tmpDir(t), 'ran.log');
  const exec = new AfterSessionExecutor({
    commands: { lock: recorder(log), logout: recorder(log) },
  });
  // set, then the close: the gateway sends the same action twice
  const [r1, r2] = await Promise.all([exec.run('s1', 'lock'), exec.run('s1', 'lock')]);
  const r3 = await exec.run('s1', 'lock');
  assert.equal(r1, r2);
  assert.equal(r1, r3);
  assert.equal(r1.code, 0);
  assert.equal(exec.ranFor('s1'), 'lock');
  await assert.rejects(exec.run('s1', 'logout'), { code: 'FERRY_ERR_ACTION_ALREADY_RUN' });
  await exec.run('s2', 'logout');
  assert.equal(fs.readFileSync(log, 'utf8'), 'lock s1\nlogout s2\n');
});

test('the result carries the exit code, stdout and stderr', async () => {
  const exec = new AfterSessionExecutor({
    commands: {
      lock: [
        node,
        '-e',
        "process.stdout.write('locked'); process.stderr.write('warn'); process.exit(3)",
      ],
      logout: `"${node}" -e "console.log('via shell')"`,
    },
  });
  const r = await exec.run('s', 'lock');
  assert.deepEqual(
    { code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut },
    { code: 3, signal: null, stdout: 'locked', stderr: 'warn', timedOut: false },
  );
  assert.equal(r.action, 'lock');
  assert.equal(r.sessionId, 's');
  const viaShell = await exec.run('t', 'logout');
  assert.equal(viaShell.stdout.trim(), 'via shell');
});

test('unknown and unconfigured actions are refused with codes and use up nothing', async () => {
  const exec = new AfterSessionExecutor({ commands: { lock: [node, '-e', ''] } });
  await assert.rejects(exec.run('s', 'reboot'), { code: 'FERRY_ERR_ACTION_UNKNOWN' });
  await assert.rejects(exec.run('s', 'logout'), { code: 'FERRY_ERR_ACTION_NOT_CONFIGURED' });
  await assert.rejects(exec.run('s', 'uninstall'), { code: 'FERRY_ERR_ACTION_NOT_CONFIGURED' });
  assert.equal(exec.ranFor('s'), undefined);
  assert.equal((await exec.run('s', 'lock')).code, 0);
});

test('a command past its timeout is ended and reported as timed out', async () => {
  const exec = new AfterSessionExecutor({
    commands: { lock: [node, '-e', 'setTimeout(() => {}, 60_000)'] },
    timeoutMs: 200,
  });
  const r = await exec.run('s', 'lock');
  assert.equal(r.timedOut, true);
  assert.equal(r.code, null);
  assert.equal(r.signal, process.platform === 'win32' ? r.signal : 'SIGTERM');
  assert.ok(r.durationMs < 10_000);
});

test('captured output is bounded and a command that cannot start is refused', async () => {
  const exec = new AfterSessionExecutor({
    commands: {
      lock: [node, '-e', "process.stdout.write('x'.repeat(100000))"],
      logout: ['/nonexistent/ferry-lock'],
    },
    maxOutputBytes: 1000,
  });
  const r = await exec.run('s', 'lock');
  assert.equal(r.stdout.length, 1000);
  assert.equal(r.outputTruncated, true);
  await assert.rejects(exec.run('t', 'logout'), { code: 'FERRY_ERR_ACTION_SPAWN_FAILED' });
});
