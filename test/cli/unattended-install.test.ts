/**
 * `ferry unattended install` / `uninstall`: the systemd unit of a jump client, written into a
 * temporary HOME (never the real one; systemctl is never run): its place, mode and content
 * (ExecStart runs the jump client on its state directory, Restart=always), the systemctl
 * commands printed, `systemd-analyze verify` accepting it where that tool exists, and its removal.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { JUMP_CLIENT_FILE } from '../../src/clients/unattended.js';

const BIN = path.resolve('bin/ferry.js');
const run = promisify(execFile);

function tempDir(t: TestContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function ferry(home: string, args: string[], display?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.XDG_CONFIG_HOME;
  if (display === undefined) delete env.DISPLAY;
  else env.DISPLAY = display;
  return run(process.execPath, [BIN, 'unattended', ...args], { env });
}

test('ferry unattended install writes a user unit that runs the jump client with Restart=always, and uninstall removes it', async (t) => {
  const home = tempDir(t, 'ferry-home-');
  const state = tempDir(t, 'ferry-jump-state-');
  fs.writeFileSync(
    path.join(state, JUMP_CLIENT_FILE),
    JSON.stringify({ jumpClientId: 'jc_1', key: 'k', team: 'general', deviceName: 'box' }),
    { mode: 0o600 },
  );
  const url = 'ws://gateway.example:8080/v1/ws';
  const { stdout } = await ferry(home, ['install', '--url', url, '--state-dir', state], ':7');
  const unit = path.join(home, '.config', 'systemd', 'user', 'ferry-jump-client.service');
  assert.equal(fs.statSync(unit).mode & 0o777, 0o644);
  const text = fs.readFileSync(unit, 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
  assert.ok(execStart.startsWith(`${process.execPath} ${BIN} unattended `), execStart);
  assert.match(execStart, new RegExp(` --url ${url.replace(/[./]/g, '\\$&')} `));
  assert.match(execStart, new RegExp(` --state-dir ${state.replace(/[./]/g, '\\$&')}( |$)`));
  // a reboot request exits for systemd to restart it (--service); it shares the display it had
  assert.match(execStart, / --service( |$)/);
  assert.match(text, /^Environment=DISPLAY=:7$/m);
  assert.match(text, /^Restart=always$/m);
  assert.match(text, /^WantedBy=default\.target$/m);
  assert.match(stdout, /systemctl --user daemon-reload/);
  assert.match(stdout, /systemctl --user enable --now ferry-jump-client\.service/);

  const analyze = spawnSync('systemd-analyze', ['--version']);
  if (analyze.error !== undefined) {
    t.diagnostic('systemd-analyze is not installed: the unit is not verified by systemd');
  } else {
    const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    // only complaints about this unit count (the host may have unrelated broken units)
    const ours = `${verify.stderr}`.split('\n').filter((l) => l.includes('ferry-jump-client'));
    assert.deepEqual(ours, [], verify.stderr);
  }

  const removed = await ferry(home, ['uninstall']);
  assert.match(removed.stdout, /removed .*ferry-jump-client\.service/);
  assert.match(removed.stdout, /systemctl --user stop ferry-jump-client\.service/);
  assert.equal(fs.existsSync(unit), false);
});

test('ferry unattended install refuses a state directory without a pinned jump client', async (t) => {
  const home = tempDir(t, 'ferry-home-');
  const state = tempDir(t, 'ferry-jump-state-');
  await assert.rejects(
    ferry(home, ['install', '--state-dir', state]),
    (err: { stderr: string }) => {
      assert.match(err.stderr, /no jump client key in .*: pin this client first/);
      return true;
    },
  );
  assert.equal(fs.existsSync(path.join(home, '.config', 'systemd')), false);
});
