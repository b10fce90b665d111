import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { FsyncPolicy } from '../../src/journal/fsync-policy.js';
import { readJournal } from '../../src/journal/reader.js';
import { JournalStore } from '../../src/journal/store.js';

const OFF: FsyncPolicy = { kind: 'off' };

async function tempStore(t: TestContext): Promise<JournalStore> {
  const root = await mkdtemp(join(tmpdir(), 'ferry-journal-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = new JournalStore(join(root, 'data', 'journal'));
  await store.init();
  return store;
}

function seqs(records: unknown[]): number[] {
  return records.map((r) => (r as { seq: number }).seq);
}

async function writeSession(store: JournalStore, id: string, from: number, to: number) {
  const { writer } = await store.open(id, { fsync: OFF, onError: assert.fail });
  for (let seq = from; seq < to; seq++) writer.append({ seq });
  await writer.close();
}

test('init creates the journal directory with mode 0700', async (t) => {
  const store = await tempStore(t);
  assert.equal((await stat(store.dir)).mode & 0o777, 0o700);
  await store.init();
});

test('a torn tail is skipped on read and cut on open, so new records follow cleanly', async (t) => {
  const store = await tempStore(t);
  await writeSession(store, 's1', 0, 3);
  const file = store.fileFor('s1');
  const whole = await readFile(file);
  // Cut the last record mid-line, as a crash during its write would.
  await truncate(file, whole.length - 5);

  const torn = await readJournal(file);
  assert.deepEqual(seqs(torn.records), [0, 1]);
  assert.equal(torn.tornTail, true);
  assert.equal(torn.corrupt, 0);

  const { writer, replay } = await store.open('s1', { fsync: OFF, onError: assert.fail });
  assert.deepEqual(replay, torn);
  assert.equal((await stat(file)).size, torn.validBytes);
  writer.append({ seq: 3 });
  writer.append({ seq: 4 });
  await writer.close();

  const after = await readJournal(file);
  assert.deepEqual(seqs(after.records), [0, 1, 3, 4]);
  assert.equal(after.tornTail, false);
  assert.equal(after.corrupt, 0);
});

test('a flipped byte in a middle record is counted corrupt and the records around it replay', async (t) => {
  const store = await tempStore(t);
  await writeSession(store, 's1', 0, 5);
  const file = store.fileFor('s1');
  const buf = await readFile(file);
  const at = buf.indexOf('{"seq":2}') + 7;
  const handle = await open(file, 'r+');
  await handle.write(Buffer.from('7'), 0, 1, at);
  await handle.close();

  const { writer, replay } = await store.open('s1', { fsync: OFF, onError: assert.fail });
  assert.deepEqual(seqs(replay.records), [0, 1, 3, 4]);
  assert.equal(replay.corrupt, 1);
  assert.equal(replay.tornTail, false);
  assert.equal(replay.validBytes, buf.length);
  writer.append({ seq: 5 });
  await writer.close();
  assert.deepEqual(seqs((await readJournal(file)).records), [0, 1, 3, 4, 5]);
});

test('a session without a journal opens empty and its file is created', async (t) => {
  const store = await tempStore(t);
  const { writer, replay } = await store.open('fresh', { fsync: OFF, onError: assert.fail });
  assert.deepEqual(replay, { records: [], corrupt: 0, tornTail: false, validBytes: 0 });
  await writer.close();
  assert.equal((await stat(store.fileFor('fresh'))).size, 0);
});

test('reading a journal that does not exist gives an empty result', async (t) => {
  const store = await tempStore(t);
  assert.deepEqual(await readJournal(join(store.dir, 'missing.journal')), {
    records: [],
    corrupt: 0,
    tornTail: false,
    validBytes: 0,
  });
});

test('list gives the sessions with a journal, sorted, and remove deletes one', async (t) => {
  const store = await tempStore(t);
  for (const id of ['b-2', 'a_1', 'C3']) await writeSession(store, id, 0, 1);
  await writeFile(join(store.dir, 'notes.txt'), 'not a journal');
  await writeFile(join(store.dir, 'bad.name.journal'), '');
  assert.deepEqual(await store.list(), ['C3', 'a_1', 'b-2']);

  await store.remove('a_1');
  assert.deepEqual(await store.list(), ['C3', 'b-2']);
  await store.remove('a_1');
  await store.remove('never-existed');
  assert.deepEqual(await store.list(), ['C3', 'b-2']);
});

test('list of a journal directory that does not exist yet is empty', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'ferry-journal-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  assert.deepEqual(await new JournalStore(join(root, 'journal')).list(), []);
});

test('fileFor accepts plain session ids and refuses anything that could leave the directory', async (t) => {
  const store = await tempStore(t);
  assert.equal(store.fileFor('abc-DEF_123'), join(store.dir, 'abc-DEF_123.journal'));
  assert.equal(store.fileFor('x'.repeat(64)), join(store.dir, `${'x'.repeat(64)}.journal`));
  for (const bad of ['', '../etc/passwd', 'a/b', 'a.b', '..', 'a b', 'é', 'x'.repeat(65), 'a\n']) {
    assert.throws(() => store.fileFor(bad), Error, `id ${JSON.stringify(bad)}`);
  }
  await assert.rejects(store.remove('../x'));
  await assert.rejects(store.open('../x', { fsync: OFF, onError: assert.fail }));
});
