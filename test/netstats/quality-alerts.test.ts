import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Connectivity, type ConnectivityValue } from '../../src/netstats/grades.js';
import { type AlertAction, QualityAlertTracker } from '../../src/netstats/quality-alerts.js';

const { CONNECTIVITY_UNKNOWN: U, CONNECTIVITY_GOOD: G, CONNECTIVITY_AVERAGE: A } = Connectivity;
const P = Connectivity.CONNECTIVITY_POOR;

function run(statuses: ConnectivityValue[]): AlertAction[] {
  const tracker = new QualityAlertTracker();
  return statuses.map((s) => tracker.evaluate(s));
}

test('UNKNOWN never raises an alert', () => {
  assert.deepEqual(run([U, U, U]), [null, null, null]);
});

test('entering POOR raises once and staying POOR raises nothing more', () => {
  assert.deepEqual(run([G, P, P, P]), [null, 'raise', null, null]);
  assert.deepEqual(run([P]), ['raise'], 'the first known class may already be POOR');
});

test('a raised alert clears after two consecutive non-POOR evaluations', () => {
  assert.deepEqual(run([P, A, G]), ['raise', null, 'clear']);
});

test('POOR between two non-POOR evaluations restarts the count without a second raise', () => {
  assert.deepEqual(run([P, A, P, A, A]), ['raise', null, null, null, 'clear']);
});

test('UNKNOWN between two non-POOR evaluations restarts the count toward clearing', () => {
  assert.deepEqual(run([P, A, U, A, A]), ['raise', null, null, null, 'clear']);
});

test('after a clear, entering POOR raises again', () => {
  assert.deepEqual(run([P, G, G, G, P]), ['raise', null, 'clear', null, 'raise']);
});

test('nothing is cleared when nothing was raised', () => {
  assert.deepEqual(run([G, A, G]), [null, null, null]);
});

test('reset forgets a raised alert', () => {
  const tracker = new QualityAlertTracker();
  tracker.evaluate(P);
  assert.equal(tracker.active, true);
  tracker.reset();
  assert.equal(tracker.active, false);
  assert.equal(tracker.evaluate(P), 'raise');
});
