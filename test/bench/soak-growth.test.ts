/**
 * The soak's RSS growth figure: measured per gateway life from the end of that life's warm-up to
 * its last sample, with a shorter warm-up after a restart (the sessions come back with their state).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type LifeSample, rssGrowth } from '../../bench/soak/faults.js';

const sample = (life: number, atSeconds: number, rssMiB: number): LifeSample => ({
  life,
  atSeconds,
  rssMiB,
  heapUsedMiB: 0,
  heapTotalMiB: 0,
  externalMiB: 0,
  newSpaceMiB: 0,
});

test('each life is measured from the end of its own warm-up to its last sample', () => {
  const samples = [
    sample(0, 0, 100),
    sample(0, 20, 130),
    sample(0, 40, 140),
    sample(0, 60, 142),
    sample(1, 61, 90),
    sample(1, 80, 150),
    sample(1, 100, 151),
    sample(1, 120, 158),
  ];
  const growth = rssGrowth(samples, [0, 60], 40, 20);
  assert.deepEqual(
    growth.map((g) => [g.life, g.fromSeconds, g.toSeconds, g.growthMB]),
    [
      [0, 40, 60, 2.1],
      [1, 80, 120, 8.39],
    ],
  );
});

test('a life without two samples after its warm-up is not measured; one warm-up serves both by default', () => {
  const samples = [sample(0, 0, 100), sample(0, 30, 120), sample(0, 50, 125), sample(1, 55, 90)];
  assert.deepEqual(
    rssGrowth(samples, [0, 52], 30).map((g) => [g.life, g.growthMB]),
    [[0, 5.24]],
  );
});
