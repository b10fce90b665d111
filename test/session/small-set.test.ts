/**
 * SmallSet answers as a Set does (size, has, add, delete, insertion order) through any sequence of
 * operations, and holds its one member without a Set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SmallSet } from '../../src/session/small-set.js';

test('SmallSet behaves as a Set through any sequence of adds and deletes', () => {
  const op = fc.record({ add: fc.boolean(), value: fc.integer({ min: 0, max: 3 }) });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const model = new Set<number>();
      const set = new SmallSet<number>();
      for (const { add, value } of ops) {
        if (add) assert.equal(set.add(value), set);
        else assert.equal(set.delete(value), model.delete(value));
        if (add) model.add(value);
        assert.equal(set.size, model.size);
        assert.deepEqual([...set], [...model]);
        for (let v = 0; v <= 3; v++) assert.equal(set.has(v), model.has(v), `has(${v})`);
      }
    }),
  );
});

test('SmallSet keeps its order after growing past one member and shrinking back', () => {
  const a = { id: 'a' };
  const b = { id: 'b' };
  const c = { id: 'c' };
  const set = new SmallSet<object>();
  set.add(a).add(a);
  assert.deepEqual([...set], [a]);
  set.add(b).add(c);
  assert.deepEqual([...set], [a, b, c]);
  set.delete(a);
  set.delete(c);
  assert.deepEqual([...set], [b]);
  set.delete(b);
  assert.equal(set.size, 0);
  assert.deepEqual([...set], []);
  set.add(c);
  assert.deepEqual([...set], [c]);
  assert.equal(set.has(a), false);
});

test('SmallSet refuses undefined, which would read as empty', () => {
  const set = new SmallSet<unknown>();
  assert.throws(() => set.add(undefined), TypeError);
  assert.equal(set.size, 0);
  assert.equal(set.has(undefined), false);
});
