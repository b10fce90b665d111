/**
 * The soak's short run in CI (issue 7, item 7): 20 sessions with mixed traffic for 20 s through
 * bench/soak/run.js, which must lose, reorder and duplicate no reliable frame and exit 0. The
 * long run (defaults: 50 sessions, 60 s) is run by hand. The sequence accounting the verdict
 * rests on is checked first, so a soak that cannot see a loss cannot pass.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SoakReport } from '../../bench/soak/run.js';
import { SequenceTracker } from '../../bench/soak/sequence.js';
import { exitWithin, INSPECT_ON_SIGNAL } from '../support/stack.js';

const RUN = fileURLToPath(new URL('../../bench/soak/run.js', import.meta.url));

test('the soak counts lost, reordered and duplicated frames of a stream', () => {
  const clean = new SequenceTracker();
  for (let i = 0; i < 5; i++) clean.receive(clean.next());
  assert.deepEqual(
    [clean.lost, clean.reordered, clean.duplicates, clean.complete],
    [0, 0, 0, true],
  );

  const bad = new SequenceTracker();
  for (let i = 0; i < 6; i++) bad.next();
  for (const seq of [1, 3, 2, 3, 5]) bad.receive(seq);
  // 4 and 6 never came, 2 came after 3, 3 came twice
  assert.deepEqual([bad.lost, bad.reordered, bad.duplicates, bad.complete], [2, 1, 1, false]);
});

test('20 sessions of mixed traffic for 20 s lose and reorder no reliable frame', {
  timeout: 180_000,
}, async (t) => {
  const child = spawn(
    process.execPath,
    [
      INSPECT_ON_SIGNAL,
      RUN,
      '--seconds',
      '20',
      '--sessions',
      '20',
      '--json',
      '--sample-seconds',
      '5',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // a timed-out test takes its run down with it (the run's own watchdog says what it waited for)
  t.signal.addEventListener('abort', () => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // past 160 s the failure says where the run was stuck (a busy runner fires no watchdog)
  const code = await exitWithin(child, 160_000, () => stderr);
  const line = stdout.trim().split('\n').at(-1) ?? '';
  assert.ok(line.startsWith('{'), `no JSON report; stderr: ${stderr}`);
  const report = JSON.parse(line) as SoakReport;
  const summary = JSON.stringify({
    reliable: report.reliable,
    disconnects: report.disconnects,
    gatewayErrors: report.gatewayErrors,
  });
  assert.equal(report.sessionsOpened, 20);
  assert.equal(report.lost, 0, summary);
  assert.equal(report.reordered, 0, summary);
  assert.equal(report.duplicates, 0, summary);
  assert.equal(report.crossTalk, 0, summary);
  assert.equal(code, 0, `exit code; stderr: ${stderr}`);
  // the run really carried traffic of every kind, and measured what it reports
  assert.ok(report.reliable.input.sent > 20 * 20 * 10, summary);
  assert.ok(report.reliable.chatToCustomer.sent > 0 && report.reliable.chatToTechnician.sent > 0);
  assert.ok(report.screen.tilesReceived > 0);
  assert.ok(report.rss.gateway.length >= 5, 'RSS sampled at the start, every 5 s and at the end');
  assert.ok(report.eventLoopDelay.gateway.maxMs >= report.eventLoopDelay.gateway.p99Ms);
});
