/**
 * The operator audit log: one JSON line per admin action (who, what, when, from where, outcome)
 * appended to `<dataDir>/audit.log`, never rewritten. Each entry carries the SHA-256 of the one
 * before it (`prev`) and its own (`hash`, over the entry's other fields), so editing, removing or
 * reordering a line breaks the chain and `verifyAuditLog` names the first line that does not fit.
 * Writes are synchronous appends to a file opened with O_APPEND: an entry is on disk (in the
 * kernel's cache, `fdatasync`ed) before the action's answer goes out.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** `prev` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** What an action records; the log adds `seq`, `at`, `prev` and `hash`. */
export interface AuditRecord {
  /** Who: `admin` (or the operator name sent with the admin token), `technician:<name>`, `anonymous`. */
  readonly actor: string;
  /** What: `session.end`, `participant.kick`, `pin.revoke`, `gateway.drain`, `reports.search`... */
  readonly action: string;
  /** The object of the action: a session id, `<session>/<participant>`, a PIN's session, '' for none. */
  readonly target: string;
  /** From where: the client address (the real one behind a trusted proxy). */
  readonly address: string;
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The error code when refused, '' when done. */
  readonly code: string;
  /** Free text: the reason given, the query, the outcome. */
  readonly detail: string;
}

export interface AuditEntry extends AuditRecord {
  readonly seq: number;
  /** When: ISO 8601 of the gateway's wall clock. */
  readonly at: string;
  readonly prev: string;
  readonly hash: string;
}

/** The hash of an entry: SHA-256 over its JSON without `hash`, fields in a fixed order. */
export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const body = JSON.stringify([
    entry.seq,
    entry.at,
    entry.actor,
    entry.action,
    entry.target,
    entry.address,
    entry.status,
    entry.code,
    entry.detail,
    entry.prev,
  ]);
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

export type AuditVerdict =
  | { readonly ok: true; readonly entries: number; readonly lastHash: string }
  | {
      readonly ok: false;
      readonly entries: number;
      readonly line: number;
      readonly reason: string;
    };

/** Checks the chain of a whole log text: every line parses, follows its predecessor and hashes right. */
export function verifyAuditText(text: string): AuditVerdict {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let prev = GENESIS_HASH;
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(lines[i]!) as AuditEntry;
    } catch (err) {
      return { ok: false, entries: i, line, reason: `not JSON: ${(err as Error).message}` };
    }
    if (entry.seq !== line) {
      return { ok: false, entries: i, line, reason: `seq ${entry.seq}, expected ${line}` };
    }
    if (entry.prev !== prev) {
      return { ok: false, entries: i, line, reason: 'prev is not the hash of the line before' };
    }
    if (entryHash(entry) !== entry.hash) {
      return { ok: false, entries: i, line, reason: 'the entry does not match its hash' };
    }
    prev = entry.hash;
  }
  return { ok: true, entries: lines.length, lastHash: prev };
}

/** Checks the log file at `file`; a missing file is an empty, valid log. */
export function verifyAuditLog(file: string): AuditVerdict {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { ok: true, entries: 0, lastHash: GENESIS_HASH };
    }
    throw err;
  }
  return verifyAuditText(text);
}

export class AuditLog {
  readonly file: string;
  readonly #fd: number;
  readonly #now: () => number;
  #seq: number;
  #prev: string;

  private constructor(file: string, fd: number, seq: number, prev: string, now: () => number) {
    this.file = file;
    this.#fd = fd;
    this.#seq = seq;
    this.#prev = prev;
    this.#now = now;
  }

  /**
   * Opens (or creates, mode 0600) the log and checks its chain. A broken chain is not repaired:
   * new entries go on from the last line as it is, and the verdict tells the caller to warn.
   */
  static open(
    file: string,
    now: () => number = Date.now,
  ): { log: AuditLog; verdict: AuditVerdict } {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const verdict = verifyAuditLog(file);
    let seq = verdict.entries;
    let prev = verdict.ok ? verdict.lastHash : GENESIS_HASH;
    if (!verdict.ok) {
      // go on from the last line that parses, so the break stays visible at one place
      const last = lastEntry(file);
      seq = last?.seq ?? 0;
      prev = last?.hash ?? GENESIS_HASH;
    }
    const fd = fs.openSync(file, 'a', 0o600);
    return { log: new AuditLog(file, fd, seq, prev, now), verdict };
  }

  /** Appends one entry (on disk when this returns) and gives it back. */
  append(record: AuditRecord): AuditEntry {
    const unhashed = {
      seq: this.#seq + 1,
      at: new Date(this.#now()).toISOString(),
      actor: record.actor,
      action: record.action,
      target: record.target,
      address: record.address,
      status: record.status,
      code: record.code,
      detail: record.detail,
      prev: this.#prev,
    };
    const entry: AuditEntry = { ...unhashed, hash: entryHash(unhashed) };
    fs.writeSync(this.#fd, `${JSON.stringify(entry)}\n`);
    fs.fdatasyncSync(this.#fd);
    this.#seq = entry.seq;
    this.#prev = entry.hash;
    return entry;
  }

  /** The last `limit` entries, oldest first (the file is read; the log is small and rare). */
  tail(limit: number): AuditEntry[] {
    const lines = fs
      .readFileSync(this.file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    return lines.slice(-limit).map((l) => JSON.parse(l) as AuditEntry);
  }

  verify(): AuditVerdict {
    return verifyAuditLog(this.file);
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

function lastEntry(file: string): AuditEntry | null {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i] === '') continue;
    try {
      return JSON.parse(lines[i]!) as AuditEntry;
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
    }
  }
  return null;
}
