import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CONNECTIVITY_NAMES,
  Connectivity,
  type ConnectivityValue,
  classify,
  connectivityName,
  formatRtt,
  overall,
} from '../../src/netstats/grades.js';

const {
  CONNECTIVITY_UNKNOWN,
  CONNECTIVITY_EXCELLENT,
  CONNECTIVITY_GOOD,
  CONNECTIVITY_AVERAGE,
  CONNECTIVITY_POOR,
} = Connectivity;

test('vector 1: averages of 0 and 49.99 ms are EXCELLENT', () => {
  assert.equal(classify(0, 10), CONNECTIVITY_EXCELLENT);
  assert.equal(classify(49.99, 10), CONNECTIVITY_EXCELLENT);
});

test('vector 2: an average of exactly 50 ms is GOOD (NS-D1)', () => {
  assert.equal(classify(50.0, 10), CONNECTIVITY_GOOD);
});

test('vector 3: an average of exactly 150 ms is GOOD', () => {
  assert.equal(classify(150.0, 10), CONNECTIVITY_GOOD);
});

test('vector 4: an average of 150.001 ms is AVERAGE', () => {
  assert.equal(classify(150.001, 10), CONNECTIVITY_AVERAGE);
});

test('vector 5: an average of exactly 300 ms is AVERAGE', () => {
  assert.equal(classify(300.0, 10), CONNECTIVITY_AVERAGE);
});

test('vector 6: an average of 300.001 ms is POOR', () => {
  assert.equal(classify(300.001, 10), CONNECTIVITY_POOR);
});

test('the class boundaries fall at 49.9, 50, 150, 150.1, 300 and 300.1 ms as NS-D1 says', () => {
  const cases: [number, ConnectivityValue][] = [
    [49.9, CONNECTIVITY_EXCELLENT],
    [50, CONNECTIVITY_GOOD],
    [150, CONNECTIVITY_GOOD],
    [150.1, CONNECTIVITY_AVERAGE],
    [300, CONNECTIVITY_AVERAGE],
    [300.1, CONNECTIVITY_POOR],
  ];
  for (const [avgMs, expected] of cases) {
    assert.equal(connectivityName(classify(avgMs, 3)), connectivityName(expected), `${avgMs} ms`);
  }
});

test('the unrounded average is classified, so 49.6 ms is EXCELLENT (NS-D2)', () => {
  assert.equal(classify(49.6, 10), CONNECTIVITY_EXCELLENT);
});

test('fewer than 3 samples is UNKNOWN whatever the average (NS-D4)', () => {
  assert.equal(classify(400, 0), CONNECTIVITY_UNKNOWN);
  assert.equal(classify(400, 2), CONNECTIVITY_UNKNOWN);
  assert.equal(classify(400, 3), CONNECTIVITY_POOR);
});

test('the enum order is the severity order that overall relies on', () => {
  assert.equal(CONNECTIVITY_UNKNOWN, 0);
  assert.ok(CONNECTIVITY_EXCELLENT < CONNECTIVITY_GOOD);
  assert.ok(CONNECTIVITY_GOOD < CONNECTIVITY_AVERAGE);
  assert.ok(CONNECTIVITY_AVERAGE < CONNECTIVITY_POOR);
});

test('overall is the worst known class and ignores UNKNOWN unless all are UNKNOWN (NS-D5)', () => {
  assert.equal(
    overall([CONNECTIVITY_GOOD, CONNECTIVITY_POOR, CONNECTIVITY_UNKNOWN]),
    CONNECTIVITY_POOR,
  );
  assert.equal(overall([CONNECTIVITY_UNKNOWN, CONNECTIVITY_EXCELLENT]), CONNECTIVITY_EXCELLENT);
  assert.equal(overall([CONNECTIVITY_AVERAGE, CONNECTIVITY_GOOD]), CONNECTIVITY_AVERAGE);
  assert.equal(overall([CONNECTIVITY_UNKNOWN, CONNECTIVITY_UNKNOWN]), CONNECTIVITY_UNKNOWN);
  assert.equal(overall([]), CONNECTIVITY_UNKNOWN);
});

test('every class has a display name without the enum prefix', () => {
  assert.deepEqual(Object.values(CONNECTIVITY_NAMES), [
    'UNKNOWN',
    'EXCELLENT',
    'GOOD',
    'AVERAGE',
    'POOR',
  ]);
  assert.equal(connectivityName(CONNECTIVITY_GOOD), 'GOOD');
  assert.equal(connectivityName(99), 'UNKNOWN');
});

test('formatRtt shows whole ms, but one truncated decimal from 49.5 up to 50 ms (NS-D2)', () => {
  assert.equal(formatRtt(0), '0 ms');
  assert.equal(formatRtt(49.4), '49 ms');
  assert.equal(formatRtt(49.5), '49.5 ms');
  assert.equal(formatRtt(49.6), '49.6 ms');
  assert.equal(formatRtt(49.96), '49.9 ms');
  assert.equal(formatRtt(50), '50 ms');
  assert.equal(formatRtt(123.5), '124 ms');
  assert.equal(formatRtt(300.001), '300 ms');
});
