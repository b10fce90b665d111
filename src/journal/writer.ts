/**
 * Appends records to one journal file, batched, with the write before the acknowledgement.
 *
 * Invariants:
 * - `append` and `appendLatest` are synchronous and never throw: they queue the record (encoded
 *   as its line, or held: below); everything appended in one turn of the event loop is one
 *   batch, written with ONE write at the end of the turn (setImmediate), so the file keeps the
 *   append order;
 * - `appendDurable` writes the queue and its record before it returns: a record whose
 *   acknowledgement is sent after it survives the process being killed (the page cache holds
 *   it; only the fsync policy decides what survives the host);
 * - writes are synchronous (a page-cache write of a batch costs microseconds and keeps the order
 *   trivially true); fsyncs are asynchronous and never block the event loop: `always` after
 *   every batch, `interval` at most once per period while there is something to sync, `off` never;
 * - a failed write or fsync is counted in `errors` and reported through `onError`; its records
 *   are lost (`lost`) and later appends try again; nothing is thrown at the caller;
 * - after `close` starts, appends are dropped (`dropped`) and reported once through `onError`;
 * - a `deferred` writer (a new session's journal) creates its file only when the session has
 *   lived `delayMs` (the fsync period), at its first durable append, flush or sync, or when it
 *   closes without being replaced: a session set up and ended within the period never touches
 *   the disk, its report replaces the journal. Until then its records are queued in memory, in
 *   order, and written as one batch when the file opens. When the delay ends the file is
 *   created off the event loop (creating a file costs this ext4 a third of a millisecond, and a
 *   burst of set-ups would wait behind each); a durable append, flush or close meanwhile opens
 *   it at once instead, and the late descriptor is closed (and a file created for a writer
 *   that closed as replaced meanwhile is removed);
 * - held records: a deferred writer without a copy kept elsewhere (`onLine`) keeps its records
 *   unencoded until its first write, and of its snapshots (`appendLatest`) only the newest, as
 *   the function that builds it, called at that write: a session that ends within the delay
 *   encodes nothing. The snapshot then describes the session at the write, which includes the
 *   records queued after its place (a restore reads the last snapshot and every log record, so
 *   the place does not matter). A held record that cannot be encoded, or a builder that throws,
 *   fails at the write (`errors`), alone; `discarded` and `lost` count held records, not the
 *   snapshots that newer ones replaced, and `pendingBytes` counts encoded lines only.
 * `onError` is called from append and from the write path: it must not throw.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FsyncPolicy } from './fsync-policy.js';
import { encodeRecord } from './record.js';

/** Builds a snapshot record when it is written (`appendLatest`). */
export type Snapshot = () => object;

export interface JournalWriterOptions {
  fsync: FsyncPolicy;
  /** Write, fsync and close failures, and the first append after close. Must not throw. */
  onError: (err: Error) => void;
  /** Truncate the file to this length first (drops a torn tail); ignored if already shorter. */
  truncateTo?: number;
  /** Called with each record's line as it is queued (a copy kept elsewhere). Must not throw. */
  onLine?: (line: Buffer) => void;
}

/** Raised (through onError) by the first append after close. */
export const JOURNAL_CLOSED = 'FERRY_JOURNAL_CLOSED';

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The fsync chain of a writer that has not fsynced yet: one settled promise for all. */
const SETTLED: Promise<void> = Promise.resolve();

const fsyncFd = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));

/** Per directory: the fsync running, and the one waiting behind it (shared by its callers). */
const directorySyncs = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

/**
 * fsyncs `dir` so that the files created in it survive a crash. Callers that come while one runs
 * share the next one: it starts after the running one ends, so it covers every file they
 * created, and a burst of new journals costs two directory fsyncs, not one each.
 */
function syncDirectory(dir: string): Promise<void> {
  const state = directorySyncs.get(dir);
  if (state === undefined) {
    const running = fsyncDirectoryOnce(dir).finally(() => advance(dir));
    directorySyncs.set(dir, { running, next: null });
    return running;
  }
  state.next ??= state.running.then(
    () => fsyncDirectoryOnce(dir),
    () => fsyncDirectoryOnce(dir),
  );
  return state.next;
}

/** The running directory fsync ended: the waiting one (if any) becomes the running one. */
function advance(dir: string): void {
  const state = directorySyncs.get(dir)!;
  if (state.next === null) {
    directorySyncs.delete(dir);
    return;
  }
  const running = state.next.finally(() => advance(dir));
  // callers already hold `state.next`; failures reach them through it
  running.catch(() => undefined);
  directorySyncs.set(dir, { running, next: null });
}

function fsyncDirectoryOnce(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(dir, fs.constants.O_RDONLY, (err, fd) => {
      if (err) return reject(err);
      fs.fsync(fd, (syncErr) => {
        fs.close(fd, () => (syncErr ? reject(syncErr) : resolve()));
      });
    });
  });
}

export class JournalWriter {
  readonly file: string;
  readonly fsyncPolicy: FsyncPolicy;
  /** Records written to the file. */
  records = 0;
  /** Bytes written to the file. */
  bytes = 0;
  /** write calls (one per batch unless the kernel wrote short). */
  writes = 0;
  /** Completed fsyncs. */
  fsyncs = 0;
  /** Failed writes, fsyncs, encodes, snapshot builds and closes. */
  errors = 0;
  /** Records appended after close. */
  dropped = 0;
  /** Records whose batch write failed. */
  lost = 0;

  /** The open file, or -1 while a deferred writer has not created it yet. */
  #fd: number;
  readonly #onError: (err: Error) => void;
  readonly #onLine: ((line: Buffer) => void) | undefined;
  /** A deferred writer's file opens when this fires (or sooner: see `deferred`). */
  #openTimer: NodeJS.Timeout | null = null;
  /** The asynchronous creation of a deferred writer's file, while the open itself runs. */
  #opening: Promise<void> | null = null;
  /** The same creation until all of it has ended: a late descriptor closed, its file unlinked. */
  #settling: Promise<void> | null = null;
  #openDelayMs = 0;
  /** Records a deferred writer closed unwritten: its session's report replaced them. */
  discarded = 0;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  /**
   * A deferred writer without `onLine`, before its file exists: the records, unencoded, and the
   * newest snapshot's builder, in append order (encoded into `#queue` when the file opens).
   */
  #held: (object | Snapshot)[] = [];
  /** Where the newest snapshot's builder is in `#held`, or -1. */
  #snapshotAt = -1;
  #immediate: NodeJS.Immediate | null = null;
  /** Written since the last fsync started. */
  #dirty = false;
  #fsyncTimer: NodeJS.Timeout | null = null;
  /** fsyncs run one after another; flush (always) and close wait for the last. */
  #fsyncChain: Promise<void> = SETTLED;
  #closed = false;
  #closing: Promise<void> | null = null;
  #fdClosed = false;

  private constructor(file: string, fd: number, options: JournalWriterOptions) {
    this.file = file;
    this.#fd = fd;
    this.fsyncPolicy = options.fsync;
    this.#onError = options.onError;
    this.#onLine = options.onLine;
  }

  /**
   * Opens `file` for appending, creating it with mode 0o600 (its directory must exist). When it
   * was created and the policy is not `off`, the directory is fsynced too, in the background, so
   * the new file survives a crash. Throws when the file cannot be opened.
   */
  static openSync(file: string, options: JournalWriterOptions): JournalWriter {
    const { writer, created } = JournalWriter.#openFd(file, options);
    if (created && options.fsync.kind !== 'off') void writer.#syncDirectory();
    return writer;
  }

  /**
   * A writer for a new `file` that creates it only when needed (see the invariants above):
   * after `delayMs` from its first record, or at a durable append, flush, sync or a close that
   * keeps it. A file that cannot be created then is reported through `onError`.
   */
  static deferred(file: string, options: JournalWriterOptions, delayMs: number): JournalWriter {
    const writer = new JournalWriter(file, -1, options);
    writer.#openDelayMs = delayMs;
    return writer;
  }

  /** The file exists (always, except for a deferred writer before it needed one). */
  get opened(): boolean {
    return this.#fd >= 0;
  }

  /** Opens a deferred writer's file now; false when that failed (reported, records lost). */
  #ensureOpen(): boolean {
    if (this.#fd >= 0) return true;
    if (this.#openTimer !== null) {
      clearTimeout(this.#openTimer);
      this.#openTimer = null;
    }
    try {
      const { fd, created } = JournalWriter.#createFd(this.file);
      this.#fd = fd;
      if (created && this.fsyncPolicy.kind !== 'off') void this.#syncDirectory();
      return true;
    } catch (err) {
      this.lost += this.#pending;
      this.#dropQueue();
      this.#fail(asError(err));
      return false;
    }
  }

  /** `openSync`, with the directory fsync of a new file awaited. */
  static async open(file: string, options: JournalWriterOptions): Promise<JournalWriter> {
    const { writer, created } = JournalWriter.#openFd(file, options);
    if (created && options.fsync.kind !== 'off') await writer.#syncDirectory();
    return writer;
  }

  static #openFd(
    file: string,
    options: JournalWriterOptions,
  ): { writer: JournalWriter; created: boolean } {
    const { fd, created } = JournalWriter.#createFd(file);
    const writer = new JournalWriter(file, fd, options);
    try {
      if (options.truncateTo !== undefined && fs.fstatSync(fd).size > options.truncateTo) {
        // only ever shrink: truncating up would append zero bytes
        fs.ftruncateSync(fd, options.truncateTo);
        writer.#dirty = true;
      }
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return { writer, created };
  }

  /** Opens `file` for appending: a new file (the usual case) in one call, else the existing one. */
  static #createFd(file: string): { fd: number; created: boolean } {
    try {
      return { fd: fs.openSync(file, 'ax', 0o600), created: true };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return { fd: fs.openSync(file, 'a', 0o600), created: false };
    }
  }

  /** Bytes of encoded lines appended and not yet written (held records are not encoded yet). */
  get pendingBytes(): number {
    return this.#queuedBytes;
  }

  /** Records appended and not yet written. */
  get #pending(): number {
    return this.#queue.length + this.#held.length;
  }

  /** Records are held unencoded: a deferred file not created yet, and no copy kept elsewhere. */
  get #holding(): boolean {
    return this.#fd < 0 && this.#onLine === undefined;
  }

  /** Queues a record; it is written at the end of this turn with the others. */
  append(record: object): void {
    if (this.#queueRecord(record)) this.#scheduleWrite();
  }

  /**
   * Queues a snapshot: a record that the next one replaces (a session's state). It is built now
   * and queued like `append`, except while the writer holds its records: then only the newest
   * snapshot is kept, at the place of its call, and it is built at the next write (see the
   * invariants). A builder that throws is reported through `onError`, like a record with no JSON
   * form.
   */
  appendLatest(build: Snapshot): void {
    if (this.#closed) {
      this.#dropClosed(); // without building it
      return;
    }
    if (!this.#holding) {
      const record = this.#build(build);
      if (record !== null) this.append(record);
      return;
    }
    if (this.#snapshotAt >= 0) this.#held.splice(this.#snapshotAt, 1);
    this.#snapshotAt = this.#held.length;
    this.#held.push(build);
    this.#scheduleWrite();
  }

  #scheduleWrite(): void {
    if (this.#fd < 0) {
      // a deferred file: created once the session has lived the delay
      this.#openTimer ??= setTimeout(JournalWriter.#openDue, this.#openDelayMs, this);
      return;
    }
    if (this.#immediate === null) this.#immediate = setImmediate(JournalWriter.#turnEnd, this);
  }

  /** Writes the queue and `record` now, before returning (what is acknowledged next survives). */
  appendDurable(record: object): void {
    if (this.#queueRecord(record) && this.#ensureOpen()) this.#writeQueue();
  }

  /** Resolves once every record appended before the call is written (and fsynced under `always`). */
  flush(): Promise<void> {
    if (this.#pending > 0 && this.#ensureOpen()) this.#writeQueue();
    return this.#fsyncChain;
  }

  /**
   * The timer and end-of-turn callbacks take the writer as their argument: one function for all
   * writers, not a closure each (memory per idle session: docs/benchmarks.md).
   */
  static #openDue(writer: JournalWriter): void {
    writer.#onOpenDue();
  }

  static #turnEnd(writer: JournalWriter): void {
    writer.#onTurnEnd();
  }

  #onOpenDue(): void {
    this.#openTimer = null;
    if (this.#closed || this.#pending === 0 || this.#fd >= 0 || this.#opening) return;
    let resolveOpening: () => void = () => undefined;
    const opening = new Promise<void>((resolve) => {
      resolveOpening = resolve;
    });
    const opened = (): void => {
      if (this.#settling === opening) this.#settling = null;
      resolveOpening();
    };
    this.#opening = opening;
    this.#settling = opening;
    JournalWriter.#createFdAsync(this.file, (err, fd, created) => {
      this.#opening = null;
      if (this.#fd >= 0 || this.#fdClosed) {
        // opened meanwhile (a durable append), or closed as replaced: this descriptor goes,
        // and so does a file nobody wrote (`settled` resolves once both are done)
        if (err !== null) return opened();
        const unlink = created && this.#fd < 0;
        // this open created the file the other one found: its directory entry is synced here
        if (created && this.#fd >= 0 && this.fsyncPolicy.kind !== 'off') {
          void this.#syncDirectory();
        }
        fs.close(fd, () => (unlink ? fs.unlink(this.file, () => opened()) : opened()));
        return;
      }
      opened();
      if (this.#openTimer !== null) {
        clearTimeout(this.#openTimer);
        this.#openTimer = null;
      }
      if (err !== null) {
        this.lost += this.#pending;
        this.#dropQueue();
        this.#fail(err);
        return;
      }
      this.#fd = fd;
      if (created && this.fsyncPolicy.kind !== 'off') void this.#syncDirectory();
      if (this.#pending > 0) this.#writeQueue();
    });
  }

  /** Resolves once a deferred writer's file creation, if one is running, has ended. */
  settled(): Promise<void> {
    return this.#settling ?? Promise.resolve();
  }

  /** `#createFd` off the event loop. */
  static #createFdAsync(
    file: string,
    done: (err: Error | null, fd: number, created: boolean) => void,
  ): void {
    fs.open(file, 'ax', 0o600, (err, fd) => {
      if (err === null) return done(null, fd, true);
      if (err.code !== 'EEXIST') return done(err, -1, false);
      fs.open(file, 'a', 0o600, (again, fd2) => done(again, fd2, false));
    });
  }

  /** Writes what is queued, then fsyncs now whatever the policy. A no-op once closed. */
  async sync(): Promise<void> {
    await this.flush();
    if (this.#fdClosed || this.#fd < 0) return;
    await this.#fsyncNow();
  }

  /**
   * Writes what is queued, fsyncs unless the policy is `off` (or `fsync` is false: a file about
   * to be replaced, whose last records are as durable as the period promised), and closes the
   * file. Idempotent.
   */
  close(fsync = true): Promise<void> {
    this.#closing ??= this.#closeNow(fsync);
    return this.#closing;
  }

  async #closeNow(fsync: boolean): Promise<void> {
    if (this.#openTimer !== null) {
      clearTimeout(this.#openTimer);
      this.#openTimer = null;
    }
    if (this.#fd < 0 && !fsync) {
      // never created, and replaced: nothing needs the disk (a creation running now is undone
      // before the close resolves, so no empty journal outlives it)
      this.discarded += this.#pending;
      this.#dropQueue();
      this.#closed = true;
      this.#fdClosed = true;
      if (this.#settling !== null) await this.#settling;
      return;
    }
    if (this.#pending > 0 && this.#ensureOpen()) this.#writeQueue();
    this.#closed = true;
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    if (this.#fsyncTimer !== null) {
      clearTimeout(this.#fsyncTimer);
      this.#fsyncTimer = null;
    }
    if (fsync && this.fsyncPolicy.kind !== 'off' && this.#dirty) await this.#fsyncNow();
    // a sync() called meanwhile may have queued one more fsync: let it finish on an open fd
    let chain: Promise<void>;
    do {
      chain = this.#fsyncChain;
      await chain;
    } while (chain !== this.#fsyncChain);
    this.#fdClosed = true;
    if (this.#fd < 0) return;
    try {
      fs.closeSync(this.#fd);
    } catch (err) {
      this.#fail(asError(err));
    }
  }

  #queueRecord(record: object): boolean {
    if (this.#closed) {
      this.#dropClosed();
      return false;
    }
    if (this.#holding) {
      this.#held.push(record);
      return true;
    }
    return this.#encode(record);
  }

  /** Encodes a record into the queue; false (reported) when it has no JSON form. */
  #encode(record: object): boolean {
    let line: Buffer;
    try {
      line = encodeRecord(record);
    } catch (err) {
      this.#fail(asError(err));
      return false;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#onLine?.(line);
    return true;
  }

  /** A record appended after close: counted, and reported the first time. */
  #dropClosed(): void {
    this.dropped++;
    if (this.dropped === 1) {
      const err = new Error(`journal ${this.file} is closed; record dropped`);
      this.#fail(Object.assign(err, { code: JOURNAL_CLOSED }));
    }
  }

  /** Builds a snapshot; null (reported) when its builder threw. */
  #build(build: Snapshot): object | null {
    try {
      return build();
    } catch (err) {
      this.#fail(asError(err));
      return null;
    }
  }

  #dropQueue(): void {
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#held = [];
    this.#snapshotAt = -1;
  }

  #onTurnEnd(): void {
    this.#immediate = null;
    if (this.#pending > 0 && this.#fd >= 0) this.#writeQueue();
  }

  #writeQueue(): void {
    if (this.#held.length > 0) {
      const held = this.#held;
      this.#held = [];
      this.#snapshotAt = -1;
      for (const r of held) {
        const record = typeof r === 'function' ? this.#build(r as Snapshot) : r;
        if (record !== null) this.#encode(record);
      }
    }
    if (this.#queue.length === 0) return;
    const chunks = this.#queue;
    const size = this.#queuedBytes;
    this.#queue = [];
    this.#queuedBytes = 0;
    const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    try {
      let offset = 0;
      while (offset < size) {
        // position null: at the end (the file is opened with O_APPEND)
        const written = fs.writeSync(this.#fd, buf, offset, size - offset, null);
        this.writes++;
        if (written === 0) throw new Error(`journal ${this.file}: write made no progress`);
        offset += written;
      }
    } catch (err) {
      this.lost += chunks.length;
      this.#fail(asError(err));
      return;
    }
    this.records += chunks.length;
    this.bytes += size;
    this.#dirty = true;
    if (this.fsyncPolicy.kind === 'always') void this.#fsyncNow();
    else if (this.fsyncPolicy.kind === 'interval') this.#armFsyncTimer(this.fsyncPolicy.ms);
  }

  #armFsyncTimer(ms: number): void {
    if (this.#fsyncTimer !== null || this.#closed) return;
    this.#fsyncTimer = setTimeout(() => {
      this.#fsyncTimer = null;
      if (this.#dirty && !this.#closed) void this.#fsyncNow();
    }, ms);
    this.#fsyncTimer.unref();
  }

  /** Queues an fsync after any running one; resolves when it is done (failures reported). */
  #fsyncNow(): Promise<void> {
    this.#fsyncChain = this.#fsyncChain.then(async () => {
      if (this.#fdClosed) return;
      this.#dirty = false;
      try {
        await fsyncFd(this.#fd);
        this.fsyncs++;
      } catch (err) {
        this.#dirty = true;
        this.#fail(asError(err));
      }
    });
    return this.#fsyncChain;
  }

  async #syncDirectory(): Promise<void> {
    try {
      await syncDirectory(path.dirname(this.file));
    } catch (err) {
      this.#fail(asError(err));
    }
  }

  #fail(err: Error): void {
    this.errors++;
    this.#onError(err);
  }
}
