/**
 * One-time customer PINs: shape, single use, expiry enforced on lookup and by the sweep, and no
 * two live PINs alike. Time is passed in as numbers: no clocks, no sleeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PinBook } from '../../src/session/pins.js';

const TTL_MS = 600_000;
const T0 = 1_000_000;

test('a PIN has exactly the configured number of digits', () => {
  for (const length of [6, 9, 18]) {
    const book = new PinBook<string>(length, TTL_MS);
    for (let i = 0; i < 200; i++) {
      const { pin, expiresAtMs } = book.issue(`s${i}`, T0);
      assert.match(pin, new RegExp(`^[0-9]{${length}}$`));
      assert.equal(expiresAtMs, T0 + TTL_MS);
    }
  }
});

test('a PIN opens its target once and is undefined on the second consume', () => {
  const book = new PinBook<string>(9, TTL_MS);
  const { pin } = book.issue('session-a', T0);
  assert.equal(book.size, 1);
  assert.equal(book.consume(pin, T0 + 1), 'session-a');
  assert.equal(book.consume(pin, T0 + 2), undefined);
  assert.equal(book.size, 0);
});

test('an unknown PIN is undefined', () => {
  const book = new PinBook<string>(9, TTL_MS);
  book.issue('session-a', T0);
  assert.equal(book.consume('000000000', T0), undefined);
  assert.equal(book.consume('', T0), undefined);
  assert.equal(book.size, 1);
});

test('an expired PIN is refused on consume even before any sweep', () => {
  const book = new PinBook<string>(9, TTL_MS);
  const { pin, expiresAtMs } = book.issue('session-a', T0);
  assert.equal(book.consume(pin, expiresAtMs), undefined);
  const later = book.issue('session-b', T0);
  assert.equal(book.consume(later.pin, later.expiresAtMs + 60_000), undefined);
});

test('a PIN is valid up to one ms before its expiry', () => {
  const book = new PinBook<string>(9, TTL_MS);
  const { pin, expiresAtMs } = book.issue('session-a', T0);
  assert.equal(book.consume(pin, expiresAtMs - 1), 'session-a');
});

test('sweep removes exactly the expired PINs and reports each with its target', () => {
  const book = new PinBook<string>(9, TTL_MS);
  const early = book.issue('early', T0);
  const alsoEarly = book.issue('also-early', T0);
  const late = book.issue('late', T0 + 1000);
  const reported: [string, string][] = [];
  book.sweep(T0 + TTL_MS - 1, (target, pin) => reported.push([target, pin]));
  assert.equal(reported.length, 0, 'swept a PIN one ms before it expired');
  book.sweep(T0 + TTL_MS, (target, pin) => reported.push([target, pin]));
  const expected: [string, string][] = [
    ['also-early', alsoEarly.pin],
    ['early', early.pin],
  ];
  assert.deepEqual(reported.sort(), expected.sort());
  assert.equal(book.size, 1);
  assert.equal(book.consume(early.pin, T0 + TTL_MS), undefined);
  assert.equal(book.consume(late.pin, T0 + TTL_MS), 'late');
});

test('a consumed PIN is not reported by a later sweep', () => {
  const book = new PinBook<string>(9, TTL_MS);
  const { pin } = book.issue('session-a', T0);
  book.consume(pin, T0 + 1);
  const reported: string[] = [];
  book.sweep(T0 + 2 * TTL_MS, (target) => reported.push(target));
  assert.deepEqual(reported, []);
});

// The registry ends a session nobody joined, and tells its technician, from the sweep's report
// (SessionRegistry.sweep). A wrong guess at an expired PIN must not cancel that.
test('an expired PIN refused on consume is still reported by the next sweep', () => {
  const book = new PinBook<string>(9, TTL_MS);
  const { pin, expiresAtMs } = book.issue('session-a', T0);
  assert.equal(book.consume(pin, expiresAtMs + 10), undefined);
  const reported: [string, string][] = [];
  book.sweep(expiresAtMs + 1000, (target, p) => reported.push([target, p]));
  assert.deepEqual(reported, [['session-a', pin]]);
  assert.equal(book.size, 0);
});

test('revoke removes a PIN so it neither opens its target nor is reported as expired', () => {
  const book = new PinBook<string>(9, TTL_MS);
  const { pin } = book.issue('session-a', T0);
  const other = book.issue('session-b', T0);
  book.revoke(pin);
  book.revoke('not-a-pin');
  assert.equal(book.size, 1);
  assert.equal(book.consume(pin, T0 + 1), undefined);
  const reported: string[] = [];
  book.sweep(T0 + TTL_MS, (target) => reported.push(target));
  assert.deepEqual(reported, ['session-b']);
  assert.equal(book.consume(other.pin, T0), undefined);
});

test('no two live 6-digit PINs are equal even when random draws collide', () => {
  const book = new PinBook<number>(6, TTL_MS);
  const count = 20_000; // ~200 birthday collisions among 10^6 values: the retry path runs
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const { pin } = book.issue(i, T0);
    assert.equal(seen.get(pin), undefined, `PIN ${pin} issued twice while live`);
    seen.set(pin, i);
  }
  assert.equal(book.size, count);
  for (const [pin, target] of seen) assert.equal(book.consume(pin, T0 + 1), target);
});

test('a book of 1-digit PINs fills all ten values before repeating any', () => {
  const book = new PinBook<number>(1, TTL_MS);
  const pins = new Set<string>();
  for (let i = 0; i < 10; i++) pins.add(book.issue(i, T0).pin);
  assert.equal(pins.size, 10);
  const freed = [...pins][3]!;
  book.revoke(freed);
  assert.equal(book.issue(10, T0).pin, freed);
});
