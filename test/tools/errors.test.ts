/**
 * `ToolError`: the session-tool refusals take their code from the one FERRY_ERR_* table
 * (src/protocol/codes.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CodeName, Codes } from '../../src/protocol/codes.js';
import { ToolError } from '../../src/tools/errors.js';

test('a tool error carries its stable code and says what happened', () => {
  const err = new ToolError('FILE_TOO_LARGE', '9 bytes');
  assert.equal(err.code, 'FERRY_ERR_FILE_TOO_LARGE');
  assert.match(err.message, /transfer size limit: 9 bytes$/);
  assert.equal(err.name, 'ToolError');
  assert.ok(err instanceof Error);
});

test('a tool error without a detail says only what its code means', () => {
  const err = new ToolError('RECORDING_STREAMED');
  assert.equal(err.code, Codes.RECORDING_STREAMED.code);
  assert.equal(err.message, Codes.RECORDING_STREAMED.doc);
});

test('the codes the tools raise are entries of the one table and keep the connection open', () => {
  const raised: CodeName[] = [
    'RECORDING_STREAMED',
    'RECORDING_CLOSED',
    'REGISTRY_CORRUPT',
    'REGISTRY_FULL',
    'REGISTRY_INVALID_FIELD',
    'SHELL_NOT_FOUND',
    'FILE_CLOSED',
    'ACTION_UNKNOWN',
  ];
  for (const name of raised) {
    assert.equal(new ToolError(name).code, `FERRY_ERR_${name}`);
    assert.equal(Codes[name].close, 0, name);
  }
});
