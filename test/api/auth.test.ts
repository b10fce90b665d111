import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerChecker } from '../../src/api/auth.js';

test('a bearer header matches only the exact token', () => {
  const check = bearerChecker('s3cret-token');
  assert.equal(check('Bearer s3cret-token'), true);
  assert.equal(check('bearer s3cret-token'), true);
  assert.equal(check('Bearer s3cret-token '), true);
  assert.equal(check('Bearer s3cret-tokenx'), false);
  assert.equal(check('Bearer s3cret'), false);
  assert.equal(check('s3cret-token'), false);
  assert.equal(check('Basic s3cret-token'), false);
  assert.equal(check('Bearer s3cret-token extra'), false);
  assert.equal(check(''), false);
});

test('an empty configured token matches nothing, not even an empty bearer', () => {
  const check = bearerChecker('');
  assert.equal(check(''), false);
  assert.equal(check('Bearer '), false);
  assert.equal(check('Bearer x'), false);
});
