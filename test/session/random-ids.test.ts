/**
 * Random identifiers from the pool (src/session/random-ids.ts): the length and alphabet asked
 * for, no repeats across refills of the pool, and a clear error for a size it cannot give.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomId } from '../../src/session/random-ids.js';

test('ids are base64url of the bytes asked for, and none repeats across many refills', () => {
  const seen = new Set<string>();
  // 24-byte tokens do not divide the 4 KiB pool: refills happen mid-way, many times over
  for (let i = 0; i < 5000; i++) {
    const id = randomId(24);
    assert.match(id, /^[A-Za-z0-9_-]{32}$/);
    assert.ok(!seen.has(id), 'no repeat');
    seen.add(id);
  }
  assert.equal(Buffer.from(randomId(12), 'base64url').length, 12);
  assert.equal(Buffer.from(randomId(4096), 'base64url').length, 4096);
  // the bits are spread: over 5000 tokens each of the 64 characters shows up
  const chars = new Set([...seen].join(''));
  assert.equal(chars.size, 64);
});

test('a size outside 1..4096 bytes is refused', () => {
  for (const bad of [0, -1, 4097, 1.5, Number.NaN]) {
    assert.throws(() => randomId(bad), RangeError, String(bad));
  }
});
