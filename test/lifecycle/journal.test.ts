/**
 * Live-session journals inside one process: the retained-bytes budget spills a chat flood to the
 * journal and the history and the report still hold every message; a gateway started again on
 * the data directory of a closed one rebuilds its sessions (a torn last record skipped), the
 * clients take their places back with their tokens, and a session nobody resumes ends with a
 * report saying the restart interrupted it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { resolveConfig } from '../../src/config/config.js';
import type { ConfigKey } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { decodeRecords, encodeRecord } from '../../src/journal/record.js';
import { JournalStore } from '../../src/journal/store.js';
import { silentLogger } from '../../src/log.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import type { SessionReport } from '../../src/session/report.js';
import { JOURNALED_WINDOW, verifyLog } from '../../src/session/session-log.js';
import { issueToken } from '../../src/session/tokens.js';
import { adminRequest } from '../api/harness.js';
import { activeSession, activeWithCollaborator, startGateway } from '../integration/harness.js';
import { freePort } from '../support/gateway-process.js';
import { joinAndPickUp } from '../support/pairing.js';
import { storedReport } from '../support/reports.js';

const S = ferry.v1.SessionStatus;
const MiB = 1024 * 1024;

function start(dataDir: string, overrides: Partial<Record<ConfigKey, unknown>> = {}) {
  const config = resolveConfig(
    { host: '127.0.0.1', port: 0, adminPort: 0, dataDir, logLevel: 'silent', ...overrides },
    {},
  );
  return Gateway.start(config, silentLogger());
}

function dataDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-journal-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const journalFile = (dir: string, sessionId: string) =>
  path.join(dir, 'journal', `${sessionId}.journal`);

test('past --retained-bytes a chat flood spills to the journal: memory stays bounded, history and report keep every message', {
  timeout: 60_000,
}, async (t) => {
  // the flood is the point here, not the chat allowance
  const { gateway, dataDir: dir } = await startGateway(t, {
    retainedBytes: 1 * MiB,
    maxChatPerSecond: 1000,
  });
  const { tech, customer, sessionId } = await activeSession(t, gateway);
  const text = (i: number) => `${String(i).padStart(4, '0')} ${'x'.repeat(15_000)}`;
  const all = waitFor(tech, 'chat', (c) => c.text === text(99), 30_000);
  for (let i = 0; i < 100; i++) customer.chat(text(i));
  await all;

  const retained = gateway.registry.retained;
  // about 1.5 MB of chat against a 1 MiB budget: the window stays under it (one message over)
  assert.ok(retained.used <= 1 * MiB + 16_000, `retained ${retained.used}`);
  assert.ok(retained.spills > 0, 'entries spilled');
  const session = gateway.registry.get(sessionId)!;
  assert.ok(session.log.spilled > 0);
  assert.equal(session.log.dropped, 0);
  const metrics = await gateway.metrics.registry.metrics();
  assert.match(metrics, new RegExp(`^ferry_retained_spills_total ${retained.spills}$`, 'm'));
  assert.match(metrics, /^ferry_journals_open 1$/m);

  // a history past the window is read back from the journal: all of it, in order
  const history = await tech.chatHistory(sessionId);
  const texts = history.entries.flatMap((e) => (e.chat ? [e.chat.text] : []));
  assert.deepEqual(
    texts,
    Array.from({ length: 100 }, (_, i) => text(i)),
  );
  assert.equal(history.dropped, 0);

  // the report on disk is the whole log, its hash chain intact from the start; the journal goes
  await tech.endSession(sessionId, 'done');
  await gateway.reportsWritten();
  const report = storedReport(dir, sessionId)!;
  const chats = report.log.filter((e) => e.kind === 'chat');
  assert.equal(chats.length, 100);
  assert.equal(report.logEntriesSpilled, 0);
  assert.equal(verifyLog(report.log, report.logChainStart), null);
  assert.equal(fs.existsSync(journalFile(dir, sessionId)), false);
  // an ended session's window no longer counts
  assert.ok(
    gateway.registry.retained.used < 64 * 1024,
    `retained ${gateway.registry.retained.used}`,
  );

  // a note after the end stores the report again, its journal gone: the spilled entries come
  // from the report stored before, and the API serves the whole log too
  await tech.addNote('resolved by phone', sessionId);
  await gateway.reportsWritten();
  const again = storedReport(dir, sessionId)!;
  assert.deepEqual(
    again.notes.map((n) => n.text),
    ['resolved by phone'],
  );
  assert.equal(again.log.filter((e) => e.kind === 'chat').length, 100);
  assert.equal(again.logEntriesSpilled, 0);
  assert.equal(verifyLog(again.log, again.logChainStart), null);
  const served = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/report`, {
    token: gateway.adminToken,
  });
  assert.equal(served.json.log.length, again.log.length);
  assert.equal(served.json.notes.length, 1);
});

test('a journaled log keeps a window in memory: a catch-up inside it is answered from memory, an older one from the journal', {
  timeout: 60_000,
}, async (t) => {
  const { gateway } = await startGateway(t, { maxChatPerSecond: 1000 });
  const { tech, customer, sessionId } = await activeSession(t, gateway);
  const all = waitFor(tech, 'chat', (c) => c.text === 'line 299', 30_000);
  for (let i = 0; i < 300; i++) customer.chat(`line ${i}`);
  const [last] = await all;
  const session = gateway.registry.get(sessionId)!;
  assert.equal(session.log.entries.length, JOURNALED_WINDOW);
  assert.ok(session.log.spilled > 300 - JOURNALED_WINDOW, `spilled ${session.log.spilled}`);
  // count the journal reads
  const journal = session.journal!;
  const read = journal.spilledEntries.bind(journal);
  let reads = 0;
  journal.spilledEntries = (beforeSeq: number) => {
    reads++;
    return read(beforeSeq);
  };
  const lastSeq = Number(last.seq);
  const recent = await tech.chatHistory(sessionId, lastSeq - 10);
  assert.deepEqual(
    recent.entries.map((e) => e.chat?.text),
    Array.from({ length: 10 }, (_, i) => `line ${290 + i}`),
  );
  assert.equal(recent.dropped, 0);
  assert.equal(reads, 0, 'answered from the window');
  // from the start: the journal gives back what left the window, every line once, in order
  const whole = await tech.chatHistory(sessionId);
  assert.equal(reads, 1);
  assert.deepEqual(
    whole.entries.flatMap((e) => (e.chat ? [e.chat.text] : [])),
    Array.from({ length: 300 }, (_, i) => `line ${i}`),
  );
  assert.equal(whole.dropped, 0);
  // after a seq before the window: the journal again, only what follows it
  const middle = await tech.chatHistory(sessionId, lastSeq - 200);
  assert.equal(reads, 2);
  assert.deepEqual(
    middle.entries.map((e) => e.chat?.text),
    Array.from({ length: 200 }, (_, i) => `line ${100 + i}`),
  );
  assert.equal(middle.dropped, 0);
});

test('without a journal the budget drops the oldest entries and says so', {
  timeout: 60_000,
}, async (t) => {
  const { gateway } = await startGateway(t, {
    retainedBytes: 1 * MiB,
    journal: 'off',
    maxChatPerSecond: 1000,
  });
  const { tech, customer, sessionId } = await activeSession(t, gateway);
  const all = waitFor(tech, 'chat', (c) => c.text.startsWith('0099'), 30_000);
  for (let i = 0; i < 100; i++)
    customer.chat(`${String(i).padStart(4, '0')} ${'y'.repeat(15_000)}`);
  await all;
  assert.ok(gateway.registry.retained.used <= 1 * MiB + 16_000);
  const history = await tech.chatHistory(sessionId);
  assert.ok(history.dropped > 0, 'dropped entries are counted');
  assert.ok(history.entries.length < 100);
  assert.equal(fs.existsSync(path.join(gateway.config.dataDir, 'journal')), false);
});

test("a gateway started on a closed one's data directory rebuilds its session; a torn last record is skipped and the clients resume", {
  timeout: 60_000,
}, async (t) => {
  const dir = dataDir(t);
  const first = await start(dir);
  const url1 = `ws://127.0.0.1:${first.port}/v1/ws`;
  const token = issueToken(first.config.secret, 'tech-1', 3600);
  const tech = new TechnicianClient({ url: url1, token, reconnect: false });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, {
    url: url1,
    pin,
    name: 'Alice',
    reconnect: false,
  });
  const heard = waitFor(tech, 'chat', (c) => c.text === 'before');
  customer.chat('before');
  await heard;
  const tokens = { tech: tech.resumeToken, customer: customer.resumeToken };
  await first.close('upgrade');
  // a write the crash cut short: half a line at the end of the journal
  fs.appendFileSync(journalFile(dir, sessionId), '0badc0de {"k":"log","e":{"seq":');

  const second = await start(dir);
  t.after(() => second.close('test finished'));
  assert.equal(second.journals?.counters.restored, 1);
  assert.equal(second.journals?.counters.corruptRecords, 1);
  const restored = second.registry.get(sessionId);
  assert.ok(restored, 'the session is back');
  assert.equal(restored.status, 'RECONNECTING');
  assert.ok(fs.readFileSync(journalFile(dir, sessionId), 'utf8').endsWith('\n'), 'torn tail cut');

  // the tokens the clients kept take their places back (the journal had their hashes only)
  const url2 = `ws://127.0.0.1:${second.port}/v1/ws`;
  const customer2 = new CustomerClient({ url: url2, resumeToken: tokens.customer, pin: '' });
  t.after(() => customer2.close());
  const tech2 = new TechnicianClient({
    url: url2,
    token,
    name: 'tech-1',
    resumeToken: tokens.tech,
  });
  t.after(() => tech2.close());
  assert.equal((await customer2.connect()).resumed, true);
  const active = waitFor(tech2, 'status', (s) => s.status === S.SESSION_STATUS_ACTIVE, 10_000);
  assert.equal((await tech2.connect()).resumed, true);
  await active;
  const history = await tech2.chatHistory(sessionId);
  assert.deepEqual(
    history.entries.flatMap((e) => (e.chat ? [e.chat.text] : [])),
    ['before'],
  );
  assert.ok(!fs.readFileSync(journalFile(dir, sessionId), 'utf8').includes('"seq":\n'));
});

test('a restored session nobody resumes ends by the normal timers, its report saying the restart interrupted it', {
  timeout: 60_000,
}, async (t) => {
  const dir = dataDir(t);
  const windows = { offlineAfterSeconds: 1, resumeTtlSeconds: 1 };
  const first = await start(dir, windows);
  const url1 = `ws://127.0.0.1:${first.port}/v1/ws`;
  const tech = new TechnicianClient({
    url: url1,
    token: issueToken(first.config.secret, 'tech-1', 3600),
    reconnect: false,
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession();
  await joinAndPickUp(t, tech, sessionId, { url: url1, pin, name: 'Alice', reconnect: false });
  await first.close('upgrade');

  const second = await start(dir, windows);
  t.after(() => second.close('test finished'));
  assert.ok(second.registry.get(sessionId));
  const ended = new Promise<SessionReport>((resolve) => {
    second.registry.listeners.add({
      ended: (s) => {
        if (s.id === sessionId) setImmediate(() => resolve(second.registry.reports.get(s.id)!));
      },
    });
  });
  const report = await ended;
  assert.equal(report.endReason, 'interrupted by a gateway restart');
  // who took part comes back with the session, each once
  assert.deepEqual(
    report.participants.map((p) => [p.name, p.joinedAs]),
    [
      ['tech-1', 'owner'],
      ['Alice', 'customer'],
    ],
  );
  assert.equal(report.restart?.interrupted, true);
  await second.reportsWritten();
  assert.ok(storedReport(dir, sessionId) !== undefined);
  assert.equal(fs.existsSync(journalFile(dir, sessionId)), false);
});

test('chat held for a technician who was away when the gateway stopped reaches it after the restart, once', {
  timeout: 60_000,
}, async (t) => {
  const dir = dataDir(t);
  const port = await freePort();
  const first = await start(dir, { port });
  const url = `ws://127.0.0.1:${port}/v1/ws`;
  const token = issueToken(first.config.secret, 'tech-1', 3600);
  const retry = { initialDelayMs: 50, maxDelayMs: 200, giveUpAfterMs: 30_000 };
  // the technician's first retry comes after the restart below (which takes well under 2 s)
  const tech = new TechnicianClient({
    url,
    token,
    reconnect: { initialDelayMs: 2000, maxDelayMs: 2000, giveUpAfterMs: 30_000 },
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, sessionId, {
    url,
    pin,
    name: 'Alice',
    reconnect: retry,
  });
  const heard: string[] = [];
  tech.on('chat', (c) => heard.push(c.text));
  const seen = waitFor(tech, 'chat', (c) => c.text === 'one');
  customer.chat('one');
  await seen;
  // the technician's link drops; the customer chats meanwhile (held for it), then the gateway stops
  const away = waitFor(customer, 'status', (s) => s.trigger === 'connection_lost');
  tech.dropConnection();
  await away;
  const echoed = waitFor(customer, 'chat', (c) => c.text === 'two');
  customer.chat('two');
  await echoed;
  await first.close('upgrade');
  const second = await start(dir, { port });
  t.after(() => second.close('test finished'));
  const caught = waitFor(tech, 'chat', (c) => c.text === 'two', 20_000);
  await caught;
  assert.equal(tech.reconnects, 1, 'one resume, on the second gateway');
  assert.deepEqual(heard, ['one', 'two']);
});

test('a session ended before its journal reached the disk is reported without touching the journal directory; a longer one has its journal removed', {
  timeout: 30_000,
}, async (t) => {
  const dir = dataDir(t);
  const removed: string[] = [];
  const remove = JournalStore.prototype.remove;
  t.mock.method(JournalStore.prototype, 'remove', function (this: JournalStore, id: string) {
    removed.push(id);
    return remove.call(this, id);
  });
  // a journal file is made once its session has lived one fsync period (a minute here), or when
  // a record must be durable
  const gateway = await start(dir, { journalFsync: '60000' });
  t.after(() => gateway.close('test finished'));
  const url = `ws://127.0.0.1:${gateway.port}/v1/ws`;
  const tech = new TechnicianClient({
    url,
    token: issueToken(gateway.config.secret, 'tech-1', 3600),
    reconnect: false,
  });
  t.after(() => tech.close());
  await tech.connect();

  const short = await tech.createSession();
  await joinAndPickUp(t, tech, short.sessionId, {
    url,
    pin: short.pin,
    name: 'Bob',
    reconnect: false,
  });
  assert.equal(fs.existsSync(journalFile(dir, short.sessionId)), false);
  await tech.endSession(short.sessionId);
  await gateway.reportsWritten();
  assert.ok(storedReport(dir, short.sessionId) !== undefined);
  assert.deepEqual(removed, [], 'no journal file was made, so none is unlinked');

  // a chat message must be durable: its journal is on disk, and goes once the report is
  const long = await tech.createSession();
  const customer = await joinAndPickUp(t, tech, long.sessionId, {
    url,
    pin: long.pin,
    name: 'Alice',
    reconnect: false,
  });
  const heard = waitFor(tech, 'chat', (c) => c.text === 'kept');
  customer.chat('kept');
  await heard;
  assert.ok(fs.existsSync(journalFile(dir, long.sessionId)));
  await tech.endSession(long.sessionId);
  await gateway.reportsWritten();
  assert.deepEqual(removed, [long.sessionId]);
  assert.equal(fs.existsSync(journalFile(dir, long.sessionId)), false);
});

test('a collaborator who accepts an invitation is in the journal state a restart would rebuild', async (t) => {
  const { gateway } = await startGateway(t);
  const { sessionId } = await activeWithCollaborator(t, gateway);
  const session = gateway.registry.sessions.get(sessionId)!;
  assert.ok(
    session.participants.some((p) => p.name === 'tech-2'),
    'a participant in memory',
  );
  await gateway.journals!.flushAll();
  const { records } = decodeRecords(
    fs.readFileSync(journalFile(gateway.config.dataDir, sessionId)),
  );
  const states = (records as { k: string; participants?: { name: string }[] }[]).filter(
    (r) => r.k === 'state',
  );
  assert.deepEqual(
    states.at(-1)?.participants?.map((p) => p.name),
    session.participants.map((p) => p.name),
  );
});

test('a crash between the end and the stored report: the next start rebuilds the report from the journal; one after the report is stored: the journal goes', async (t) => {
  const dir = dataDir(t);
  const first = await start(dir);
  const { tech, customer, sessionId } = await activeSession(t, first);
  // a chat is durable: the journal file exists from here on
  const chatted = waitFor(tech, 'chat', (c) => c.text === 'printer fixed?');
  customer.chat('printer fixed?');
  await chatted;
  assert.ok(fs.existsSync(journalFile(dir, sessionId)));
  // the report store refuses everything, as a full disk would
  first.reportStore.addMany = () => {
    throw new Error('SQLITE_FULL: database or disk is full');
  };
  await tech.endSession(sessionId);
  const original = first.registry.reports.get(sessionId)!;
  assert.equal(original.status, 'CLOSED_BY_TECHNICIAN');
  await first.close('crash stand-in');
  assert.equal(storedReport(dir, sessionId), undefined);
  assert.ok(fs.existsSync(journalFile(dir, sessionId)), 'no report: the journal stays');

  // a journal with an end and nothing to rebuild from stays for an operator
  const bare = 'ended-without-state';
  fs.writeFileSync(
    journalFile(dir, bare),
    Buffer.concat([
      encodeRecord({ k: 'session', v: 1, id: bare, createdAtMs: 1, customerLabel: 'x' }),
      encodeRecord({ k: 'end', atMs: 2, reason: '' }),
    ]),
  );

  const second = await start(dir);
  assert.equal(second.registry.get(sessionId), undefined, 'an ended session is not restored');
  const rebuilt = storedReport(dir, sessionId)!;
  assert.ok(rebuilt.recoveredAt !== undefined, 'marked as rebuilt');
  assert.ok(rebuilt.log.some((e) => e.kind === 'chat' && e.text === 'printer fixed?'));
  assert.equal(verifyLog(rebuilt.log, rebuilt.logChainStart), null);
  // what the first gateway built at the end, but for what a journal does not keep
  const { relayed: _r, files: _f, ...built } = original;
  const { relayed: _r2, files: _f2, recoveredAt: _at, ...recovered } = rebuilt;
  assert.deepEqual(recovered, JSON.parse(JSON.stringify(built)));
  assert.equal(fs.existsSync(journalFile(dir, sessionId)), false, 'rebuilt: the journal goes');
  assert.ok(fs.existsSync(journalFile(dir, bare)), 'nothing to rebuild from: kept');
  await second.close('done');

  // the report stored, the journal not yet removed (a kill between the two): it goes at start
  const third = await start(dir);
  const other = await activeSession(t, third);
  const said = waitFor(other.tech, 'chat', (c) => c.text === 'thanks');
  other.customer.chat('thanks');
  await said;
  third.journals!.remove = async () => undefined;
  await other.tech.endSession(other.sessionId);
  await third.close('crash stand-in');
  assert.ok(storedReport(dir, other.sessionId) !== undefined);
  assert.ok(fs.existsSync(journalFile(dir, other.sessionId)));
  const fourth = await start(dir);
  assert.equal(fs.existsSync(journalFile(dir, other.sessionId)), false, 'reported: removed');
  assert.ok(fs.existsSync(journalFile(dir, bare)), 'still kept');
  await fourth.close('done');
});

test('a log that spilled before its journal file was made: the journal is written at the end, and the report is whole', async (t) => {
  // the file of a deferred journal is made after one fsync period: a minute here
  const { gateway, dataDir: dir } = await startGateway(t, { journalFsync: '60000' });
  const { tech, sessionId } = await activeSession(t, gateway);
  for (let i = 0; i < 200; i++) await tech.addNote(`note ${i}`, sessionId);
  const session = gateway.registry.get(sessionId)!;
  assert.ok(session.log.spilled > 0, 'entries spilled');
  assert.equal(fs.existsSync(journalFile(dir, sessionId)), false, 'no journal file yet');
  const entries = session.log.entries.at(-1)!.seq;
  await tech.endSession(sessionId);
  await gateway.reportsWritten();
  const report = storedReport(dir, sessionId)!;
  assert.equal(report.logEntriesSpilled, 0);
  assert.ok(report.log.length > entries, `${report.log.length} entries`);
  assert.equal(report.log[0]!.seq, 1);
  assert.equal(verifyLog(report.log, report.logChainStart), null);
  assert.equal(report.notes.length, 200);
});

test("a copy of a journal made in the turn of a change ends with that change's snapshot", async (t) => {
  const { gateway } = await startGateway(t);
  const { sessionId } = await activeSession(t, gateway);
  const session = gateway.registry.sessions.get(sessionId)!;
  await gateway.journals!.flushAll();
  // one turn: a logged change makes a snapshot due (at the end of the turn), then the lines are
  // read for a copy (a recopy after a store outage, a move): the snapshot must be among them,
  // since the copy replaces the store's and a snapshot written after the read would be lost
  session.log.event(
    'note',
    'tech',
    'a change in the same turn as the copy',
    gateway.registry.now(),
  );
  const { records } = decodeRecords(Buffer.concat(gateway.journals!.linesOf(session)));
  const kinds = (records as { k: string; e?: { detail?: string } }[]).map((r) =>
    r.k === 'log' ? `log:${r.e?.detail}` : r.k,
  );
  const changed = kinds.lastIndexOf('log:a change in the same turn as the copy');
  assert.ok(changed >= 0, `the change is in the lines: ${kinds.slice(-4)}`);
  assert.equal(kinds.indexOf('state', changed), kinds.length - 1, `${kinds.slice(-4)}`);
});
