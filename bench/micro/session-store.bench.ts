/**
 * What a session costs the disk when it is set up and torn down (the churn scenario): its
 * journal and its report. A journal file per session cost a create and an unlink, and two
 * fsyncs (the file at close, its directory after the create): measured here at 1.2 ms and 1.7 ms
 * of wall time and about 200 µs of CPU together, on the threadpool. A journal file is now created
 * only once a session has lived one fsync period (src/journal/writer.ts, `deferred`). The report
 * store commits a pass of reports in one SQLite transaction (src/store/report-store.ts,
 * `addMany`). The files go to the OS temporary directory, where the bench's gateways keep their
 * data directories.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newSessionId } from '../../src/session/operations.js';
import type { SessionReport } from '../../src/session/report.js';
import { ReportStore } from '../../src/store/report-store.js';
import type { MicroSuite } from './suite.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-micro-store-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** About what a short session's journal holds: a dozen records. */
const JOURNAL = Buffer.from(`${'0badc0de {"k":"log","e":{"seq":1,"text":"status"}}\n'.repeat(12)}`);
const shared = fs.openSync(path.join(dir, 'shared.journal'), 'a', 0o600);
let n = 0;

const index = ReportStore.open(path.join(dir, 'reports')).store;
process.on('exit', () => index.close());
// a store each for the two kinds of id: neither case runs on a table the other one grew. Reports
// are stored as their ids are made, as in a churn of short sessions (sessions that end in
// another order than they began spread a batch's ids over their lifetimes)
const byTime = ReportStore.open(path.join(dir, 'by-time')).store;
const byRandom = ReportStore.open(path.join(dir, 'by-random')).store;
process.on('exit', () => {
  byTime.close();
  byRandom.close();
});

function report(id: string): SessionReport {
  const now = new Date().toISOString();
  return {
    id,
    createdAt: now,
    endedAt: now,
    durationMs: 50,
    status: 'CLOSED_BY_TECHNICIAN',
    endReason: 'done',
    owner: 'tech-1',
    creator: 'tech-1',
    customer: 'Ann',
    participants: [],
    summary: null,
    log: Array.from({ length: 12 }, (_, k) => ({
      seq: k + 1,
      timeMs: Date.now(),
      kind: 'event' as const,
      audience: 'all' as const,
      type: 'status',
      actor: 'tech-1',
      detail: 'Active -> Closed by technician',
      hash: '0'.repeat(64),
    })),
  } as unknown as SessionReport;
}

export const suites: MicroSuite[] = [
  {
    name: "a short session's journal on disk",
    op: 'one session',
    cases: [
      {
        name: 'no file: records batched into an open one',
        fn: () => {
          fs.writeSync(shared, JOURNAL);
          return ++n;
        },
      },
      {
        name: 'a file per session: create, write, close, unlink',
        fn: () => {
          const file = path.join(dir, `s${++n}.journal`);
          const fd = fs.openSync(file, 'ax', 0o600);
          fs.writeSync(fd, JOURNAL);
          fs.closeSync(fd);
          fs.unlinkSync(file);
          return n;
        },
      },
      {
        // what every session's journal did before: its directory fsynced once it was created,
        // the file fsynced at close (the gateway runs both on libuv's threadpool: CPU, not
        // event-loop time; this case measures them inline, wall time)
        name: '... and fsync the file and its directory',
        naive: true,
        fn: () => {
          const file = path.join(dir, `f${++n}.journal`);
          const fd = fs.openSync(file, 'ax', 0o600);
          const d = fs.openSync(dir, 'r');
          fs.fsyncSync(d);
          fs.closeSync(d);
          fs.writeSync(fd, JOURNAL);
          fs.fsyncSync(fd);
          fs.closeSync(fd);
          fs.unlinkSync(file);
          return n;
        },
      },
    ],
  },
  {
    name: 'report store (SQLite, WAL): 16 reports of 12 log entries each',
    op: '16 reports',
    cases: [
      {
        name: 'one transaction for the 16',
        fn: () => {
          const batch = Array.from({ length: 16 }, () => report(`r${++n}`));
          index.addMany(batch);
          return n;
        },
      },
      {
        name: 'one transaction per report',
        naive: true,
        fn: () => {
          for (let k = 0; k < 16; k++) index.add(report(`r${++n}`));
          return n;
        },
      },
    ],
  },
  {
    name: 'report store (SQLite, WAL): 16 reports by their session ids',
    op: '16 reports',
    cases: [
      {
        name: 'ids in creation order (newSessionId: time, then random)',
        fn: () => {
          byTime.addMany(Array.from({ length: 16 }, () => report(newSessionId())));
          return ++n;
        },
      },
      {
        name: 'random ids (96 random bits)',
        naive: true,
        fn: () => {
          byRandom.addMany(
            Array.from({ length: 16 }, () => report(randomBytes(12).toString('base64url'))),
          );
          return ++n;
        },
      },
    ],
  },
];
