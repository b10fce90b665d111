/**
 * Reads a data directory's report store (`<dataDir>/reports.db`) the way an operator's tool
 * would: a read-only SQLite connection, beside a gateway that may still hold it open.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SessionReport } from '../../src/session/report.js';

/** The stored report of `sessionId`, or undefined when the store has none. */
export function storedReport(dataDir: string, sessionId: string): SessionReport | undefined {
  const db = new Database(path.join(dataDir, 'reports.db'), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    const row = db.prepare('SELECT body FROM report_documents WHERE id = ?').get(sessionId) as
      | { body: string }
      | undefined;
    return row === undefined ? undefined : (JSON.parse(row.body) as SessionReport);
  } finally {
    db.close();
  }
}
