import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedBuckets, TokenBucket } from '../../src/limits/token-bucket.js';

test('a bucket allows its burst at once, then one token per 1/rate seconds', () => {
  const b = new TokenBucket(2, 3, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.waitMs(0), 500);
  assert.equal(b.take(499), false);
  assert.equal(b.take(500), true);
  assert.equal(b.take(500), false);
});

test('a bucket never holds more than its burst however long it rests', () => {
  const b = new TokenBucket(10, 2, 0);
  b.take(0);
  b.take(0);
  let allowed = 0;
  for (let i = 0; i < 5; i++) if (b.take(1_000_000)) allowed++;
  assert.equal(allowed, 2);
});

test('keyed buckets limit each key on its own', () => {
  const k = new KeyedBuckets(1, 2, 100);
  assert.deepEqual([k.take('a', 0), k.take('a', 0), k.take('a', 0)], [true, true, false]);
  assert.equal(k.take('b', 0), true);
});

test('keyed buckets stay within maxKeys by evicting the least recently used key', () => {
  const k = new KeyedBuckets(1, 1, 3);
  k.take('a', 0);
  k.take('b', 0);
  k.take('c', 0);
  k.take('a', 0); // a is now the most recent
  k.take('d', 0); // evicts b
  assert.equal(k.size, 3);
  assert.equal(k.take('a', 0), false, 'a kept its empty bucket');
  assert.equal(k.take('b', 0), true, 'b starts over with a full bucket');
});

test('prune forgets buckets that have refilled and keeps the others', () => {
  const k = new KeyedBuckets(1, 2, 10);
  k.take('a', 0);
  k.take('b', 1500);
  k.prune(2000);
  assert.equal(k.size, 1);
  assert.equal(k.take('b', 2000), true);
});
