/**
 * The Ferry target's environment in the relay benches (bench/common/launch-env.ts): Ferry's
 * launch variables, then `--ferry-env` overrides, where `NAME=` measures the C library's default.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ferryEnv, ferryEnvText } from '../../bench/common/launch-env.js';
import { GATEWAY_ENV } from '../../src/cli/node-flags.js';

test('the Ferry target gets the launch variables, and --ferry-env sets or removes one', () => {
  const base = { PATH: '/usr/bin' };
  assert.deepEqual(ferryEnv([], base), { ...base, ...GATEWAY_ENV });
  const off = ferryEnv(['MALLOC_ARENA_MAX=', 'MALLOC_MMAP_THRESHOLD_=65536', 'X=1'], base);
  assert.equal(off.MALLOC_ARENA_MAX, undefined, 'NAME= removes it');
  assert.ok(!('MALLOC_ARENA_MAX' in off));
  assert.equal(off.MALLOC_MMAP_THRESHOLD_, '65536');
  assert.equal(off.X, '1');
  assert.equal(off.PATH, '/usr/bin');
  // the bench's own environment wins over Ferry's values, as for an operator
  assert.equal(ferryEnv([], { MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX, '8');
  assert.deepEqual(ferryEnvText(['MALLOC_ARENA_MAX=', 'X=1'], base), [
    'MALLOC_ARENA_MAX=(unset)',
    `MALLOC_MMAP_THRESHOLD_=${GATEWAY_ENV.MALLOC_MMAP_THRESHOLD_}`,
    'X=1',
  ]);
  assert.throws(() => ferryEnv(['MALLOC_ARENA_MAX'], base), /expected NAME=VALUE/);
  assert.throws(() => ferryEnv(['=2'], base), /expected NAME=VALUE/);
});
