/**
 * The session-tool codes are meant to be merged into the one FERRY_ERR_* table
 * (src/protocol/codes.ts): same rules, and no clash with a code already there.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Codes } from '../../src/protocol/codes.js';
import { ToolCodes, ToolError } from '../../src/tools/errors.js';

test('every tool code is named after its key, documented, and keeps the connection open', () => {
  for (const [key, entry] of Object.entries(ToolCodes)) {
    assert.equal(entry.code, `FERRY_ERR_${key}`);
    assert.ok(entry.doc.length > 0, `${key} has no doc`);
    assert.equal(entry.close, 0);
  }
});

test('no tool code clashes with a gateway code', () => {
  const gateway = new Set(Object.values(Codes).map((e) => e.code as string));
  for (const entry of Object.values(ToolCodes)) assert.ok(!gateway.has(entry.code), entry.code);
});

test('a tool error carries its stable code and says what happened', () => {
  const err = new ToolError('FILE_TOO_LARGE', '9 bytes');
  assert.equal(err.code, 'FERRY_ERR_FILE_TOO_LARGE');
  assert.match(err.message, /transfer size limit: 9 bytes$/);
  assert.ok(err instanceof Error);
});
