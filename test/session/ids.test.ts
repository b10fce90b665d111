import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newSessionId } from '../../src/session/operations.js';

test('session ids never start with a dash, so a command line never reads one as an option', () => {
  // a random base64url id starts with '-' once in 64: 5000 draws would find one
  for (let i = 0; i < 5000; i++) {
    assert.match(newSessionId(), /^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/);
  }
});
