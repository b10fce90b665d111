/**
 * Per-session number arrays (src/session/doubles.ts): plain arrays V8 holds as packed, unboxed
 * doubles from the start, so counters and rings never change representation and take no backing
 * store outside the heap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { LinkStats } from '../../src/netstats/link-stats.js';
import { SendBudget } from '../../src/relay/send-budget.js';
import { doubles } from '../../src/session/doubles.js';
import { HoldStats } from '../../src/session/seat.js';
import { Coalescer, Connection } from '../../src/transport/connection.js';

// V8's own checks; the flag only lets code compiled after it use natives
v8.setFlagsFromString('--allow-natives-syntax');
const natives = (name: string) =>
  new Function('a', `return %${name}(a)`) as (a: unknown) => boolean;
const hasDoubleElements = natives('HasDoubleElements');
const hasHoleyElements = natives('HasHoleyElements');
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (
  a: unknown,
  b: unknown,
) => boolean;

test('doubles(n) is n zeros held as packed doubles, whatever is stored in it', () => {
  for (const n of [0, 1, 11, 74]) {
    const a = doubles(n);
    assert.equal(a.length, n);
    assert.ok(
      a.every((x) => x === 0),
      'all zeros',
    );
    if (n === 0) continue;
    assert.ok(hasDoubleElements(a), `${n}: double elements from the start`);
    assert.ok(!hasHoleyElements(a), `${n}: packed`);
  }
  const counters = doubles(11);
  counters[3]! += 2 ** 40;
  counters[4]!++;
  counters.fill(0);
  assert.ok(hasDoubleElements(counters) && !hasHoleyElements(counters), 'stores keep the kind');
  assert.equal(counters.length, 11);
  // each call is an array of its own: what one holder stores, the next one does not see
  const a = doubles(11);
  a[0] = 7;
  const b = doubles(11);
  assert.equal(b[0], 0);
  assert.notEqual(a, b);
  assert.ok(hasDoubleElements(b) && !hasHoleyElements(b));
});

test('a link’s measurements live in one such array, used as a ring', () => {
  const link = new LinkStats(0, 0, 0);
  for (let i = 1; i <= 25; i++) {
    link.addSample(10 + i);
    link.sampleBytes(i * 1000, i * 100, i * 50);
  }
  // the window (10) is the last ten samples: 26..35
  assert.equal(link.avgRttMs, 30.5);
  const slots = (link as unknown as { slots: number[] }).slots;
  assert.ok(Array.isArray(slots) && hasDoubleElements(slots) && !hasHoleyElements(slots));
});

test('counters past the small-integer range keep their object’s hidden class (no deoptimization)', () => {
  const budget = new SendBudget(64 << 20, 8 << 20, 1 << 20);
  const coalescer = new Coalescer(4096, 64, 256);
  const busy = new Connection('c1', '127.0.0.1', 0, 10_000, budget, coalescer);
  const quiet = new Connection('c2', '127.0.0.1', 0, 10_000, budget, coalescer);
  assert.ok(Object.is(busy.rxBytes, 0) && Object.is(busy.txBytes, 0), 'they start at 0');
  assert.ok(haveSameMap(busy, quiet));
  // a link past 2 GiB each way (2^31: past the small integers of every V8 build)
  busy.rxBytes += 2 ** 31;
  busy.txBytes += 2 ** 31;
  assert.ok(haveSameMap(busy, quiet), 'the busy connection kept the shared hidden class');
  const other = new Coalescer(4096, 64, 256);
  assert.ok(Object.is(other.stagedFrames, 0) && Object.is(other.flushes, 0), 'they start at 0');
  coalescer.stagedFrames += 2 ** 31;
  coalescer.flushes += 2 ** 31;
  assert.ok(haveSameMap(coalescer, other), 'so did the coalescer');
  const held = new HoldStats();
  const quietHeld = new HoldStats();
  assert.ok(Object.is(held.copiedBytes, 0) && Object.is(held.lostBytes, 0), 'they start at 0');
  held.copiedBytes += 2 ** 31;
  held.lostBytes += 2 ** 31;
  assert.ok(haveSameMap(held, quietHeld), 'and the gateway’s held-frame totals');
});
