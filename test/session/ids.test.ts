import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newSessionId } from '../../src/session/operations.js';

test('session ids never start with a dash, so a command line never reads one as an option', () => {
  for (let i = 0; i < 5000; i++) {
    assert.match(newSessionId(), /^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/);
  }
  // from 1972 to the year 2109 the first character is the time's, and never '-'
  for (const year of [1973, 2026, 2050, 2108]) {
    assert.notEqual(newSessionId(Date.UTC(year, 0, 1))[0], '-', String(year));
  }
});

test('ids sort by creation time, and ids of one millisecond differ', () => {
  const t0 = Date.UTC(2026, 11, 7, 12, 0, 0);
  let previous = '';
  for (let ms = 0; ms < 100_000; ms += 7) {
    const id = newSessionId(t0 + ms);
    // byte order, as SQLite compares TEXT keys
    assert.ok(Buffer.compare(Buffer.from(previous), Buffer.from(id)) < 0, `${previous} < ${id}`);
    previous = id;
  }
  const same = new Set(Array.from({ length: 10_000 }, () => newSessionId(t0)));
  assert.equal(same.size, 10_000);
  // the first 7 characters are the time, the other 9 random
  assert.equal(newSessionId(t0).slice(0, 7), newSessionId(t0).slice(0, 7));
  assert.notEqual(newSessionId(t0).slice(7), newSessionId(t0).slice(7));
  assert.throws(() => newSessionId(Number.NaN), RangeError);
});
