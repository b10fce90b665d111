/**
 * The report store through a real gateway: reports stored as sessions end, found by technician,
 * customer, address and date, paged with a cursor, exported as JSON Lines and CSV, served whole
 * after a restart; report files of earlier gateways imported at start, and retention pruning old
 * reports on the gateway's clock. Plus the store itself: crash-safe file, batches, cursor checks.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { ReportStore } from '../../src/store/report-store.js';
import { activeSession, startGateway } from '../integration/harness.js';
import { storedReport } from '../support/reports.js';
import { adminRequest } from './harness.js';

const DAY = 86_400_000;

/** A report file as the gateway writes it, with only what the index reads filled in. */
function reportFile(
  id: string,
  createdMs: number,
  customer: string,
  technician: string,
  ip: string,
) {
  return {
    id,
    status: 'CLOSED_BY_TECHNICIAN',
    timeoutKind: null,
    endReason: null,
    createdAt: new Date(createdMs).toISOString(),
    endedAt: new Date(createdMs + 60_000).toISOString(),
    durationMs: 60_000,
    creator: technician,
    owner: technician,
    customer,
    participants: [
      {
        name: technician,
        role: 'technician',
        joinedAs: 'owner',
        joinedAt: new Date(createdMs).toISOString(),
      },
      {
        name: customer,
        role: 'customer',
        joinedAs: 'customer',
        joinedAt: new Date(createdMs).toISOString(),
      },
    ],
    statusHistory: [],
    log: [
      {
        seq: 1,
        timeMs: createdMs,
        kind: 'chat',
        audience: 'all',
        senderId: 'c1',
        senderName: technician,
        senderRole: 'technician',
        text: 'printer on fire',
      },
    ],
    logEntriesDropped: 0,
    relayed: {},
    summary: {
      customerName: customer,
      computerName: 'pc',
      platform: 'linux',
      customerIp: ip,
      customerVersion: '',
      participants: [],
      granted: '',
      controller: null,
      monitors: 0,
      sysinfoCategories: [],
    },
    notes: [],
    recordings: [],
    files: [],
  };
}

test('reports are indexed as sessions end and found by technician, customer, address and date, a page at a time', async (t) => {
  const { gateway } = await startGateway(t);
  const token = gateway.adminToken;
  const ids: string[] = [];
  for (const name of ['Alice', 'Bob', 'Carol']) {
    const { tech, sessionId } = await activeSession(t, gateway, { customerName: name });
    await tech.endSession(sessionId);
    ids.push(sessionId);
  }
  await gateway.reportsWritten();
  const search = (query: string) => adminRequest(gateway, `/api/v1/reports?${query}`, { token });

  const bob = await search('customer=bob');
  assert.equal(bob.status, 200);
  assert.equal(bob.json.count, 1);
  assert.equal(bob.json.reports[0].id, ids[1]);
  assert.equal(bob.json.reports[0].customer, 'Bob');
  assert.deepEqual(bob.json.reports[0].technicians, ['tech-1']);
  assert.equal(bob.json.reports[0].address, '127.0.0.1');

  assert.equal((await search('technician=TECH-1')).json.count, 3, 'technician match ignores case');
  assert.equal((await search('address=127.0.0.1')).json.count, 3);
  assert.equal((await search('address=192.0.2.1')).json.count, 0);
  assert.equal((await search('text=printer')).json.count, 0);
  const tomorrow = new Date(Date.now() + DAY).toISOString();
  const yesterday = new Date(Date.now() - DAY).toISOString();
  assert.equal((await search(`from=${tomorrow}`)).json.count, 0);
  assert.equal((await search(`from=${yesterday}&to=${tomorrow}`)).json.count, 3);

  const first = await search('technician=tech-1&limit=2');
  assert.deepEqual(
    first.json.reports.map((r: { id: string }) => r.id),
    [ids[2], ids[1]],
    'newest first',
  );
  assert.equal(first.headers.get('x-next-cursor'), first.json.nextCursor);
  const second = await search(`technician=tech-1&limit=2&cursor=${first.json.nextCursor}`);
  assert.deepEqual(
    second.json.reports.map((r: { id: string }) => r.id),
    [ids[0]],
  );
  assert.equal(second.json.nextCursor, null);

  const csv = await search('format=csv&customer=carol');
  assert.match(csv.contentType, /^text\/csv/);
  const lines = csv.text.trimEnd().split('\r\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^id,createdAt,endedAt,durationMs,status/);
  assert.ok(lines[1]!.startsWith(`${ids[2]},`));
  const jsonl = await search('format=jsonl');
  assert.equal(jsonl.contentType, 'application/x-ndjson');
  assert.deepEqual(
    jsonl.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).id),
    [ids[2], ids[1], ids[0]],
  );

  for (const bad of [
    'limit=0',
    'limit=5000',
    'from=yesterday',
    'cursor=%%%',
    'format=xml',
    'who=me',
  ]) {
    const refused = await search(bad);
    assert.equal(refused.status, 400, bad);
    assert.equal(refused.json.error.code, 'FERRY_ERR_BAD_REQUEST');
  }
  const searches = gateway.audit.tail(100).filter((e) => e.action === 'reports.search');
  assert.ok(searches.length >= 14);
  assert.equal(searches[0]!.detail, 'customer=bob');
});

test('report files of earlier gateways are imported at start, and retention prunes old reports on the clock', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-reports-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const reports = path.join(dataDir, 'reports');
  fs.mkdirSync(reports);
  const now = Date.now();
  const write = (id: string, ageDays: number, customer: string) =>
    fs.writeFileSync(
      path.join(reports, `${id}.json`),
      JSON.stringify(reportFile(id, now - ageDays * DAY, customer, 'tech-9', '198.51.100.7')),
    );
  write('recent-1', 1, 'Dora');
  write('recent-2', 10, 'Eve');
  write('old-1', 200, 'Frank');
  write('old-2', 91, 'Grace');
  fs.writeFileSync(path.join(reports, 'broken.json'), '{"id": ');
  // parse, but are not reports: left out alone, the start goes on
  fs.writeFileSync(path.join(reports, 'empty.json'), '{}');
  fs.writeFileSync(path.join(reports, 'nothing.json'), 'null');
  fs.mkdirSync(path.join(reports, 'folder.json'));
  let ticked: () => void = () => undefined;
  const firstTick = new Promise<void>((resolve) => {
    ticked = resolve;
  });
  const { gateway } = await startGateway(
    t,
    { dataDir, reportRetentionDays: 90 },
    { onTick: () => ticked() },
  );
  assert.ok(fs.existsSync(path.join(dataDir, 'reports.db')));
  await firstTick;
  const all = await adminRequest(gateway, '/api/v1/reports?technician=tech-9', {
    token: gateway.adminToken,
  });
  assert.deepEqual(
    all.json.reports.map((r: { id: string }) => r.id),
    ['recent-1', 'recent-2'],
  );
  assert.equal(fs.existsSync(path.join(reports, 'old-1.json')), false);
  assert.equal(fs.existsSync(path.join(reports, 'old-2.json')), false);
  assert.equal(fs.existsSync(path.join(reports, 'recent-2.json')), true);
  const text = await adminRequest(gateway, '/api/v1/reports?text=PRINTER', {
    token: gateway.adminToken,
  });
  assert.equal(text.json.count, 2, 'the session log is searched too');
  // imported whole: the report itself is served, and a pruned one is gone
  const recent = await adminRequest(gateway, '/api/v1/sessions/recent-1/report', {
    token: gateway.adminToken,
  });
  assert.equal(recent.status, 200);
  assert.equal(recent.json.customer, 'Dora');
  const pruned = await adminRequest(gateway, '/api/v1/sessions/old-1/report', {
    token: gateway.adminToken,
  });
  assert.equal(pruned.status, 404);
});

test('after a restart the report of an ended session is served whole from the store, and the session is known as ended', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-reports-'));
  const first = await startGateway(t, { dataDir });
  const { tech, sessionId } = await activeSession(t, first.gateway, { customerName: 'Alice' });
  tech.chat('restart the print spooler');
  await tech.endSession(sessionId);
  const before = await adminRequest(first.gateway, `/api/v1/sessions/${sessionId}/report`, {
    token: first.gateway.adminToken,
  });
  assert.equal(before.status, 200);
  await first.gateway.close('restart');

  const { gateway } = await startGateway(t, { dataDir });
  assert.equal(
    gateway.registry.reports.has(sessionId),
    false,
    'not in memory: read from the store',
  );
  const token = gateway.adminToken;
  const after = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/report`, { token });
  assert.equal(after.status, 200);
  assert.deepEqual(after.json, before.json);
  assert.ok(after.json.log.some((e: { text?: string }) => e.text === 'restart the print spooler'));
  const detail = await adminRequest(gateway, `/api/v1/sessions/${sessionId}`, { token });
  assert.equal(detail.status, 404);
  assert.equal(detail.json.error.code, 'FERRY_ERR_SESSION_ENDED');
  const end = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/end`, {
    token,
    method: 'POST',
    body: { reason: 'again' },
  });
  assert.equal(end.status, 409);
  assert.equal(end.json.error.code, 'FERRY_ERR_SESSION_ENDED');
  const recordings = await adminRequest(gateway, `/api/v1/sessions/${sessionId}/recordings`, {
    token,
  });
  assert.equal(recordings.status, 200);
  const unknown = await adminRequest(gateway, '/api/v1/sessions/no-such-session/report', {
    token,
  });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'FERRY_ERR_SESSION_NOT_FOUND');
});

test('the store survives a reopen and imports the report files it lacks', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-index-'));
  try {
    const first = ReportStore.open(dataDir);
    assert.equal(first.rebuilt, true);
    assert.equal(fs.statSync(first.store.file).mode & 0o777, 0o600, 'owner only');
    first.store.add(reportFile('a', Date.now(), 'Ann', 'tech-1', '192.0.2.1'));
    first.store.add(reportFile('old', Date.now() - 5000, 'Olga', 'tech-1', '192.0.2.3'));
    first.store.close();
    fs.mkdirSync(path.join(dataDir, 'reports'));
    // a store an earlier gateway made: search rows, no documents, the report in its file
    const db = new Database(path.join(dataDir, 'reports.db'));
    db.exec("DELETE FROM report_documents WHERE id = 'old'");
    db.close();
    fs.writeFileSync(
      path.join(dataDir, 'reports', 'old.json'),
      JSON.stringify(reportFile('old', Date.now() - 5000, 'Olga', 'tech-1', '192.0.2.3')),
    );
    fs.writeFileSync(
      path.join(dataDir, 'reports', 'b.json'),
      JSON.stringify(reportFile('b', Date.now() - 1000, 'Ben', 'tech-1', '192.0.2.2')),
    );
    const second = ReportStore.open(dataDir);
    assert.equal(second.rebuilt, false);
    assert.equal(second.imported, 2);
    assert.equal(second.store.size, 3);
    assert.equal(JSON.parse(second.store.document('old')!).customer, 'Olga');
    assert.equal(JSON.parse(second.store.document('a')!).customer, 'Ann');
    assert.equal(JSON.parse(second.store.document('b')!).customer, 'Ben', 'imported whole');
    assert.equal(second.store.document('c'), null);
    assert.throws(() => second.store.search({ limit: 5, cursor: 'bm90IGEgY3Vyc29y' }), /cursor/);
    const page = second.store.search({ limit: 5, address: '192.0.2.2' });
    assert.deepEqual(
      page.reports.map((r) => r.id),
      ['b'],
    );
    second.store.close();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a text search matches within one log entry, never across two; a store with a row per entry is migrated', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-index-'));
  try {
    const twoEntries = (id: string, ms: number) => {
      const r = reportFile(id, ms, 'Eve', 'tech-4', '192.0.2.30');
      const chat = r.log[0]!;
      return {
        ...r,
        log: [
          { ...chat, text: 'the printer' },
          { ...chat, seq: 2, text: 'is on fire\u001eagain' },
          {
            seq: 3,
            timeMs: ms,
            kind: 'event',
            audience: 'all',
            type: 'status',
            actor: 'tech-4',
            detail: 'ACTIVE',
          },
        ],
      };
    };
    const first = ReportStore.open(dataDir);
    first.store.addMany([twoEntries('new', Date.now()), twoEntries('old', Date.now() - 1000)]);
    // more than one batch of the migration (500 documents)
    first.store.addMany(
      Array.from({ length: 600 }, (_, i) => {
        const r = reportFile(`bulk-${i}`, Date.now() - 10_000 - i, 'Bulk', 'tech-5', '192.0.2.40');
        return { ...r, log: [{ ...r.log[0]!, text: `bulk entry ${i}` }] };
      }),
    );
    first.store.close();
    // the store as an earlier gateway kept it: no log text table, a row per entry (some only)
    const older = (sql: string) => {
      const raw = new Database(path.join(dataDir, 'reports.db'));
      raw.exec(`${sql};
        CREATE TABLE IF NOT EXISTS session_log (report_id TEXT NOT NULL, seq INTEGER NOT NULL,
          time_ms INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, text TEXT NOT NULL,
          PRIMARY KEY (report_id, seq)) WITHOUT ROWID;
        INSERT OR IGNORE INTO session_log VALUES ('old', 1, 0, 'chat', 'tech-4', 'the printer')`);
      raw.close();
    };
    // with a document that does not parse, which must not stop the start
    older(
      "DROP TABLE report_log_text; INSERT INTO report_documents (id, body) VALUES ('broken', '{no')",
    );
    const second = ReportStore.open(dataDir);
    assert.equal(second.store.migrated, 603, 'every document given its text, rows or not');
    assert.equal(second.store.search({ limit: 1000, text: 'bulk entry' }).reports.length, 600);
    assert.equal(second.store.document('broken'), '{no');
    assert.deepEqual(second.store.unparsable, ['broken']);
    second.store.add(twoEntries('mid', Date.now() - 500));
    second.store.close();
    // an earlier gateway opened it again (session_log back, empty of what it did not write) and
    // stored 'mid' without its text: only what lacks text is made again
    // and it pruned a report (its text stays behind)
    older(`DELETE FROM report_log_text WHERE id = 'mid';
      INSERT INTO report_log_text (id, text) VALUES ('pruned', 'gone')`);
    const { store, imported } = ReportStore.open(dataDir);
    assert.equal(imported, 0);
    assert.equal(store.migrated, 1);
    const ids = (text: string) =>
      store
        .search({ limit: 10, text })
        .reports.map((r) => r.id)
        .sort();
    assert.deepEqual(ids('PRINTER'), ['mid', 'new', 'old']);
    assert.deepEqual(ids('nowhere'), []);
    assert.deepEqual(
      ids('on fire again'),
      ['mid', 'new', 'old'],
      'the separator character became a space',
    );
    assert.deepEqual(ids('status: active'), ['mid', 'new', 'old'], 'events as "type: detail"');
    assert.deepEqual(ids('printer is'), [], 'not across two entries');
    assert.deepEqual(ids('printer\u001eis'), [], 'not with the separator either');
    const tables = new Database(path.join(dataDir, 'reports.db'), { readonly: true });
    assert.equal(
      tables.prepare("SELECT name FROM sqlite_master WHERE name = 'session_log'").get(),
      undefined,
      'the old table is gone',
    );
    assert.equal(
      tables.prepare("SELECT id FROM report_log_text WHERE id = 'pruned'").get(),
      undefined,
      'text without its report is gone',
    );
    tables.close();
    store.close();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('addMany stores a batch in one transaction: all of it, or none when one report is bad', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-index-'));
  try {
    const { store: index } = ReportStore.open(dataDir);
    const batch = ['c1', 'c2', 'c3'].map((id, i) =>
      reportFile(id, Date.now() - i, 'Cy', 'tech-2', `192.0.2.${10 + i}`),
    );
    index.addMany(batch);
    assert.equal(index.size, 3);
    assert.equal(index.indexedCount, 3);
    assert.equal(index.commits, 1);
    assert.deepEqual(
      index
        .search({ limit: 10, technician: 'tech-2' })
        .reports.map((r) => r.id)
        .sort(),
      ['c1', 'c2', 'c3'],
    );
    // a report without a log cannot be indexed: the whole batch is rolled back
    const bad = { ...reportFile('d2', Date.now(), 'Di', 'tech-3', '192.0.2.20'), log: null };
    assert.throws(() =>
      index.addMany([reportFile('d1', Date.now(), 'Di', 'tech-3', '192.0.2.21'), bad as never]),
    );
    assert.equal(index.size, 3, 'nothing of the failed batch stayed');
    assert.equal(index.document('d1'), null);
    assert.equal(index.has('c2'), true);
    index.close();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a pass the store refuses is tried again until it is stored, the newest copy; a report it refuses does not hold the others back', async (t) => {
  const { gateway, dataDir } = await startGateway(t);
  const store = gateway.reportStore;
  const addMany = store.addMany.bind(store);
  // the store refuses every batch with a report of these sessions in it, as a full disk would
  const refused = new Set<string>();
  const tries = new Map<string, number>();
  let storing: { id: string; done: () => void } | null = null;
  store.addMany = (reports) => {
    for (const r of reports) tries.set(r.id, (tries.get(r.id) ?? 0) + 1);
    if (reports.some((r) => refused.has(r.id))) throw new Error('SQLITE_FULL: disk is full');
    if (storing !== null && reports.some((r) => r.id === storing!.id)) storing.done();
    addMany(reports);
  };
  const first = await activeSession(t, gateway, { customerName: 'Ann' });
  refused.add(first.sessionId);
  await first.tech.endSession(first.sessionId);
  await gateway.reportsWritten();
  assert.ok((tries.get(first.sessionId) ?? 0) >= 1, 'tried');
  assert.equal(storedReport(dataDir, first.sessionId), undefined);

  // a later report is stored although the refused one is in its batch
  const second = await activeSession(t, gateway, { customerName: 'Ben' });
  await second.tech.endSession(second.sessionId);
  await gateway.reportsWritten();
  assert.equal(storedReport(dataDir, second.sessionId)?.customer, 'Ben');
  assert.equal(storedReport(dataDir, first.sessionId), undefined);
  // refused again and again: never given up while the gateway runs; each refusal doubles its
  // wait (after these, many seconds)
  const before = tries.get(first.sessionId)!;
  for (let i = 0; i < 6; i++) await gateway.reportsWritten();
  assert.ok(tries.get(first.sessionId)! >= before + 6, 'tried at each pass');
  assert.equal(storedReport(dataDir, first.sessionId), undefined);

  // a new report does not wait for the refused one's backoff: stored at the next beat, the
  // refused one not tried meanwhile
  const waited = tries.get(first.sessionId);
  const third = await activeSession(t, gateway, { customerName: 'Cy' });
  const beat = new Promise<void>((resolve) => {
    storing = { id: third.sessionId, done: resolve };
  });
  await third.tech.endSession(third.sessionId);
  await beat;
  assert.equal(storedReport(dataDir, third.sessionId)?.customer, 'Cy');
  assert.equal(tries.get(first.sessionId), waited, 'the refused one waits for its backoff');

  // a note added while it waits replaces the queued copy: once the store takes it, the stored
  // report is the newest
  await first.tech.addNote('called back on Monday', first.sessionId);
  refused.clear();
  await gateway.reportsWritten();
  assert.deepEqual(
    storedReport(dataDir, first.sessionId)?.notes.map((n) => n.text),
    ['called back on Monday'],
  );
  assert.equal(storedReport(dataDir, first.sessionId)?.customer, 'Ann');
});
