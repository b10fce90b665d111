/**
 * The faults soak's short run in CI: 20 sessions for 20 s through bench/soak/run.js --faults,
 * every client behind its own fault proxy and cut once (resets and half-closes, reconnects
 * refused for 0.5-3 s), a customer flooding chat past the frame rate limit, one session sending
 * a frame to a handler that throws, and the gateway killed (-9) at 10 s and started again on its
 * data directory. No acknowledged reliable frame may be lost, reordered or duplicated (the
 * resume replay, the journal and the technician's input sent again, docs/benchmarks.md), every
 * client must resume after its cut and after the restart, the flood must be refused, and the
 * throwing handler must cost its own session only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SoakReport } from '../../bench/soak/run.js';
import { exitWithin, INSPECT_ON_SIGNAL } from '../support/stack.js';

const RUN = fileURLToPath(new URL('../../bench/soak/run.js', import.meta.url));
test('20 sessions cut, flooded, given a throwing handler and a gateway kill -9 lose no acknowledged frame and all resume', {
  timeout: 180_000,
}, async (t) => {
  const args = [RUN, '--seconds', '20', '--sessions', '20', '--faults', '--seed', '7', '--json'];
  args.push('--restart-at', '10');
  const child = spawn(process.execPath, [INSPECT_ON_SIGNAL, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  const f = report.faults;
  assert.ok(f !== null, 'a faults run reports its faults');
  const summary = JSON.stringify({
    reliable: report.reliable,
    targets: f.targets.filter((t) => !t.ok),
    gaps: f.gaps,
    disconnects: report.disconnects.slice(0, 10),
    gatewayErrors: report.gatewayErrors,
  });
  assert.equal(report.sessionsOpened, 20);
  t.diagnostic(`inputs sent again after resumes: ${report.reliable.input.resent}`);
  const failed = f.targets.filter((target) => !target.ok).map((target) => target.name);
  assert.deepEqual(failed, [], summary);
  assert.equal(report.lost, 0, summary);
  assert.equal(report.reordered, 0, summary);
  assert.equal(report.duplicates, 0, summary);
  assert.equal(report.crossTalk, 0, summary);
  // every client was cut once and came back with its place
  assert.equal(f.cuts.planned, 38, 'every client but the casualty pair is cut once');
  assert.ok(f.cuts.done > 0 && f.cuts.done + f.cuts.skipped === f.cuts.planned, summary);
  assert.ok(f.cuts.refusedReconnects > 0, 'reconnects were refused during the outages');
  // a cut shortly before the restart is a gap the restart's gap takes over
  assert.ok(f.gaps.cut!.disconnected > 0 && f.gaps.cut!.disconnected <= f.cuts.done, summary);
  assert.equal(f.gaps.cut!.resumed, f.gaps.cut!.disconnected, summary);
  assert.equal(f.gaps.restart!.notResumed, 0, summary);
  assert.equal(f.gaps.cut!.notResumed, 0, summary);
  assert.equal(f.gaps.other!.notResumed, 0, summary);
  assert.equal(f.sessions.notResumed, 0, summary);
  // the flood was refused, and cost nobody else anything (the figures above)
  assert.ok(f.flood !== null && f.flood.refusals > 0, summary);
  // the throwing handler cost its own session, and only it
  assert.ok(f.handler !== null);
  assert.equal(f.sessions.counted, 19, 'the casualty is left out of the figures');
  assert.ok(f.handler.casualtyErrors.includes('technician FERRY_ERR_INTERNAL'), summary);
  assert.equal(f.handler.otherSessionsHit, 0, summary);
  assert.equal(report.gatewayErrors.FERRY_ERR_INTERNAL, undefined, summary);
  assert.equal(f.gatewayExits.unplanned, 0, summary);
  assert.ok(f.restart !== null && f.restart.disconnected > 0, summary);
  assert.equal(f.restart.resumed, f.restart.disconnected, summary);
  // the run really carried traffic, and acknowledged what it counts
  assert.ok(report.reliable.input.sent > 19 * 20 * 10, summary);
  assert.ok(report.reliable.chatToCustomer.acknowledged > 0, summary);
  assert.ok(report.reliable.chatToTechnician.acknowledged > 0, summary);
  assert.equal(code, 0, `exit code; stderr: ${stderr}`);
});
