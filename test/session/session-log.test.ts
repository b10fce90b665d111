import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { GENESIS, type LogEntry, SessionLog, verifyLog } from '../../src/session/session-log.js';

const chat = (text: string) =>
  ({
    kind: 'chat',
    audience: 'all',
    senderId: 'c1',
    senderName: 'A',
    senderRole: 'customer',
    text,
  }) as const;

test('the session log drops its oldest entries past its entry bound and counts them', () => {
  const log = new SessionLog(3, 1_000_000);
  for (let i = 1; i <= 5; i++) log.append(chat(`m${i}`), i);
  assert.deepEqual(
    log.entries.map((e) => e.seq),
    [3, 4, 5],
  );
  assert.equal(log.dropped, 2);
});

test('the session log stays within its size bound however long the chat messages are', () => {
  const log = new SessionLog(10_000, 50_000);
  for (let i = 0; i < 100; i++) log.append(chat('x'.repeat(16_000)), i);
  const chars = log.entries.reduce((n, e) => n + (e.kind === 'chat' ? e.text.length : 0), 0);
  assert.ok(chars <= 50_000, `${chars} characters kept`);
  assert.equal(log.entries.length + log.dropped, 100);
  assert.equal(log.entries.at(-1)?.seq, 100, 'the newest entry is always kept');
});

test('the log is a hash chain: an entry edited, removed or reordered afterwards is found by verifyLog', () => {
  const log = new SessionLog();
  log.append(
    {
      kind: 'chat',
      audience: 'all',
      senderId: 'c1',
      senderName: 'Alice',
      senderRole: 'customer',
      text: 'hi',
    },
    1000,
  );
  log.event('consent', 'Alice', 'granted view', 1001);
  log.event('note', 'tech-1', 'rebooted the router', 1002);
  const entries = JSON.parse(JSON.stringify(log.entries)) as LogEntry[];
  assert.equal(verifyLog(entries), null);
  assert.equal(verifyLog(entries, log.chainStart), null);

  const edited = structuredClone(entries);
  (edited[1] as { detail: string }).detail = 'granted view and control';
  assert.equal(verifyLog(edited), 2, 'an edited entry');
  assert.equal(verifyLog([entries[0]!, entries[2]!]), 3, 'a removed entry');
  assert.equal(verifyLog([entries[1]!, entries[0]!, entries[2]!]), 2, 'reordered entries');
});

test('entries dropped at the bound leave the hash the first kept entry follows', () => {
  const log = new SessionLog(2);
  for (let i = 0; i < 5; i++) log.event('sysinfo', 'tech-1', `viewed ${i}`, 1000 + i);
  assert.equal(log.entries.length, 2);
  assert.equal(log.dropped, 3);
  assert.notEqual(log.chainStart, GENESIS);
  assert.equal(verifyLog(log.entries, log.chainStart), null);
  assert.equal(verifyLog(log.entries), 4, 'without the start hash the first kept entry fails');
});

test('entries held for a copy are published in order once it is kept; a publication that throws stops none after it', async () => {
  const log = new SessionLog();
  const published: string[] = [];
  const failed: number[] = [];
  log.onAppend = (e) => {
    if (e.kind !== 'chat') return;
    if (e.text === 'bad') throw new Error('a participant went away mid-send');
    published.push(e.text);
  };
  log.onPublishFailed = (_err, e) => failed.push(e.seq);
  let keep: () => void = () => undefined;
  const kept = new Promise<void>((resolve) => {
    keep = resolve;
  });
  log.onJournal = (e) => (e.kind === 'chat' && e.text === 'first' ? kept : undefined);
  log.append(chat('first'));
  const heldFirst = log.held;
  log.append(chat('bad'));
  log.append(chat('third'));
  assert.ok(heldFirst !== null, 'held while its copy is not kept');
  assert.deepEqual(published, [], 'nothing overtakes the held entry');
  const last = log.held;
  keep();
  await last;
  assert.deepEqual(published, ['first', 'third']);
  assert.deepEqual(failed, [2]);
  assert.equal(log.held, null, 'nothing held once all are out');
  log.append(chat('after'));
  assert.deepEqual(published, ['first', 'third', 'after'], 'published at once again');
});

test('entries of one kind share one hidden class, however hot append runs (no map per entry)', () => {
  // %HaveSameMap is V8's own check; the flag only lets code compiled after it use natives
  v8.setFlagsFromString('--allow-natives-syntax');
  const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (
    a: object,
    b: object,
  ) => boolean;
  const log = new SessionLog(100_000, 64 * 1024 * 1024);
  // enough appends for append to be optimized: a spread there gave each entry a map of its own
  for (let i = 0; i < 20_000; i++) {
    if (i % 2 === 0) log.event('status', 'alice', `step ${i}`, i);
    else {
      log.append(
        {
          kind: 'chat',
          audience: 'all',
          senderId: 'c1',
          senderName: 'bob',
          senderRole: 'customer',
          text: `hi ${i}`,
        },
        i,
      );
    }
  }
  const entries = log.entries;
  assert.equal(entries.length, 20_000);
  assert.ok(sameMap(entries[0]!, entries[19_998]!), 'events');
  assert.ok(sameMap(entries[1]!, entries[19_999]!), 'chat');
  assert.deepEqual(Object.keys(entries[19_998]!), [
    'kind',
    'audience',
    'type',
    'actor',
    'detail',
    'seq',
    'timeMs',
    'hash',
  ]);
  assert.equal(verifyLog(entries), null);
});

for (const settleAt of [0, 250, Number.POSITIVE_INFINITY]) {
  const when =
    settleAt === 0 ? 'settled from the start' : settleAt === 250 ? 'settled midway' : 'still warm';
  test(`read back, every hash is the one append gave, through window cuts (${when})`, () => {
    const log = new SessionLog(50, 1_000_000);
    const given = new Map<number, string>();
    // 500 appends through a 50-entry window: the window is cut many times as entries leave it
    for (let i = 0; i < 500; i++) {
      if (i === settleAt) log.settle();
      const e =
        i % 3 === 0
          ? log.append(chat(`m${i}`), 1000 + i)
          : log.event('status', 'a', `s${i}`, 1000 + i);
      given.set(e.seq, e.hash);
    }
    assert.equal(log.warm, settleAt > 500);
    const entries = log.entries;
    assert.deepEqual(
      entries.map((e) => [e.seq, e.hash]),
      [...given].slice(-50),
    );
    assert.equal(log.chainStart, given.get(450), 'the chain starts at the last entry that left');
    assert.equal(log.head, given.get(500));
    assert.equal(log.firstSeq, 451);
    assert.equal(log.lastTimeMs, 1499);
    assert.equal(verifyLog(entries, log.chainStart), null);
    const records = log.visibleTo(true);
    assert.equal(records.length, 50);
    assert.ok(
      records.every((r) => !('hash' in r)),
      'what participants read carries no hash',
    );
    assert.deepEqual(
      log.visibleTo(false).map((r) => r.seq),
      records.filter((r) => r.audience === 'all').map((r) => r.seq),
    );
  });
}

test('a restored log keeps the hashes its journal stored, a broken chain included, and appends follow the head', () => {
  const source = new SessionLog();
  source.event('status', 'alice', 'CONNECTING', 1000);
  source.append(chat('hello'), 1001);
  source.event('consent', 'bob', 'granted view', 1002);
  const stored = structuredClone(source.entries);
  // an entry edited in the journal: its stored hash no longer follows from its content
  (stored[1] as { text: string }).text = 'edited';

  const restored = new SessionLog();
  restored.restore(
    { entries: stored, dropped: 0, spilled: 0, chainStart: GENESIS },
    4,
    source.head,
  );
  assert.deepEqual(restored.entries, stored, 'each entry as the journal had it, hash included');
  assert.equal(verifyLog(restored.entries), 2, 'the report still shows where the chain broke');
  const next = restored.event('restart', 'gateway', 'restored', 1003);
  assert.equal(next.seq, 4);
  const entries = restored.entries;
  assert.equal(entries.at(-1)?.hash, next.hash);
  assert.equal(
    verifyLog(entries.slice(2), stored[1]!.hash),
    null,
    'appends follow the stored chain',
  );

  // a head that does not follow the last stored entry: the next entry follows the head, as before
  const other = new SessionLog();
  const head = 'f'.repeat(64);
  other.restore({ entries: source.entries, dropped: 0, spilled: 0, chainStart: GENESIS }, 4, head);
  const after = other.event('restart', 'gateway', 'restored', 1003);
  assert.equal(other.entries.at(-1)?.hash, after.hash);
  assert.equal(verifyLog([after], head), null);
  assert.equal(verifyLog(other.entries.slice(0, 3)), null);
  assert.throws(() =>
    other.restore({ entries: [], dropped: 0, spilled: 0, chainStart: GENESIS }, 1, head),
  );
});

test('a journal with a record twice or out of order comes back as it was stored, through settling and window cuts', () => {
  const source = new SessionLog();
  for (let i = 1; i <= 6; i++) source.event('status', 'alice', `step ${i}`, 1000 + i);
  const clean = source.entries;
  // a duplicated record and two swapped ones: seqs repeat and go backwards
  const stored = [clean[0]!, clean[1]!, clean[2]!, clean[2]!, clean[4]!, clean[3]!, clean[5]!];
  const log = new SessionLog(4, 1_000_000);
  log.restore({ entries: stored, dropped: 0, spilled: 0, chainStart: GENESIS }, 7, source.head);
  assert.deepEqual(log.entries, stored, 'as stored while warm');
  log.settle();
  assert.deepEqual(log.entries, stored, 'as stored once settled');
  const appended = [7, 8, 9].map((i) => log.event('status', 'alice', `step ${i}`, 1000 + i));
  const window = [...stored, ...appended].slice(-4);
  assert.deepEqual(
    log.entries,
    window,
    'the window after three cuts, each hash as stored or given',
  );
  assert.equal(
    log.chainStart,
    stored[5]!.hash,
    'the chain starts at the last stored record that left',
  );
  assert.equal(
    verifyLog(log.entries, log.chainStart),
    6,
    'the reordered record is still the break',
  );
  assert.equal(verifyLog(log.entries.slice(1), stored[6]!.hash), null, 'the appends follow it');
});

test('an entry restored with an audience the log does not know stays hidden from the customer', () => {
  const source = new SessionLog();
  source.event('status', 'alice', 'CONNECTING', 1000);
  const [entry] = source.entries;
  const odd = { ...entry!, audience: 'owner' } as unknown as LogEntry;
  const log = new SessionLog();
  log.restore({ entries: [odd], dropped: 0, spilled: 0, chainStart: GENESIS }, 2, odd.hash);
  assert.equal(log.visibleTo(false).length, 0);
  assert.equal(log.visibleTo(true).length, 1);
});

test('a journal record without a hash comes back without one, warm or settled', () => {
  const source = new SessionLog();
  for (let i = 1; i <= 3; i++) source.event('status', 'alice', `step ${i}`, 1000 + i);
  const stored = structuredClone(source.entries);
  delete (stored[1] as { hash?: string }).hash;
  const log = new SessionLog();
  log.restore({ entries: stored, dropped: 0, spilled: 0, chainStart: GENESIS }, 4, source.head);
  assert.equal(log.entries[1]?.hash, undefined);
  assert.equal(verifyLog(log.entries), 2);
  log.settle();
  assert.equal(log.entries[1]?.hash, undefined, 'not derived once settled');
  assert.equal(verifyLog(log.entries), 2, 'the break stays where it was');
});
