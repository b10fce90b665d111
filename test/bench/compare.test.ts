/**
 * The relay bench's comparison of two saved results (bench/relay/compare.ts): overlapping ranges
 * are within noise, disjoint ranges are better or worse by the metric's direction, and a metric,
 * target or scenario in one result only is listed as missing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ComparisonRow,
  compareReport,
  compareResults,
  type SavedResult,
  statsOf,
  timingNotes,
  verdict,
} from '../../bench/relay/compare.js';

const s = (median: number, min: number, max: number) => ({ median, min, max, n: 3 });

function saved(ferry: Record<string, ReturnType<typeof s>>, extra = {}): SavedResult {
  return {
    machine: { gitCommit: '0123456789abcdef', gitDirty: false, date: '2026-12-06T00:00:00.000Z' },
    scenarios: [{ name: 'throughput-64', kind: 'throughput', stats: { ferry, ...extra } }],
  };
}

function row(rows: readonly ComparisonRow[], target: string, metric: string): ComparisonRow {
  const found = rows.find((r) => r.target === target && r.metric === metric);
  assert.ok(found, `no row for ${target} ${metric}`);
  return found;
}

test('overlapping ranges are within noise whatever the medians do', () => {
  const rows = compareResults(
    saved({ msgsPerSec: s(1_000_000, 950_000, 1_050_000) }),
    saved({ msgsPerSec: s(1_040_000, 1_020_000, 1_100_000) }),
  );
  const r = row(rows, 'ferry', 'msgsPerSec');
  assert.equal(r.verdict, 'within noise');
  assert.equal(r.deltaPct?.toFixed(1), '4.0');
});

test('disjoint ranges are better or worse by the direction of the metric', () => {
  const rows = compareResults(
    saved({
      msgsPerSec: s(1_000_000, 980_000, 1_010_000),
      usPerMsg: s(0.8, 0.79, 0.81),
      p99: s(2000, 1900, 2100),
      rssMiB: s(80, 79, 81),
    }),
    saved({
      msgsPerSec: s(1_200_000, 1_150_000, 1_250_000),
      usPerMsg: s(0.9, 0.88, 0.92),
      p99: s(1500, 1400, 1600),
      rssMiB: s(90, 89, 91),
    }),
  );
  assert.equal(row(rows, 'ferry', 'msgsPerSec').verdict, 'better');
  assert.equal(row(rows, 'ferry', 'usPerMsg').verdict, 'worse');
  assert.equal(row(rows, 'ferry', 'p99').verdict, 'better');
  assert.equal(row(rows, 'ferry', 'rssMiB').verdict, 'worse');
  assert.equal(row(rows, 'ferry', 'p99').deltaPct, -25);
});

test('a rate that falls with disjoint ranges is worse and a latency that rises is worse', () => {
  assert.equal(verdict('higher', s(10, 9, 11), s(5, 4, 6)), 'worse');
  assert.equal(verdict('lower', s(10, 9, 11), s(20, 19, 21)), 'worse');
  assert.equal(verdict('info', s(10, 9, 11), s(20, 19, 21)), 'higher');
});

test('a metric or a target in one result only is listed as missing, a whole target on one line', () => {
  const old = saved({ msgsPerSec: s(1, 1, 1), p99: s(2, 2, 2) });
  const now = saved({ msgsPerSec: s(1, 1, 1) }, { 'bare-uws': { msgsPerSec: s(3, 3, 3) } });
  const rows = compareResults(old, now);
  const p99 = row(rows, 'ferry', 'p99');
  assert.equal(p99.verdict, 'missing');
  assert.equal(p99.new, null);
  assert.equal(p99.deltaPct, null);
  assert.equal(row(rows, 'bare-uws', 'msgsPerSec').verdict, 'missing');
  const text = compareReport(rows);
  assert.match(text, /one-way p99.*missing in new/);
  assert.match(text, /bare-uws\s+\(all metrics\)\s+missing in old/);
  assert.match(text, /^== throughput-64$/m);
});

test('a result without a summary is summarized from its runs', () => {
  const run = (msgsPerSec: number) => ({
    scenario: 'pingpong-64',
    target: 'ferry',
    ok: true,
    result: {
      msgsPerSec,
      latency: { count: 1, p50Us: 10, p99Us: 20, p999Us: 30 },
      inputLatency: { count: 0, p50Us: 0, p99Us: 0, p999Us: 0 },
      setupLatency: { count: 0, p50Us: 0, p99Us: 0, p999Us: 0 },
    },
  });
  const stats = statsOf({
    scenarios: [{ name: 'pingpong-64', kind: 'pingpong' }],
    runs: [run(30), run(10), run(20), { scenario: 'pingpong-64', target: 'ferry', ok: false }],
  });
  assert.deepEqual(stats['pingpong-64']?.ferry?.msgsPerSec, { median: 20, min: 10, max: 30, n: 3 });
});

test('results measured with different warm-ups say so above the scenario, alike ones do not', () => {
  const churn = (warmupMs: number | undefined) => ({
    scenarios: [
      {
        name: 'churn',
        kind: 'churn' as const,
        stats: { ferry: { cpuMsPerSession: s(1, 1, 1) } },
        ...(warmupMs === undefined ? {} : { timing: { warmupMs, durationMs: 3000 } }),
      },
    ],
  });
  const notes = timingNotes(churn(500), churn(6000));
  assert.equal(
    notes.get('churn'),
    'note: old ran warm-up 0.5 s, window 3 s, new warm-up 6 s, window 3 s: not measured alike',
  );
  const text = compareReport(compareResults(churn(500), churn(6000)), notes);
  assert.match(text, /^== churn\nnote: old ran warm-up 0\.5 s/m);
  assert.equal(timingNotes(churn(6000), churn(6000)).size, 0);
  assert.match(timingNotes(churn(undefined), churn(6000)).get('churn') ?? '', /unknown phases/);
});
