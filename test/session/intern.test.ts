import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  intern,
  internedCount,
  MAX_INTERNED,
  MAX_INTERNED_LENGTH,
} from '../../src/session/intern.js';

test('intern returns an equal string, pools short ones once and leaves long ones out', () => {
  const before = internedCount();
  const version = `ferry-test/${process.pid}`;
  assert.equal(intern(version), version);
  assert.equal(internedCount(), before + 1);
  assert.equal(intern(`ferry-test/${process.pid}`), version);
  assert.equal(internedCount(), before + 1, 'an equal string is found, not added');
  const long = 'x'.repeat(MAX_INTERNED_LENGTH + 1);
  assert.equal(intern(long), long);
  assert.equal(internedCount(), before + 1, 'a long string is not pooled');
});

test('the pool is bounded: past its limit it starts again from empty', () => {
  for (let i = 0; internedCount() < MAX_INTERNED; i++) intern(`bound-${i}`);
  assert.equal(internedCount(), MAX_INTERNED);
  intern('one more than the pool holds');
  assert.equal(internedCount(), 1);
});

test('the pool keeps its own copies: a short slice of a large string does not keep the large one alive', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = v8.getHeapStatistics().used_heap_size;
  for (let i = 0; i < 40; i++) {
    // a large Hello field, trimmed and cut the way cleanName does
    const large = `${String(i).padStart(8, '0')}${'x'.repeat(1 << 20)}`;
    intern(` ${large}`.trim().slice(0, 60));
  }
  gc();
  const grown = v8.getHeapStatistics().used_heap_size - before;
  assert.ok(grown < 4 * 1024 * 1024, `the heap grew ${(grown / 1048576).toFixed(1)} MiB`);
});
