/**
 * The repository stands alone: every document that code, comments, the .proto files and the
 * tests cite (a `docs/...` or `spec/...` path) exists in the repository, and nothing cites a
 * design document kept outside it. Generated code (src/protocol/gen/) is checked through its
 * source, proto/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// dist/test/docs/ -> the repository root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCANNED = ['src', 'proto', 'test'] as const;
const SKIPPED = new Set([path.join('src', 'protocol', 'gen')]);
const EXTENSIONS = new Set(['.ts', '.js', '.proto', '.json', '.md', '.sh']);

/** A path starting at a `docs` or `spec` folder, not inside a longer path or URL. */
const CITATION = /(?<![\w./-])((?:docs|spec)\/[\w./-]*\w)/g;
/** Design documents that live outside the repository and must not be cited. */
const OUTSIDE = new RegExp(['DESIGN', 'md'].join('\\.'), 'g');

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    if (SKIPPED.has(rel)) return;
    for (const entry of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (EXTENSIONS.has(path.extname(entry.name))) out.push(child);
    }
  };
  for (const dir of SCANNED) walk(dir);
  return out;
}

interface Citation {
  readonly file: string;
  readonly line: number;
  readonly cited: string;
}

function citations(): { found: Citation[]; outside: Citation[] } {
  const found: Citation[] = [];
  const outside: Citation[] = [];
  for (const file of sourceFiles()) {
    const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
    lines.forEach((text, i) => {
      for (const m of text.matchAll(CITATION)) found.push({ file, line: i + 1, cited: m[1]! });
      for (const m of text.matchAll(OUTSIDE)) outside.push({ file, line: i + 1, cited: m[0] });
    });
  }
  return { found, outside };
}

test('every docs/ or spec/ path named in src, proto and test exists in the repository', () => {
  const { found } = citations();
  assert.ok(found.length > 20, `only ${found.length} citations found: is the scan broken?`);
  const missing = found.filter((c) => !fs.existsSync(path.join(ROOT, c.cited)));
  assert.deepEqual(
    missing.map((c) => `${c.file}:${c.line} cites ${c.cited}`),
    [],
    'cite docs/architecture.md or docs/spec/<file>: they are the documents the repository holds',
  );
});

test('no source file cites a design document kept outside the repository', () => {
  const { outside } = citations();
  assert.deepEqual(
    outside.map((c) => `${c.file}:${c.line} cites ${c.cited}`),
    [],
    'the architecture is docs/architecture.md',
  );
});

test('the specs the code cites are in docs/spec', () => {
  for (const file of ['session-states.json', 'session-tools.md', 'network-stats.md']) {
    assert.ok(fs.existsSync(path.join(ROOT, 'docs', 'spec', file)), file);
  }
  const states = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'docs', 'spec', 'session-states.json'), 'utf8'),
  ) as { states?: unknown[] };
  assert.ok(Array.isArray(states.states) && states.states.length > 0);
});
