/**
 * The relay bench's target checks (bench/relay/report.ts `checkTargets`): met or missed by the
 * median, and beside it in how many rounds the limit was met (for a ratio, Ferry's worst and
 * best round against the other target's best and worst); nothing to say with one round.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checksTable, checkTargets, type TargetCheck } from '../../bench/relay/report.js';

const s = (median: number, min: number, max: number) => ({ median, min, max, n: 3 });

type Stats = Record<string, Record<string, Record<string, ReturnType<typeof s>>>>;

function check(stats: Stats, goal: string): TargetCheck {
  const found = checkTargets((sc, t, m) => stats[sc]?.[t]?.[m]).find((c) => c.goal === goal);
  assert.ok(found, `no check ${goal}`);
  return found;
}

test('a ratio is met by its median; the rounds say whether every pairing of rounds meets it', () => {
  const goal = 'throughput 64 KiB, msgs/s Ferry/bare (issue 18)';
  const close: Stats = {
    'throughput-64k': {
      ferry: { msgsPerSec: s(38_000, 37_000, 61_000) },
      'bare-uws': { msgsPerSec: s(40_000, 36_000, 69_000) },
    },
  };
  const c = check(close, goal);
  assert.equal(c.value?.toFixed(2), '0.95');
  assert.equal(c.met, false);
  assert.equal(c.limit, '>= 1');
  // 61k against 36k meets it, 37k against 69k does not
  assert.equal(c.rounds, 'some rounds');

  const behind: Stats = {
    'throughput-64k': {
      ferry: { msgsPerSec: s(30_000, 29_000, 31_000) },
      'bare-uws': { msgsPerSec: s(40_000, 39_000, 41_000) },
    },
  };
  assert.equal(check(behind, goal).rounds, 'no round');
  const ahead: Stats = {
    'throughput-64k': {
      ferry: { msgsPerSec: s(50_000, 45_000, 52_000) },
      'bare-uws': { msgsPerSec: s(40_000, 39_000, 41_000) },
    },
  };
  assert.equal(check(ahead, goal).rounds, 'all rounds');
  // issue 5's looser limit on the same ratio is its own row
  assert.equal(check(close, 'throughput 64 KiB, msgs/s Ferry/bare').met, true);
});

test("for a lower-is-better ratio the best pairing is Ferry's lowest round against the highest", () => {
  const goal = 'fleet 1000: frame p99 Ferry/bare';
  const at = (ferry: ReturnType<typeof s>, bare: ReturnType<typeof s>): Stats => ({
    'fleet-1000': { ferry: { p99: ferry }, 'bare-uws': { p99: bare } },
  });
  // 13.1 / 13.0 = 1.01 meets 1.2, 21.8 / 8.65 = 2.5 does not
  const straddles = check(at(s(21.4, 13.1, 21.8), s(12.5, 8.65, 13.0)), goal);
  assert.equal(straddles.value?.toFixed(2), '1.71');
  assert.equal(straddles.met, false);
  assert.equal(straddles.rounds, 'some rounds');
  assert.equal(check(at(s(30, 28, 32), s(10, 9, 11)), goal).rounds, 'no round');
  assert.equal(check(at(s(10, 9, 10.5), s(10, 9.5, 11)), goal).rounds, 'all rounds');
});

test('one round has no spread to read: the rounds say nothing', () => {
  const one = (median: number) => ({ median, min: median, max: median, n: 1 });
  const stats: Stats = {
    'fleet-1000': {
      ferry: { p99: one(20), idleKiBPerPair: one(19) },
      'bare-uws': { p99: one(10) },
    },
  };
  assert.equal(check(stats, 'fleet 1000: frame p99 Ferry/bare').rounds, null);
  assert.equal(check(stats, 'fleet 1000: frame p99 Ferry/bare').met, false);
  assert.equal(
    check(stats, 'memory per idle session (KiB, both legs, heartbeats on)').rounds,
    null,
  );
});

test('an absolute limit says in how many rounds it was met', () => {
  const goal = 'churn: gateway CPU ms/session (issue 18)';
  const at = (min: number, median: number, max: number): Stats => ({
    churn: { ferry: { cpuMsPerSession: s(median, min, max) } },
  });
  const some = check(at(0.45, 0.7, 0.8), goal);
  assert.equal(some.value, 0.7);
  assert.equal(some.met, false);
  assert.equal(some.limit, '<= 0.5');
  assert.equal(some.rounds, 'some rounds');
  assert.equal(check(at(0.3, 0.4, 0.5), goal).rounds, 'all rounds');
  assert.equal(check(at(0.3, 0.4, 0.5), goal).met, true);
  assert.equal(check(at(0.7, 0.8, 1.2), goal).rounds, 'no round');

  const idle = 'memory per idle session (KiB, both legs, heartbeats on)';
  const fleet: Stats = { 'fleet-1000': { ferry: { idleKiBPerPair: s(19, 18.5, 20.2) } } };
  assert.equal(check(fleet, idle).met, true);
  assert.equal(check(fleet, idle).rounds, 'some rounds');
});

test('a target with no figures is left out of the table; the others print their rounds', () => {
  const stats: Stats = {
    churn: {
      ferry: { sessionsPerSec: s(1159, 695, 1164), cpuMsPerSession: s(0.79, 0.76, 1.38) },
      'bare-uws': { sessionsPerSec: s(3154, 2206, 3165) },
    },
  };
  const checks = checkTargets((sc, t, m) => stats[sc]?.[t]?.[m]);
  assert.equal(checks.find((c) => c.goal.startsWith('fleet 1000: RSS'))?.value, null);
  const text = checksTable(checks);
  const lines = text.split('\n');
  assert.equal(lines.length, 3, text);
  assert.match(
    lines[1]!,
    // 1164 / 2206 = 0.53: Ferry's best round against the bare relay's worst meets it
    /^churn: sessions\/s Ferry\/bare \(issue 18\)\s+0\.37\s+>= 0\.5\s+MISSED\s+some rounds$/,
  );
  assert.match(
    lines[2]!,
    /^churn: gateway CPU ms\/session \(issue 18\)\s+0\.79\s+<= 0\.5\s+MISSED\s+no round$/,
  );
});
