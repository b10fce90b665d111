/**
 * The reports of ended sessions: one embedded SQLite database (`<dataDir>/reports.db`,
 * better-sqlite3, WAL journal, so a crash leaves the last committed state) with each report whole
 * (its JSON document), and for searches a row per report, the technicians of each report and the
 * text of its session log entries, one value. Reports arrive in batches, one transaction each: a
 * batch costs one commit where a file per report cost a new inode each, and a report writes
 * 3 rows and one per technician, where a row per log entry made it about eighteen
 * (docs/benchmarks.md, churn).
 *
 * Report files under `<dataDir>/reports/` (what gateways before the store wrote) are imported at
 * every open when the store lacks them, and deleted with their rows by retention. Searches filter
 * by technician, customer, customer address, date range and text in the log (within one entry),
 * newest first, with an opaque cursor.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SessionReport } from '../session/report.js';

/**
 * The fields of a session report the store reads for its search rows (src/session/report.ts
 * writes them).
 */
export interface IndexableReport
  extends Pick<
    SessionReport,
    | 'id'
    | 'status'
    | 'endReason'
    | 'createdAt'
    | 'endedAt'
    | 'durationMs'
    | 'creator'
    | 'owner'
    | 'customer'
  > {
  readonly participants: readonly { readonly name: string; readonly role: string }[];
  readonly log: readonly {
    readonly seq: number;
    readonly timeMs: number;
    readonly kind: string;
    readonly type?: string;
    readonly actor?: string;
    readonly senderName?: string;
    readonly detail?: string;
    readonly text?: string;
  }[];
  readonly summary: { readonly customerIp: string; readonly computerName: string };
}

/** One search hit: the report's summary row; the whole report is GET /api/v1/sessions/{id}/report. */
export interface ReportRow {
  readonly id: string;
  readonly createdAt: string;
  readonly endedAt: string | null;
  readonly durationMs: number;
  readonly status: string;
  readonly endReason: string | null;
  readonly owner: string;
  readonly creator: string;
  readonly technicians: readonly string[];
  readonly customer: string;
  readonly computerName: string;
  readonly address: string;
  readonly logEntries: number;
}

export interface ReportQuery {
  /** A technician of the session (owner, creator or collaborator), case-insensitive. */
  readonly technician?: string;
  /** The customer's name (or the label the technician gave), case-insensitive. */
  readonly customer?: string;
  /** The customer's address as the gateway saw it. */
  readonly address?: string;
  /** Sessions created at or after this time (ms). */
  readonly fromMs?: number;
  /** Sessions created before this time (ms). */
  readonly toMs?: number;
  /** Sessions whose log (chat or events) contains this text, case-insensitive. */
  readonly text?: string;
  readonly limit: number;
  /** From the previous page's `nextCursor`. */
  readonly cursor?: string;
}

export interface ReportPage {
  readonly reports: ReportRow[];
  /** Give it back as `cursor` for the next page; null on the last one. */
  readonly nextCursor: string | null;
}

/** A cursor that does not decode: the caller answers 400. */
export class CursorError extends Error {}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS reports (
  id TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL,
  ended_ms INTEGER,
  duration_ms INTEGER NOT NULL,
  status TEXT NOT NULL,
  end_reason TEXT,
  owner TEXT NOT NULL,
  creator TEXT NOT NULL,
  technicians TEXT NOT NULL,
  customer TEXT NOT NULL COLLATE NOCASE,
  computer TEXT NOT NULL,
  address TEXT NOT NULL,
  log_entries INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_created ON reports (created_ms, id);
CREATE INDEX IF NOT EXISTS reports_by_customer ON reports (customer, created_ms, id);
CREATE INDEX IF NOT EXISTS reports_by_address ON reports (address, created_ms, id);
CREATE TABLE IF NOT EXISTS report_technicians (
  name TEXT NOT NULL COLLATE NOCASE,
  created_ms INTEGER NOT NULL,
  report_id TEXT NOT NULL,
  PRIMARY KEY (name, created_ms, report_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS report_technicians_by_report ON report_technicians (report_id);
CREATE TABLE IF NOT EXISTS report_documents (
  id TEXT PRIMARY KEY,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS report_log_text (
  id TEXT PRIMARY KEY,
  text TEXT NOT NULL
) WITHOUT ROWID;
`;

/**
 * Between the texts of a report's log entries in `report_log_text`: a control character
 * no entry keeps (it is replaced by a space when the text is made), so a search, which never
 * contains it either, matches within one entry only, as it did against a row per entry.
 */
const ENTRY_SEPARATOR = '\u001e';

/** What a text search reads of a report's log: each entry's text, one entry after another. */
function logText(report: IndexableReport): string {
  let text = '';
  for (const e of report.log) {
    const entry = e.kind === 'chat' ? (e.text ?? '') : `${e.type ?? ''}: ${e.detail ?? ''}`;
    if (text !== '') text += ENTRY_SEPARATOR;
    text += entry.replaceAll(ENTRY_SEPARATOR, ' ');
  }
  return text;
}

interface Row {
  id: string;
  created_ms: number;
  ended_ms: number | null;
  duration_ms: number;
  status: string;
  end_reason: string | null;
  owner: string;
  creator: string;
  technicians: string;
  customer: string;
  computer: string;
  address: string;
  log_entries: number;
}

/** Documents read at a time while their log text is made at open. */
const MIGRATE_BATCH = 500;

/**
 * Brings a store other gateways wrote to in line, at every open, in one transaction:
 * - every stored document without its log text gets it, made from the document itself: a store
 *   from before `report_log_text` (a row per entry in `session_log`), or one an older gateway
 *   opened again in between (it makes `session_log` anew and writes no text);
 * - text left by reports such a gateway pruned goes;
 * - the earlier layout's rows (`session_log`) are dropped.
 * A search row whose document is gone (an index from before documents, its report file deleted)
 * loses its text with `session_log`: that report cannot be served either. Returns how many
 * documents were given their text, and the ids of those whose JSON did not parse (no text).
 */
function migrate(db: Database.Database): { filled: number; unreadable: string[] } {
  const missing = db.prepare(
    `SELECT d.id, d.body FROM report_documents d
     WHERE d.id > ? AND NOT EXISTS (SELECT 1 FROM report_log_text t WHERE t.id = d.id)
     ORDER BY d.id LIMIT ${MIGRATE_BATCH}`,
  );
  const insert = db.prepare('INSERT INTO report_log_text (id, text) VALUES (?, ?)');
  const oldTable = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'session_log'")
    .get();
  const unreadable: string[] = [];
  const filled = db.transaction(() => {
    let filled = 0;
    let after = '';
    for (;;) {
      // a batch at a time: a store from before the text table has every document to read
      const rows = missing.all(after) as { id: string; body: string }[];
      for (const row of rows) {
        let text = '';
        try {
          const report = JSON.parse(row.body) as Partial<IndexableReport> | null;
          if (Array.isArray(report?.log)) text = logText(report as IndexableReport);
        } catch {
          // a document that does not parse (the store wrote it: it never should) keeps no text
          // and is counted, rather than stop the gateway's start
          unreadable.push(row.id);
        }
        insert.run(row.id, text);
        filled++;
      }
      if (rows.length < MIGRATE_BATCH) break;
      after = rows.at(-1)!.id;
    }
    db.exec('DELETE FROM report_log_text WHERE id NOT IN (SELECT id FROM report_documents)');
    if (oldTable !== undefined) db.exec('DROP TABLE session_log');
    return filled;
  })();
  return { filled, unreadable };
}

const REPORT_FILE = /^([A-Za-z0-9_-]{1,64})\.json$/;
/** Rows deleted by one retention pass at most; the next pass takes the rest. */
const PRUNE_BATCH = 5000;

const toRow = (r: Row): ReportRow => ({
  id: r.id,
  createdAt: new Date(r.created_ms).toISOString(),
  endedAt: r.ended_ms === null ? null : new Date(r.ended_ms).toISOString(),
  durationMs: r.duration_ms,
  status: r.status,
  endReason: r.end_reason,
  owner: r.owner,
  creator: r.creator,
  technicians: JSON.parse(r.technicians) as string[],
  customer: r.customer,
  computerName: r.computer,
  address: r.address,
  logEntries: r.log_entries,
});

function encodeCursor(createdMs: number, id: string): string {
  return Buffer.from(JSON.stringify([createdMs, id])).toString('base64url');
}

function decodeCursor(cursor: string): [number, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string'
    ) {
      return [value[0] as number, value[1] as string];
    }
  } catch (err) {
    throw new CursorError(`cursor does not decode: ${(err as Error).message}`);
  }
  throw new CursorError('cursor does not decode');
}

/** The shape the store reads of a report file (anything else is counted as unreadable). */
function isReport(value: unknown, id: string): value is IndexableReport {
  const r = value as Partial<Record<keyof IndexableReport, unknown>> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    r.id === id &&
    typeof r.createdAt === 'string' &&
    !Number.isNaN(Date.parse(r.createdAt)) &&
    Array.isArray(r.participants) &&
    Array.isArray(r.log) &&
    typeof r.summary === 'object' &&
    r.summary !== null
  );
}

/** Technicians of a report: owner, creator and every technician participant, each once. */
function techniciansOf(report: IndexableReport): string[] {
  const names = new Set<string>([report.owner, report.creator]);
  for (const p of report.participants) if (p.role === 'technician') names.add(p.name);
  names.delete('');
  return [...names];
}

export interface StoreOpenResult {
  readonly store: ReportStore;
  /** True when the database file was missing (it was created, with any report files imported). */
  readonly rebuilt: boolean;
  /** Report files imported at open (those whose report the store lacked). */
  readonly imported: number;
  /** Report files that could not be read or parsed (left out, counted). */
  readonly unreadable: number;
}

export class ReportStore {
  readonly file: string;
  /** Where gateways before the store wrote report files (imported at open). */
  readonly reportsDir: string;
  readonly #db: Database.Database;
  readonly #upsert: (reports: readonly IndexableReport[]) => void;
  readonly #has: Database.Statement<[string], { id: string }>;
  readonly #document: Database.Statement<[string], { body: string }>;
  /** Reports given their log text at open (a store an earlier gateway wrote to; see `migrate`). */
  readonly migrated: number;
  /** Documents found unparsable while their log text was made at open (they keep none). */
  readonly unparsable: readonly string[];
  /** Reports stored since open. */
  indexedCount = 0;
  /** Transactions that stored reports since open (a batch is one). */
  commits = 0;

  private constructor(file: string, reportsDir: string) {
    this.file = file;
    this.reportsDir = reportsDir;
    const db = new Database(file);
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    const { filled, unreadable } = migrate(db);
    this.migrated = filled;
    this.unparsable = unreadable;
    this.#has = db.prepare('SELECT id FROM report_documents WHERE id = ?');
    this.#document = db.prepare('SELECT body FROM report_documents WHERE id = ?');
    const insertDocument = db.prepare(
      'INSERT OR REPLACE INTO report_documents (id, body) VALUES (?, ?)',
    );
    const insertLogText = db.prepare(
      'INSERT OR REPLACE INTO report_log_text (id, text) VALUES (?, ?)',
    );
    const insertReport = db.prepare(
      `INSERT OR REPLACE INTO reports (id, created_ms, ended_ms, duration_ms, status, end_reason,
         owner, creator, technicians, customer, computer, address, log_entries)
       VALUES (@id, @created_ms, @ended_ms, @duration_ms, @status, @end_reason, @owner, @creator,
         @technicians, @customer, @computer, @address, @log_entries)`,
    );
    const dropTechnicians = db.prepare('DELETE FROM report_technicians WHERE report_id = ?');
    const insertTechnician = db.prepare(
      'INSERT OR IGNORE INTO report_technicians (name, created_ms, report_id) VALUES (?, ?, ?)',
    );
    const upsertOne = (report: IndexableReport) => {
      insertDocument.run(report.id, JSON.stringify(report));
      insertLogText.run(report.id, logText(report));
      const createdMs = Date.parse(report.createdAt);
      const technicians = techniciansOf(report);
      insertReport.run({
        id: report.id,
        created_ms: createdMs,
        ended_ms: report.endedAt === null ? null : Date.parse(report.endedAt),
        duration_ms: report.durationMs,
        status: report.status,
        end_reason: report.endReason,
        owner: report.owner,
        creator: report.creator,
        technicians: JSON.stringify(technicians),
        customer: report.customer,
        computer: report.summary?.computerName ?? '',
        address: report.summary?.customerIp ?? '',
        log_entries: report.log.length,
      });
      dropTechnicians.run(report.id);
      for (const name of technicians) insertTechnician.run(name, createdMs, report.id);
    };
    // one transaction for many reports: a commit costs more than a report's rows
    this.#upsert = db.transaction((reports: readonly IndexableReport[]) => {
      for (const report of reports) upsertOne(report);
    });
  }

  /**
   * Opens `<dataDir>/reports.db` (created when missing) and imports the report files of
   * `<dataDir>/reports/` it lacks.
   */
  static open(dataDir: string): StoreOpenResult {
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'reports.db');
    const rebuilt = !fs.existsSync(file);
    // the reports hold chat, names and addresses: owner only (SQLite gives its WAL and shared
    // memory files the database file's mode); a store made by an older gateway is tightened
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      try {
        fs.chmodSync(f, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const store = new ReportStore(file, path.join(dataDir, 'reports'));
    const { imported, unreadable } = store.#catchUp();
    return { store, rebuilt, imported, unreadable };
  }

  /** Imports every report file whose report is not in the store yet. */
  #catchUp(): { imported: number; unreadable: number } {
    let names: string[];
    try {
      names = fs.readdirSync(this.reportsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { imported: 0, unreadable: 0 };
      throw err;
    }
    let imported = 0;
    let unreadable = 0;
    const batch = this.#db.transaction((files: string[]) => {
      for (const name of files) {
        const id = REPORT_FILE.exec(name)?.[1];
        if (id === undefined || this.#has.get(id) !== undefined) continue;
        // a file that cannot be read, parsed or stored is counted and left out alone (a nested
        // transaction is a savepoint: its failure undoes that report only)
        try {
          const report = JSON.parse(fs.readFileSync(path.join(this.reportsDir, name), 'utf8'));
          if (!isReport(report, id)) throw new TypeError(`${name} is not a session report`);
          this.#upsert([report]);
          imported++;
        } catch {
          unreadable++;
        }
      }
    });
    batch(names);
    return { imported, unreadable };
  }

  /** Adds or replaces one report (a note added after the end rewrites it). */
  add(report: IndexableReport): void {
    this.addMany([report]);
  }

  /** Adds or replaces several reports, whole, in one transaction (all or none). */
  addMany(reports: readonly IndexableReport[]): void {
    if (reports.length === 0) return;
    this.#upsert(reports);
    this.commits++;
    this.indexedCount += reports.length;
  }

  /** The stored report of `id` as its JSON document, or null when there is none. */
  document(id: string): string | null {
    return this.#document.get(id)?.body ?? null;
  }

  /** A report of `id` is stored. */
  has(id: string): boolean {
    return this.#has.get(id) !== undefined;
  }

  get size(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM reports').get() as { n: number }).n;
  }

  /** Newest first; throws `CursorError` for a cursor that does not decode. */
  search(query: ReportQuery): ReportPage {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const byTechnician = query.technician !== undefined && query.technician !== '';
    // with a technician, its table drives the search (name, created_ms, report_id)
    const created = byTechnician ? 't.created_ms' : 'r.created_ms';
    const id = byTechnician ? 't.report_id' : 'r.id';
    if (byTechnician) {
      where.push('t.name = ?');
      args.push(query.technician!);
    }
    if (query.customer !== undefined && query.customer !== '') {
      where.push('r.customer = ?');
      args.push(query.customer);
    }
    if (query.address !== undefined && query.address !== '') {
      where.push('r.address = ?');
      args.push(query.address);
    }
    if (query.fromMs !== undefined) {
      where.push(`${created} >= ?`);
      args.push(query.fromMs);
    }
    if (query.toMs !== undefined) {
      where.push(`${created} < ?`);
      args.push(query.toMs);
    }
    if (query.text !== undefined && query.text !== '') {
      // within one entry: no entry's text has the separator, so a search with it finds none
      if (query.text.includes(ENTRY_SEPARATOR)) where.push('0');
      else {
        where.push(
          'EXISTS (SELECT 1 FROM report_log_text l WHERE l.id = r.id AND instr(lower(l.text), lower(?)) > 0)',
        );
        args.push(query.text);
      }
    }
    if (query.cursor !== undefined && query.cursor !== '') {
      const [ms, after] = decodeCursor(query.cursor);
      where.push(`(${created} < ? OR (${created} = ? AND ${id} < ?))`);
      args.push(ms, ms, after);
    }
    const from = byTechnician
      ? 'report_technicians t JOIN reports r ON r.id = t.report_id'
      : 'reports r';
    const sql = `SELECT r.* FROM ${from}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${created} DESC, ${id} DESC LIMIT ?`;
    args.push(query.limit + 1);
    const rows = this.#db.prepare(sql).all(...args) as Row[];
    const more = rows.length > query.limit;
    if (more) rows.length = query.limit;
    const last = rows.at(-1);
    return {
      reports: rows.map(toRow),
      nextCursor: more && last !== undefined ? encodeCursor(last.created_ms, last.id) : null,
    };
  }

  /**
   * Retention: deletes the reports, their rows, documents and log text (and an imported report
   * file) of sessions created before `beforeMs` (at most a batch per call); gives back the ids
   * removed.
   */
  prune(beforeMs: number): string[] {
    const ids = (
      this.#db
        .prepare('SELECT id FROM reports WHERE created_ms < ? ORDER BY created_ms LIMIT ?')
        .all(beforeMs, PRUNE_BATCH) as { id: string }[]
    ).map((r) => r.id);
    if (ids.length === 0) return ids;
    const dropTechnicians = this.#db.prepare('DELETE FROM report_technicians WHERE report_id = ?');
    const dropReport = this.#db.prepare('DELETE FROM reports WHERE id = ?');
    const dropDocument = this.#db.prepare('DELETE FROM report_documents WHERE id = ?');
    const dropLogText = this.#db.prepare('DELETE FROM report_log_text WHERE id = ?');
    this.#db.transaction(() => {
      for (const id of ids) {
        dropTechnicians.run(id);
        dropReport.run(id);
        dropDocument.run(id);
        dropLogText.run(id);
      }
    })();
    for (const id of ids) fs.rmSync(path.join(this.reportsDir, `${id}.json`), { force: true });
    return ids;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
