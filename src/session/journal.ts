/**
 * Live sessions in journals (docs/operations.md, "Restarts and crashes"): one append-only file
 * per session under `<dataDir>/journal/`, so a gateway started again on the same data directory
 * takes its sessions back. What a journal holds, in order:
 * - `session`: the id, creation time and label (first record);
 * - `log`: every entry of the session log (chat and events) as it is appended, with its seq and
 *   hash; a chat message is written before anybody is told of it (its echo is its
 *   acknowledgement), events with the end of the turn;
 * - `state`: a snapshot of what the log does not say, written at the end of a turn in which the
 *   status, the membership, consent or control changed: status and its machine, participants
 *   (resume tokens as SHA-256 only), grants, PIN, monitors, history, notes;
 * - `kept`: the gateway stopped (SIGTERM, close) with the session live, to resume on the next
 *   start; `end`: the session ended (its report is being written; the file goes once it is).
 *
 * Restoring (`restore`) reads every journal, rebuilds each session that did not end with its
 * places away, and hands it to the registry, which settles it like lost connections: Reconnecting,
 * then Offline and the normal timers unless its participants resume with their tokens.
 *
 * What a restart does not carry over (documented there too): SCREEN frames and frames held for
 * absent participants, collaborators, invitations and pending transfers, open shells and file
 * transfers, requests waiting for the customer's answer, relay counters, sessions still waiting
 * in a team queue.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { FsyncPolicy } from '../journal/fsync-policy.js';
import { decodeRecords } from '../journal/record.js';
import type { JournalStore } from '../journal/store.js';
import type { JournalWriter } from '../journal/writer.js';
import type { SessionListener } from './listeners.js';
import type { ClientRecord, SeatIdentity } from './seat.js';
import type {
  ClientSummary,
  MonitorRecord,
  NoteRecord,
  ParticipantRecord,
  Session,
  StatusRecord,
} from './session.js';
import { GENESIS, type LogEntry } from './session-log.js';
import type { RecordingEntry } from './shells.js';
import type { Status } from './states.js';
import type { SummaryData } from './summary.js';

/** Journal records of this layout carry `v: 1`. */
export const JOURNAL_VERSION = 1;

export interface SeatState extends SeatIdentity {
  readonly permissions: readonly string[];
  readonly client: ClientRecord | null;
}

/** What a `state` record holds: everything a restart needs that the log does not say. */
export interface SessionState {
  readonly status: Status;
  readonly statusBeforeDisruption: Status | null;
  readonly everPickedUp: boolean;
  readonly timeoutKind: string | null;
  readonly statusSinceMs: number;
  readonly lastActionMs: number;
  readonly attached: boolean;
  readonly awaitingRebootDrop: boolean;
  readonly grants: number;
  /** Who had control: the owner, or nobody (collaborators are not carried over). */
  readonly ownerControls: boolean;
  readonly pin: string;
  readonly pinExpiresAtMs: number;
  readonly customerLabel: string;
  readonly customerInfo: ClientSummary | null;
  readonly customerAddress: string;
  readonly sysinfoCategories: readonly string[];
  readonly screenSharing: boolean;
  readonly selectedMonitor: number;
  readonly monitors: readonly MonitorRecord[];
  readonly ownerIsQueue: boolean;
  readonly owner: SeatState;
  readonly customer: SeatState | null;
  readonly history: readonly StatusRecord[];
  readonly participants: readonly ParticipantRecord[];
  readonly notes: readonly NoteRecord[];
  readonly recordings: readonly RecordingEntry[];
  readonly shellsOpened: number;
  /** Session.jumpClientId; absent in journals written before it was kept. */
  readonly jumpClientId?: string;
}

export type JournalRecord =
  | {
      readonly k: 'session';
      readonly v: number;
      readonly id: string;
      readonly createdAtMs: number;
      readonly customerLabel: string;
    }
  | { readonly k: 'log'; readonly e: LogEntry }
  | ({ readonly k: 'state'; readonly atMs: number } & SessionState)
  | { readonly k: 'kept'; readonly atMs: number; readonly reason: string }
  | {
      readonly k: 'end';
      readonly atMs: number;
      readonly reason: string;
      /** The summary as the session was before its end took its places (absent in older journals). */
      readonly summary?: SummaryData;
      /** It had been restored after a restart, and whether anybody came back since. */
      readonly restart?: EndedRestart | null;
    };

/** A restored session's restart, as its report says it (report.ts `restart`). */
export interface EndedRestart {
  readonly restoredAtMs: number;
  readonly interrupted: boolean;
}

/** A session as its journal left it, ready for the registry to rebuild. */
export interface JournaledSession {
  readonly id: string;
  readonly createdAtMs: number;
  readonly state: SessionState;
  /** Every log entry the journal holds, in order. */
  readonly log: readonly LogEntry[];
  /** The last record written (ms), the best guess of when the gateway stopped. */
  readonly lastAtMs: number;
}

/** Why a journal was not restored. */
export type Unrestorable =
  | { readonly id: string; readonly skipped: 'queued' | 'empty' }
  | {
      readonly id: string;
      readonly skipped: 'ended';
      /** What the journal says of the ended session, when it has its head and a state. */
      readonly ended: EndedJournal | null;
    }
  | { readonly id: string; readonly corrupt: string };

/** An ended session as its journal left it: enough to rebuild its report (report.ts). */
export interface EndedJournal {
  readonly id: string;
  readonly createdAtMs: number;
  /** The state the session ended in (the snapshot written with the end). */
  readonly state: SessionState;
  /** Every log entry the journal holds, in order. */
  readonly log: readonly LogEntry[];
  readonly endedAtMs: number;
  readonly endReason: string;
  /** What the `end` record kept; null in journals written before it did. */
  readonly summary: SummaryData | null;
  readonly restart: EndedRestart | null;
}

export interface JournalCounters {
  /** Sessions journaled since start, and journals open now. */
  opened: number;
  open: number;
  /** Journals that could not be opened (the session runs without one). */
  openFailures: number;
  /** Write, fsync or close failures. */
  errors: number;
  /** Sessions rebuilt at start, and journals that were not (ended, unreadable). */
  restored: number;
  notRestored: number;
  /** Corrupt lines and torn tails skipped while reading journals. */
  corruptRecords: number;
}

export interface SessionJournalsOptions {
  readonly store: JournalStore;
  readonly fsync: FsyncPolicy;
  readonly logger: Logger;
  /**
   * A copy of every journal line kept elsewhere (the deployment's shared directory, for
   * failover), resolving once it is kept; a chat message's echo waits for it.
   */
  readonly mirror?: ((sessionId: string, line: Buffer) => Promise<void>) | null;
}

/** One session's journal: the writer, and the snapshot due at the end of the turn. */
class SessionJournal {
  readonly writer: JournalWriter;
  readonly session: Session;
  readonly #due: Set<SessionJournal>;
  readonly #schedule: () => void;
  /** The copy of the newest line in the directory (a deployment's), or undefined (none). */
  readonly #lastCopy: () => Promise<void> | undefined;

  constructor(
    writer: JournalWriter,
    session: Session,
    due: Set<SessionJournal>,
    schedule: () => void,
    lastCopy: () => Promise<void> | undefined,
  ) {
    this.writer = writer;
    this.session = session;
    this.#due = due;
    this.#schedule = schedule;
    this.#lastCopy = lastCopy;
  }

  changed(): void {
    if (this.#due.has(this)) return;
    this.#due.add(this);
    this.#schedule();
  }

  /**
   * The snapshot due is written now instead of at the end of the turn (something is about to
   * acknowledge the change); returns the copy of the newest line, if the journal has one.
   */
  keep(): Promise<void> | undefined {
    if (this.session.ended) return undefined;
    if (this.#due.delete(this)) this.writeState();
    return this.#lastCopy();
  }

  /**
   * Appends a `state` record of the session as it is now (a journal that holds its records
   * builds only the newest, when it is written).
   */
  writeState(): void {
    this.writer.appendLatest(this.#state);
  }

  readonly #state = (): JournalRecord => ({
    k: 'state',
    atMs: this.session.log.lastTimeMs,
    ...snapshot(this.session),
  });

  spilledEntries(beforeSeq: number): LogEntry[] {
    // Cold path (a late joiner, a history request past the window): the batch still queued is
    // written first, then the file is read back.
    void this.writer.flush();
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.writer.file);
    } catch (err) {
      this.session.logger.error({ err }, 'cannot read the session journal back');
      return [];
    }
    const entries: LogEntry[] = [];
    for (const r of decodeRecords(buf).records as JournalRecord[]) {
      if (r.k === 'log' && r.e.seq < beforeSeq) entries.push(r.e);
    }
    return entries;
  }
}

export class SessionJournals implements SessionListener {
  readonly counters: JournalCounters = {
    opened: 0,
    open: 0,
    openFailures: 0,
    errors: 0,
    restored: 0,
    notRestored: 0,
    corruptRecords: 0,
  };
  readonly #store: JournalStore;
  readonly #fsync: FsyncPolicy;
  readonly #logger: Logger;
  readonly #mirror: ((sessionId: string, line: Buffer) => Promise<void>) | null;
  readonly #journals = new Map<Session, SessionJournal>();
  /**
   * Ended sessions whose deferred journal never reached the disk (they lived less than the
   * delay): their `remove` has no file to unlink. Each id leaves at its `remove`.
   */
  readonly #neverWritten = new Set<string>();
  readonly #due = new Set<SessionJournal>();
  /** Bytes of complete lines of each journal read by `restore` (a torn tail is cut on reopen). */
  readonly #validBytes = new Map<string, number>();
  #immediate: NodeJS.Immediate | null = null;

  constructor(options: SessionJournalsOptions) {
    this.#store = options.store;
    this.#fsync = options.fsync;
    this.#logger = options.logger;
    this.#mirror = options.mirror ?? null;
    this.#store.initSync();
  }

  get dir(): string {
    return this.#store.dir;
  }

  /** Bytes written to the open journals, and writes. */
  get writtenBytes(): number {
    let bytes = 0;
    for (const j of this.#journals.values()) bytes += j.writer.bytes;
    return bytes;
  }

  /** A new session: its journal opens, and every log entry and change goes to it. */
  created(session: Session): void {
    if (!this.#open(session)) return;
    this.#append(session, {
      k: 'session',
      v: JOURNAL_VERSION,
      id: session.id,
      createdAtMs: session.createdAtMs,
      customerLabel: session.customerLabel,
    });
    for (const e of session.log.entries) this.#append(session, { k: 'log', e });
    this.#journals.get(session)?.changed();
  }

  /** A session rebuilt from its journal: it appends to the same file. */
  restored(session: Session): void {
    this.#open(session);
    this.#journals.get(session)?.changed();
  }

  /** The session ended: the last snapshot and the end are written; `remove` once reported. */
  ended(session: Session, summary: SummaryData): void {
    const journal = this.#journals.get(session);
    if (journal === undefined) return;
    this.#due.delete(journal);
    journal.writer.appendLatest(() => ({
      k: 'state',
      atMs: session.endedAtMs,
      ...snapshot(session),
    }));
    journal.writer.append({
      k: 'end',
      atMs: session.endedAtMs,
      reason: session.endReason,
      summary,
      restart:
        session.restoredAtMs > 0
          ? { restoredAtMs: session.restoredAtMs, interrupted: !session.resumedSinceRestore }
          : null,
    });
    void this.#close(session, journal);
  }

  /** The session's report is on disk: its journal is no longer needed. */
  async remove(sessionId: string): Promise<void> {
    // a short session's journal was never created: no unlink (a syscall and an ENOENT error)
    if (this.#neverWritten.delete(sessionId)) return;
    try {
      await this.#store.remove(sessionId);
    } catch (err) {
      this.#logger.error({ err, session: sessionId }, 'cannot remove a session journal');
    }
  }

  /**
   * The gateway stops with `session` live (SIGTERM, close): the last snapshot and a `kept`
   * record are written and synced, and the session resumes on the next start.
   */
  async keep(session: Session, reason: string, nowMs: number): Promise<void> {
    const journal = this.#journals.get(session);
    if (journal === undefined) return;
    this.#due.delete(journal);
    journal.writer.appendLatest(() => ({ k: 'state', atMs: nowMs, ...snapshot(session) }));
    journal.writer.append({ k: 'kept', atMs: nowMs, reason });
    await journal.writer.sync();
    await this.#close(session, journal);
  }

  /**
   * Reads every journal of the directory: the sessions to rebuild, and those that are not
   * (ended: their report was written or is written now by the caller; unreadable ones are kept
   * on disk for an operator and reported).
   */
  async restore(): Promise<{ sessions: JournaledSession[]; skipped: Unrestorable[] }> {
    const sessions: JournaledSession[] = [];
    const skipped: Unrestorable[] = [];
    for (const id of await this.#store.list()) {
      let read: ReturnType<typeof decodeRecords>;
      try {
        read = decodeRecords(await fs.promises.readFile(this.#store.fileFor(id)));
      } catch (err) {
        skipped.push({ id, corrupt: (err as Error).message });
        continue;
      }
      this.counters.corruptRecords += read.corrupt + (read.tornTail ? 1 : 0);
      if (read.corrupt > 0 || read.tornTail) {
        this.#logger.warn(
          { session: id, corrupt: read.corrupt, tornTail: read.tornTail },
          'session journal: damaged records skipped',
        );
      }
      this.#validBytes.set(id, read.validBytes);
      const found = parse(id, read.records as JournalRecord[]);
      if ('state' in found) sessions.push(found);
      else skipped.push(found);
    }
    this.counters.notRestored += skipped.length;
    return { sessions, skipped };
  }

  /**
   * The lines of a live session's journal as they are now (what is queued written first), for
   * a copy made again; empty when it has none or it cannot be read.
   */
  linesOf(session: Session): Buffer[] {
    const journal = this.#journals.get(session);
    if (journal === undefined) return [];
    // a snapshot due at the end of this turn is written first: a copy made of these lines
    // replaces the store's, and would leave out a snapshot the directory's hook writes before
    // the replacement (SharedDirectory.beforeTurnWrites)
    void journal.keep();
    void journal.writer.flush();
    let buf: Buffer;
    try {
      buf = fs.readFileSync(journal.writer.file);
    } catch (err) {
      // a deferred journal not created yet has nothing on disk; anything else is logged
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        session.logger.error({ err }, 'cannot read the session journal back');
      }
      return [];
    }
    const lines: Buffer[] = [];
    let start = 0;
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, start)) {
      lines.push(buf.subarray(start, i + 1));
      start = i + 1;
    }
    return lines;
  }

  /**
   * Takes a session over from another gateway's journal (its lines, as the shared directory
   * kept them): written as this gateway's journal file, then read as `restore` reads one.
   */
  async adopt(id: string, lines: readonly Buffer[]): Promise<JournaledSession | Unrestorable> {
    const bytes = Buffer.concat(lines);
    await fs.promises.writeFile(this.#store.fileFor(id), bytes, { mode: 0o600 });
    const read = decodeRecords(bytes);
    this.counters.corruptRecords += read.corrupt + (read.tornTail ? 1 : 0);
    this.#validBytes.set(id, read.validBytes);
    return parse(id, read.records as JournalRecord[]);
  }

  /**
   * The log entries of a closed journal before `beforeSeq` (a report's spilled entries), and the
   * hash the first of them follows (the genesis value when they start at seq 1).
   */
  async readLog(
    sessionId: string,
    beforeSeq: number,
  ): Promise<{ sessions: string; older: LogEntry[] }> {
    const read = decodeRecords(await fs.promises.readFile(this.#store.fileFor(sessionId)));
    const older: LogEntry[] = [];
    for (const r of read.records as JournalRecord[]) {
      if (r.k === 'log' && r.e.seq < beforeSeq) older.push(r.e);
    }
    return { sessions: older[0]?.seq === 1 ? GENESIS : '', older };
  }

  /**
   * Writes the snapshots due now instead of at the end of the turn: the shared directory calls
   * it just before it sends a turn's journal lines, so a snapshot goes with them
   * (`SharedDirectory.beforeTurnWrites`).
   */
  writeDueSnapshots(): void {
    this.#writeSnapshots();
  }

  /** Writes what every open journal has queued, and fsyncs it (a drain's last step). */
  async flushAll(): Promise<void> {
    this.#writeSnapshots();
    await Promise.all([...this.#journals.values()].map((j) => j.writer.sync()));
  }

  #open(session: Session): boolean {
    let writer: JournalWriter;
    const truncateTo = this.#validBytes.get(session.id);
    this.#validBytes.delete(session.id);
    const mirror = this.#mirror;
    /** The copy of the line queued last (the writer calls `onLine` as it queues each). */
    let mirrored: Promise<void> | undefined;
    try {
      writer = this.#store.create(session.id, {
        ...(truncateTo !== undefined ? { truncateTo } : {}),
        ...(mirror !== null
          ? {
              onLine: (line: Buffer) => {
                mirrored = mirror(session.id, line);
              },
            }
          : {}),
        fsync: this.#fsync,
        onError: (err) => {
          this.counters.errors++;
          session.logger.error({ err }, 'session journal write failed');
        },
      });
    } catch (err) {
      this.counters.openFailures++;
      session.logger.error({ err }, 'cannot open a session journal: the session is not journaled');
      return false;
    }
    const journal = new SessionJournal(
      writer,
      session,
      this.#due,
      this.#scheduleSnapshots,
      () => mirrored,
    );
    this.#journals.set(session, journal);
    this.counters.opened++;
    this.counters.open++;
    session.journal = journal;
    session.log.journaled = true;
    session.log.onJournal = (e) => {
      // chat is acknowledged by its echo, sent right after: it is written first, and with a
      // mirror the echo waits until the copy is kept too
      if (e.kind === 'chat') {
        writer.appendDurable({ k: 'log', e });
        return mirrored;
      }
      writer.append({ k: 'log', e });
      journal.changed();
      return undefined;
    };
    return true;
  }

  #append(session: Session, record: JournalRecord): void {
    this.#journals.get(session)?.writer.append(record);
  }

  async #close(session: Session, journal: SessionJournal): Promise<void> {
    this.#journals.delete(session);
    this.counters.open--;
    session.journal = null;
    session.log.onJournal = null;
    session.log.journaled = false;
    // the report replaces the file within milliseconds: an fsync of it now would be wasted,
    // unless every batch is to be synced
    const fsync = this.#fsync.kind === 'always';
    // entries the log spilled are only here: written (not synced) for the report to read back
    if (session.log.spilled > 0) void journal.writer.flush();
    // a deferred file not created yet is discarded by a close without fsync
    if (!journal.writer.opened && !fsync) this.#neverWritten.add(session.id);
    await journal.writer.close(fsync);
  }

  readonly #scheduleSnapshots = (): void => {
    this.#immediate ??= setImmediate(() => {
      this.#immediate = null;
      this.#writeSnapshots();
    });
  };

  #writeSnapshots(): void {
    if (this.#due.size === 0) return;
    const due = [...this.#due];
    this.#due.clear();
    for (const journal of due) {
      if (!journal.session.ended) journal.writeState();
    }
  }
}

/** What a journal's `state` record keeps of `session` now. */
export function snapshot(session: Session): SessionState {
  const m = session.machine;
  return {
    status: m.status,
    statusBeforeDisruption: m.statusBeforeDisruption,
    everPickedUp: m.everPickedUp,
    timeoutKind: m.timeoutKind,
    statusSinceMs: session.statusSinceMs,
    lastActionMs: session.lastActionMs,
    attached: session.attached,
    awaitingRebootDrop: session.awaitingRebootDrop,
    grants: session.grants,
    ownerControls: session.controllerSeat !== null && session.controllerSeat === session.owner,
    pin: session.pin,
    pinExpiresAtMs: session.pinExpiresAtMs,
    customerLabel: session.customerLabel,
    customerInfo: session.customerInfo,
    customerAddress: session.customerAddress,
    sysinfoCategories: session.sysinfoCategories,
    screenSharing: session.screenSharing,
    selectedMonitor: session.selectedMonitor,
    monitors: session.monitors,
    ownerIsQueue: session.ownerIsQueue,
    owner: seatState(session.owner),
    customer: session.customerSeat === null ? null : seatState(session.customerSeat),
    history: session.history,
    participants: session.participants,
    notes: session.notes,
    recordings: session.recordings,
    shellsOpened: session.shellsOpened,
    jumpClientId: session.jumpClientId,
  };
}

function seatState(seat: {
  identity(): SeatIdentity;
  permissions: ReadonlySet<string>;
  client: ClientRecord | null;
}): SeatState {
  return { ...seat.identity(), permissions: [...seat.permissions], client: seat.client };
}

/** The session a journal's records describe, or why there is none to rebuild. */
export function parse(
  id: string,
  records: readonly JournalRecord[],
): JournaledSession | Unrestorable {
  let head: Extract<JournalRecord, { k: 'session' }> | null = null;
  let state: SessionState | null = null;
  const log: LogEntry[] = [];
  let lastAtMs = 0;
  for (const r of records) {
    if (typeof r !== 'object' || r === null) continue;
    switch (r.k) {
      case 'session':
        if (r.v !== JOURNAL_VERSION) return { id, corrupt: `journal version ${r.v}` };
        head = r;
        lastAtMs = Math.max(lastAtMs, r.createdAtMs);
        break;
      case 'log':
        log.push(r.e);
        lastAtMs = Math.max(lastAtMs, r.e.timeMs);
        break;
      case 'state': {
        const { k: _k, atMs, ...rest } = r;
        state = rest;
        lastAtMs = Math.max(lastAtMs, atMs);
        break;
      }
      case 'kept':
        lastAtMs = Math.max(lastAtMs, r.atMs);
        break;
      case 'end': {
        const ended =
          head === null || head.id !== id || state === null
            ? null
            : {
                id,
                createdAtMs: head.createdAtMs,
                state,
                log,
                endedAtMs: r.atMs,
                endReason: r.reason,
                summary: r.summary ?? null,
                restart: r.restart ?? null,
              };
        return { id, skipped: 'ended', ended };
      }
    }
  }
  if (head === null || head.id !== id) return { id, corrupt: 'no session record for this id' };
  if (state === null) return { id, skipped: 'empty' };
  if (state.ownerIsQueue) return { id, skipped: 'queued' };
  return { id, createdAtMs: head.createdAtMs, state, log, lastAtMs };
}
