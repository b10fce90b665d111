import assert from 'node:assert/strict';
import { test } from 'node:test';
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
