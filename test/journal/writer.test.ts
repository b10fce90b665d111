import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  DEFAULT_FSYNC,
  type FsyncPolicy,
  formatFsyncPolicy,
  parseFsyncPolicy,
} from '../../src/journal/fsync-policy.js';
import { readJournal } from '../../src/journal/reader.js';
import { decodeRecords, encodeRecord } from '../../src/journal/record.js';
import { JOURNAL_CLOSED, JournalWriter } from '../../src/journal/writer.js';

const OFF: FsyncPolicy = { kind: 'off' };

async function tempFile(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-journal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 's.journal');
}

async function openWriter(t: TestContext, fsync: FsyncPolicy = OFF, file?: string) {
  const path = file ?? (await tempFile(t));
  const errors: Error[] = [];
  const writer = await JournalWriter.open(path, { fsync, onError: (err) => errors.push(err) });
  t.after(() => writer.close());
  return { file: path, writer, errors };
}

/** Resolves after the current turn's immediates, which include a writer's batch start. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test('a new journal file is created with mode 0600', async (t) => {
  const { file } = await openWriter(t);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
});

test('a hundred appends in one turn are written with a single write', async (t) => {
  const { file, writer } = await openWriter(t);
  for (let i = 0; i < 100; i++) writer.append({ seq: i });
  assert.equal(writer.writes, 0);
  assert.ok(writer.pendingBytes > 0);
  await writer.flush();
  assert.equal(writer.writes, 1);
  assert.equal(writer.records, 100);
  assert.equal(writer.pendingBytes, 0);
  assert.equal(writer.bytes, (await stat(file)).size);
});

test('appends over many turns replay in append order', async (t) => {
  const { file, writer } = await openWriter(t);
  let seq = 0;
  for (let turn = 0; turn < 8; turn++) {
    for (let i = 0; i < 25; i++) writer.append({ seq: seq++, turn });
    await nextTurn();
  }
  await writer.flush();
  assert.ok(writer.writes >= 2, `writes ${writer.writes}`);
  const { records, corrupt, tornTail } = await readJournal(file);
  assert.equal(corrupt, 0);
  assert.equal(tornTail, false);
  assert.deepEqual(
    records.map((r) => (r as { seq: number }).seq),
    Array.from({ length: seq }, (_, i) => i),
  );
});

test('a durable append is in the file when it returns, after the records queued before it', async (t) => {
  const { file, writer } = await openWriter(t);
  for (let i = 0; i < 10; i++) writer.append({ seq: i });
  writer.appendDurable({ seq: 10 });
  // no turn has passed: the write happened inside appendDurable, in one write with the queue
  assert.equal(writer.writes, 1);
  assert.equal(writer.pendingBytes, 0);
  for (let i = 11; i < 20; i++) writer.append({ seq: i });
  // read in this same turn: the later appends are still queued
  const { records } = decodeRecords(readFileSync(file));
  assert.deepEqual(
    records.map((r) => (r as { seq: number }).seq),
    Array.from({ length: 11 }, (_, i) => i),
  );
  await writer.flush();
  const after = await readJournal(file);
  assert.equal(after.records.length, 20);
});

test('flush with nothing appended resolves at once', async (t) => {
  const { writer } = await openWriter(t);
  await writer.flush();
  assert.equal(writer.writes, 0);
});

test('close writes what is still queued', async (t) => {
  const { file, writer } = await openWriter(t);
  for (let i = 0; i < 10; i++) writer.append({ seq: i });
  await writer.close();
  assert.equal((await readJournal(file)).records.length, 10);
});

test('appends after close are dropped, counted and reported once', async (t) => {
  const { file, writer, errors } = await openWriter(t);
  writer.append({ seq: 0 });
  await writer.close();
  assert.doesNotThrow(() => {
    writer.append({ seq: 1 });
    writer.append({ seq: 2 });
  });
  assert.equal(writer.dropped, 2);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as NodeJS.ErrnoException).code, JOURNAL_CLOSED);
  await writer.flush();
  await writer.sync();
  await writer.close();
  assert.deepEqual((await readJournal(file)).records, [{ seq: 0 }]);
});

test('fsync always syncs every batch before flush resolves', async (t) => {
  const { writer } = await openWriter(t, { kind: 'always' });
  for (let turn = 0; turn < 3; turn++) {
    writer.append({ turn });
    await writer.flush();
    assert.ok(writer.fsyncs >= writer.writes, `fsyncs ${writer.fsyncs} writes ${writer.writes}`);
  }
  assert.equal(writer.writes, 3);
});

test('fsync off never syncs, not even on close', async (t) => {
  const { writer } = await openWriter(t, OFF);
  for (let turn = 0; turn < 3; turn++) {
    writer.append({ turn });
    await writer.flush();
  }
  await writer.close();
  assert.equal(writer.writes, 3);
  assert.equal(writer.fsyncs, 0);
});

test('sync forces an fsync whatever the policy', async (t) => {
  const { writer } = await openWriter(t, OFF);
  writer.append({ seq: 0 });
  await writer.sync();
  assert.equal(writer.records, 1);
  assert.equal(writer.fsyncs, 1);
});

test('fsync interval syncs once the interval has passed after a write, not before', async (t) => {
  // setImmediate stays real: the writer batches on it.
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const { writer, errors } = await openWriter(t, { kind: 'interval', ms: 100 });
  writer.append({ seq: 0 });
  await writer.flush();
  assert.equal(writer.writes, 1);
  assert.equal(writer.fsyncs, 0);
  t.mock.timers.tick(99);
  assert.equal(writer.fsyncs, 0);
  t.mock.timers.tick(1);
  // The tick started one fsync; close waits for it and then does its own.
  await writer.close();
  assert.equal(writer.fsyncs, 2);
  t.mock.timers.tick(1000);
  await nextTurn();
  assert.equal(writer.fsyncs, 2);
  assert.deepEqual(errors, []);
});

test('fsync interval syncs at most once per interval however many writes', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const { writer } = await openWriter(t, { kind: 'interval', ms: 100 });
  for (let turn = 0; turn < 5; turn++) {
    writer.append({ turn });
    await writer.flush();
    t.mock.timers.tick(10);
  }
  assert.equal(writer.writes, 5);
  // 50 ms since the first write: no timer has fired yet; close's own fsync is the only one.
  await writer.close();
  assert.equal(writer.fsyncs, 1);
});

test('a clean interval journal without writes is synced neither by the timer nor at close', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const { writer } = await openWriter(t, { kind: 'interval', ms: 100 });
  t.mock.timers.tick(500);
  await writer.close();
  assert.equal(writer.fsyncs, 0);
});

test('a failed write is reported and counted, append never throws, and later appends try again', {
  skip: !existsSync('/dev/full') && 'needs /dev/full',
}, async (t) => {
  // Every write to /dev/full fails with ENOSPC.
  const { writer, errors } = await openWriter(t, OFF, '/dev/full');
  assert.doesNotThrow(() => writer.append({ seq: 0 }));
  await writer.flush();
  assert.equal(writer.errors, 1);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ENOSPC');
  assert.equal(writer.lost, 1);
  assert.equal(writer.records, 0);
  assert.equal(writer.pendingBytes, 0);
  assert.doesNotThrow(() => writer.append({ seq: 1 }));
  await writer.flush();
  assert.equal(writer.errors, 2);
  assert.equal(errors.length, 2);
  assert.equal(writer.lost, 2);
});

test('a record with no JSON form is reported and the others are still written', async (t) => {
  const { file, writer, errors } = await openWriter(t);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  writer.append({ seq: 0 });
  assert.doesNotThrow(() => writer.append(cyclic));
  writer.append({ seq: 1 });
  await writer.flush();
  assert.equal(writer.errors, 1);
  assert.equal(errors.length, 1);
  assert.deepEqual((await readJournal(file)).records, [{ seq: 0 }, { seq: 1 }]);
});

test('opening a directory as a journal rejects', async (t) => {
  const file = await tempFile(t);
  const dir = join(file, '..');
  await assert.rejects(JournalWriter.open(dir, { fsync: OFF, onError: assert.fail }));
});

test('truncateTo cuts the file before the first append and never extends it', async (t) => {
  const file = await tempFile(t);
  const first = await JournalWriter.open(file, { fsync: OFF, onError: assert.fail });
  first.append({ seq: 0 });
  first.append({ seq: 1 });
  await first.close();
  const size = (await stat(file)).size;
  const second = await JournalWriter.open(file, {
    fsync: OFF,
    onError: assert.fail,
    truncateTo: size + 100,
  });
  await second.close();
  assert.equal((await stat(file)).size, size);
  const third = await JournalWriter.open(file, { fsync: OFF, onError: assert.fail, truncateTo: 0 });
  third.append({ seq: 2 });
  await third.close();
  assert.deepEqual(await readFile(file), encodeRecord({ seq: 2 }));
});

test('fsync policies parse from always, off, and milliseconds with or without a unit', () => {
  assert.deepEqual(parseFsyncPolicy('always'), { kind: 'always' });
  assert.deepEqual(parseFsyncPolicy('off'), { kind: 'off' });
  assert.deepEqual(parseFsyncPolicy('100'), { kind: 'interval', ms: 100 });
  assert.deepEqual(parseFsyncPolicy('100ms'), { kind: 'interval', ms: 100 });
  assert.deepEqual(parseFsyncPolicy('1'), { kind: 'interval', ms: 1 });
  assert.deepEqual(parseFsyncPolicy('60000ms'), { kind: 'interval', ms: 60000 });
  assert.deepEqual(parseFsyncPolicy(' off '), { kind: 'off' });
});

test('a bad fsync policy gives a message naming the accepted forms and the input', () => {
  assert.equal(
    parseFsyncPolicy('x'),
    'fsync must be always, off, or a number of milliseconds (1-60000); got "x"',
  );
  for (const bad of [
    '',
    '0',
    '0ms',
    '60001',
    '-5',
    '1.5',
    '100 ms',
    '100s',
    'ms',
    'Always',
    '1e3',
  ]) {
    const result = parseFsyncPolicy(bad);
    assert.equal(typeof result, 'string', `input ${JSON.stringify(bad)}`);
    assert.ok((result as string).endsWith(`got ${JSON.stringify(bad)}`));
  }
});

test('an fsync policy formats to text that parses back to it, the default being 100ms', () => {
  assert.deepEqual(DEFAULT_FSYNC, { kind: 'interval', ms: 100 });
  assert.equal(formatFsyncPolicy(DEFAULT_FSYNC), '100ms');
  const policies: FsyncPolicy[] = [
    { kind: 'always' },
    { kind: 'off' },
    { kind: 'interval', ms: 250 },
  ];
  for (const policy of [...policies, DEFAULT_FSYNC]) {
    assert.deepEqual(parseFsyncPolicy(formatFsyncPolicy(policy)), policy);
  }
});

test('a deferred journal creates its file only once the delay has passed, with every record in order', async (t) => {
  const file = await tempFile(t);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const writer = JournalWriter.deferred(file, { fsync: OFF, onError: () => undefined }, 100);
  t.after(() => writer.close());
  writer.append({ k: 'a', n: 1 });
  writer.append({ k: 'a', n: 2 });
  await nextTurn();
  assert.equal(existsSync(file), false, 'no file within the delay');
  assert.equal(writer.opened, false);
  t.mock.timers.tick(100);
  // created off the event loop
  assert.equal(writer.opened, false);
  await writer.settled();
  assert.equal(writer.opened, true);
  writer.append({ k: 'a', n: 3 });
  await nextTurn();
  const read = await readJournal(file);
  assert.deepEqual(
    read.records.map((r) => (r as { n: number }).n),
    [1, 2, 3],
  );
});

test('a deferred journal opens at once for a durable append, and a flush', async (t) => {
  const file = await tempFile(t);
  const writer = JournalWriter.deferred(file, { fsync: OFF, onError: () => undefined }, 60_000);
  t.after(() => writer.close());
  writer.append({ k: 'a', n: 1 });
  writer.appendDurable({ k: 'chat', n: 2 });
  // on disk before appendDurable returned, after what was queued before it
  assert.deepEqual(
    decodeRecords(readFileSync(file)).records.map((r) => (r as { n: number }).n),
    [1, 2],
  );
  const other = `${file}.2`;
  const flushed = JournalWriter.deferred(other, { fsync: OFF, onError: () => undefined }, 60_000);
  t.after(() => flushed.close());
  flushed.append({ k: 'a', n: 1 });
  await flushed.flush();
  assert.equal(existsSync(other), true);
});

test('a deferred journal closed as replaced before its delay never touches the disk; closed as kept, it does', async (t) => {
  const file = await tempFile(t);
  const options = { fsync: DEFAULT_FSYNC, onError: () => undefined };
  const replaced = JournalWriter.deferred(file, options, 60_000);
  replaced.append({ k: 'a' });
  replaced.append({ k: 'end' });
  await replaced.close(false);
  assert.equal(existsSync(file), false);
  assert.equal(replaced.discarded, 2);
  const kept = JournalWriter.deferred(file, options, 60_000);
  kept.append({ k: 'a' });
  await kept.close();
  assert.equal((await readJournal(file)).records.length, 1);
  assert.equal(kept.fsyncs, 1, 'kept: synced before it closed');
});

test('a durable append while the deferred file is being created writes at once, in order, and the late descriptor is closed', async (t) => {
  const file = await tempFile(t);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const errors: Error[] = [];
  const writer = JournalWriter.deferred(file, { fsync: OFF, onError: (e) => errors.push(e) }, 100);
  t.after(() => writer.close());
  writer.append({ k: 'a', n: 1 });
  t.mock.timers.tick(100);
  const creating = writer.settled();
  writer.appendDurable({ k: 'chat', n: 2 });
  assert.deepEqual(
    decodeRecords(readFileSync(file)).records.map((r) => (r as { n: number }).n),
    [1, 2],
  );
  await creating;
  writer.append({ k: 'a', n: 3 });
  await writer.flush();
  assert.deepEqual(
    decodeRecords(readFileSync(file)).records.map((r) => (r as { n: number }).n),
    [1, 2, 3],
  );
  assert.deepEqual(errors, []);
  assert.equal(writer.writes, 2, 'one write for 1-2, one for 3: nothing written twice');
});

test('a deferred journal closed as replaced while its file is being created leaves no file', async (t) => {
  const file = await tempFile(t);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const writer = JournalWriter.deferred(file, { fsync: OFF, onError: () => undefined }, 100);
  writer.append({ k: 'a' });
  t.mock.timers.tick(100);
  await writer.close(false);
  assert.equal(writer.discarded, 1);
  // gone once the close resolved: a process that exits then leaves no empty journal behind
  assert.equal(existsSync(file), false, 'the file created for the replaced journal is gone');
});

test('a deferred journal holds its records unencoded: of its snapshots only the newest is built, when the file opens', async (t) => {
  const file = await tempFile(t);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const writer = JournalWriter.deferred(file, { fsync: OFF, onError: () => undefined }, 100);
  t.after(() => writer.close());
  const built: number[] = [];
  let state = 0;
  const snapshot = (n: number) => () => {
    built.push(n);
    return { k: 'state', n, state };
  };
  writer.append({ k: 'session', n: 0 });
  writer.appendLatest(snapshot(1));
  writer.append({ k: 'log', n: 2 });
  state = 7;
  writer.appendLatest(snapshot(3));
  writer.append({ k: 'log', n: 4 });
  state = 8;
  assert.deepEqual(built, [], 'nothing is built while the file does not exist');
  assert.equal(writer.pendingBytes, 0, 'nothing is encoded either');
  t.mock.timers.tick(100);
  await writer.settled();
  assert.deepEqual(built, [3], 'the newest snapshot only, once');
  const read = await readJournal(file);
  assert.deepEqual(read.records, [
    { k: 'session', n: 0 },
    { k: 'log', n: 2 },
    { k: 'state', n: 3, state: 8 },
    { k: 'log', n: 4 },
  ]);
  // once the file exists every snapshot is built and written as it comes
  writer.appendLatest(snapshot(5));
  writer.appendLatest(snapshot(6));
  assert.deepEqual(built, [3, 5, 6]);
  await writer.flush();
  assert.equal((await readJournal(file)).records.length, 6);
});

test('a held journal closed as replaced builds and encodes nothing; a record with no JSON form fails alone when written', async (t) => {
  const file = await tempFile(t);
  const replaced = JournalWriter.deferred(file, { fsync: OFF, onError: () => undefined }, 60_000);
  let built = 0;
  replaced.append({ k: 'session' });
  replaced.appendLatest(() => {
    built++;
    return { k: 'state' };
  });
  await replaced.close(false);
  assert.equal(built, 0);
  assert.equal(replaced.discarded, 2);
  assert.equal(existsSync(file), false);

  const errors: Error[] = [];
  const writer = JournalWriter.deferred(
    file,
    { fsync: OFF, onError: (e) => errors.push(e) },
    60_000,
  );
  t.after(() => writer.close());
  writer.append({ k: 'a', n: 1 });
  writer.append({ k: 'bad', n: 10n } as object);
  writer.appendLatest(() => {
    throw new Error('no state');
  });
  writer.append({ k: 'a', n: 2 });
  await writer.flush();
  assert.deepEqual(
    (await readJournal(file)).records.map((r) => (r as { n: number }).n),
    [1, 2],
  );
  assert.equal(writer.errors, 2);
  assert.deepEqual(
    errors.map((e) => e.message),
    ['Do not know how to serialize a BigInt', 'no state'],
  );
});

test('a deferred journal whose lines are copied elsewhere encodes and builds each record as it comes', async (t) => {
  const file = await tempFile(t);
  const lines: string[] = [];
  const writer = JournalWriter.deferred(
    file,
    { fsync: OFF, onError: () => undefined, onLine: (line) => lines.push(line.toString()) },
    60_000,
  );
  t.after(() => writer.close());
  writer.appendLatest(() => ({ k: 'state', n: 1 }));
  writer.appendLatest(() => ({ k: 'state', n: 2 }));
  assert.equal(lines.length, 2, 'both copied at once');
  assert.ok(writer.pendingBytes > 0);
  await writer.flush();
  assert.deepEqual(
    (await readJournal(file)).records.map((r) => (r as { n: number }).n),
    [1, 2],
  );
});

test('held records go out in order before a durable append, and at a close that keeps the journal', async (t) => {
  const file = await tempFile(t);
  const writer = JournalWriter.deferred(file, { fsync: OFF, onError: () => undefined }, 60_000);
  t.after(() => writer.close());
  let built = 0;
  writer.append({ k: 'session', n: 1 });
  writer.appendLatest(() => ({ k: 'state', n: 2, built: ++built }));
  writer.appendDurable({ k: 'chat', n: 3 });
  // written before appendDurable returned: the held records first, the snapshot built once
  assert.deepEqual(
    decodeRecords(readFileSync(file)).records.map((r) => (r as { n: number }).n),
    [1, 2, 3],
  );
  assert.equal(built, 1);

  const kept = `${file}.kept`;
  const closing = JournalWriter.deferred(kept, { fsync: OFF, onError: () => undefined }, 60_000);
  closing.append({ k: 'session', n: 1 });
  closing.appendLatest(() => ({ k: 'state', n: 2 }));
  closing.append({ k: 'kept', n: 3 });
  await closing.close(true);
  assert.deepEqual(
    (await readJournal(kept)).records.map((r) => (r as { n: number }).n),
    [1, 2, 3],
  );
});

test('a snapshot after close is dropped without being built; a builder that throws on an open journal is reported, not thrown', async (t) => {
  const { writer, errors } = await openWriter(t);
  assert.doesNotThrow(() =>
    writer.appendLatest(() => {
      throw new Error('no state');
    }),
  );
  assert.deepEqual(
    errors.map((e) => e.message),
    ['no state'],
  );
  await writer.close();
  let built = 0;
  writer.appendLatest(() => ({ k: 'state', built: ++built }));
  assert.equal(built, 0);
  assert.equal(writer.dropped, 1);
  assert.equal((errors[1] as NodeJS.ErrnoException).code, JOURNAL_CLOSED);
});
