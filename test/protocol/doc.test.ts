/**
 * The protocol reference tables of docs/protocol.md are exactly what src/protocol/doc.ts renders
 * from the .proto comments, and every screen and input field has a meaning there.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  BEGIN_MARKER,
  END_MARKER,
  FULL_REFERENCE_DOC,
  PROTOCOL_DOC,
  parseProto,
  protoFiles,
  REFERENCE_FILES,
  renderFullReference,
  renderPage,
} from '../../src/protocol/doc.js';

// dist/test/protocol/ -> the repository root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('the generated proto reference in docs/protocol.md is current', () => {
  const page = fs.readFileSync(path.join(ROOT, PROTOCOL_DOC), 'utf8');
  assert.ok(page.includes(BEGIN_MARKER) && page.includes(END_MARKER));
  assert.equal(page, renderPage(ROOT), 'stale: run `npm run docs`');
});

test('docs/protocol-reference.md is generated from every .proto file and is current', () => {
  const page = fs.readFileSync(path.join(ROOT, FULL_REFERENCE_DOC), 'utf8');
  assert.equal(page, renderFullReference(ROOT), 'stale: run `npm run docs`');
  for (const file of protoFiles(ROOT)) {
    assert.ok(page.includes(`\`${file.split(path.sep).join('/')}\``), `${file} is missing`);
  }
  assert.match(page, /##### message `Frame`/);
});

test('every screen and input message, field and enum value has a comment saying what it means', () => {
  for (const file of REFERENCE_FILES) {
    for (const block of parseProto(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      assert.notEqual(block.doc, '', `${block.name} has no comment`);
      for (const f of block.fields) {
        if (f.doc.startsWith('one of ')) continue; // oneof members: their message says it
        assert.notEqual(f.doc, '', `${block.name}.${f.name} has no comment`);
      }
    }
  }
});

test('the parser reads fields, oneof members and enum values with their comments', () => {
  const blocks = parseProto(
    [
      '// A thing.',
      'message Thing {',
      '  // leading',
      '  repeated uint32 ids = 1; // trailing',
      '  oneof kind {',
      '    string name = 2;',
      '  }',
      '}',
      'enum Colour {',
      '  COLOUR_UNSPECIFIED = 0; // none',
      '}',
    ].join('\n'),
  );
  assert.deepEqual(blocks, [
    {
      kind: 'message',
      name: 'Thing',
      doc: 'A thing.',
      fields: [
        { number: '1', name: 'ids', type: 'repeated uint32', doc: 'leading trailing' },
        { number: '2', name: 'name', type: 'string', doc: 'one of `kind`' },
      ],
    },
    {
      kind: 'enum',
      name: 'Colour',
      doc: '',
      fields: [{ number: '0', name: 'COLOUR_UNSPECIFIED', type: '', doc: 'none' }],
    },
  ]);
});
