/**
 * The running record of a session: chat messages and gateway events in one ordered list, each
 * with a gateway sequence number and server time. Joiners receive its history; at close it
 * becomes the session report. Bounded: past `maxEntries` the oldest entries are dropped and
 * counted, never silently.
 *
 * Every entry has an audience: `all`, or `technicians` for private chat and for events the
 * customer is not told about (transfers, invitations, notes). `visibleTo` is the one filter the
 * customer's history goes through. `onAppend` (set by the session) publishes each new entry.
 *
 * Append-only and tamper-evident: each entry carries `hash`, the SHA-256 of the previous entry's
 * hash and this entry's content, so the report's log can be checked (`verifyLog`): an entry
 * edited, removed or reordered after the fact breaks the chain from that entry on. Entries
 * dropped from the front (the bound) leave `chainStart`, the hash the first kept entry follows.
 */
import { hash } from 'node:crypto';

/** Who may see an entry. */
export type Audience = 'all' | 'technicians';

/** Event types only technicians see (spec session-tools B3/F5: never forwarded to the customer). */
const TECHNICIAN_EVENTS: ReadonlySet<string> = new Set([
  'transfer',
  'entry',
  'note',
  'pin_expired',
  'relay_choice',
]);

export type LogEntry =
  | {
      readonly seq: number;
      readonly timeMs: number;
      readonly kind: 'chat';
      readonly audience: 'all' | 'technicians';
      readonly senderId: string;
      readonly senderName: string;
      readonly senderRole: string;
      readonly text: string;
      readonly hash: string;
    }
  | {
      readonly seq: number;
      readonly timeMs: number;
      readonly kind: 'event';
      readonly audience: Audience;
      readonly type: string;
      readonly actor: string;
      readonly detail: string;
      readonly hash: string;
    };

type NewEntry = LogEntry extends infer E
  ? E extends LogEntry
    ? Omit<E, 'seq' | 'timeMs' | 'hash'>
    : never
  : never;

/**
 * The gateway-wide bound on retained log text (`--retained-bytes`): every live log adds what it
 * holds in memory. Past the limit, the log that grows spills its oldest entries to its journal
 * (they stay readable there) down to a small window; a log without a journal drops them.
 */
export class RetainedBudget {
  readonly limit: number;
  /** Bytes (approximate: characters plus a constant per entry) held by live logs. */
  used = 0;
  /** Entries spilled to journals, and their bytes. */
  spills = 0;
  spilledBytes = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get over(): boolean {
    return this.limit > 0 && this.used > this.limit;
  }
}

/** Entries a log keeps in memory however tight the budget (late joiners' recent context). */
export const MIN_WINDOW = 32;

/**
 * A journaled log keeps only its newest entries in memory, up to this many and
 * JOURNALED_WINDOW_CHARS: the rest is read back from the journal (a late joiner, a report).
 * Catch-ups after a resume ask for what follows their newest entry, which this window holds.
 */
export const JOURNALED_WINDOW = 128;
export const JOURNALED_WINDOW_CHARS = 64 * 1024;

/** What a journal holds of a log to rebuild it. */
export interface LogState {
  /** The entries of the window, oldest first (those before it are in the journal or dropped). */
  readonly entries: readonly LogEntry[];
  readonly dropped: number;
  /** Entries before the window that the journal holds. */
  readonly spilled: number;
  readonly chainStart: string;
}

export class SessionLog {
  readonly #entries: LogEntry[] = [];
  readonly #maxEntries: number;
  readonly #maxChars: number;
  readonly #budget: RetainedBudget | null;
  #chars = 0;
  #nextSeq = 1;
  #dropped = 0;
  #spilled = 0;
  /** The hash of the newest entry (the chain's head); the genesis value before any entry. */
  #head = GENESIS;
  #chainStart = GENESIS;
  /** A journal holds every entry: entries leaving the window are spilled, not dropped. */
  journaled = false;
  /**
   * Called with every entry appended, first (the journal writes it before anyone is told). A
   * promise returned says the entry is not durable yet (a deployment's shared copy of the
   * journal): its publication, and every later one, waits for it, in order.
   */
  onJournal: ((entry: LogEntry) => Promise<void> | undefined) | null = null;
  /** The publication of entries held for durability, or null when none is held. */
  #publishing: Promise<void> | null = null;
  /** Called with every entry appended (the session publishes it to its participants). */
  onAppend: ((entry: LogEntry) => void) | null = null;
  /** Called when a publication held for durability threw (it is logged; later ones go on). */
  onPublishFailed: ((err: unknown, entry: LogEntry) => void) | null = null;

  /** Bounded by entry count and by text size (chat can be 16 K characters a message). */
  constructor(
    maxEntries = 10_000,
    maxChars = 2 * 1024 * 1024,
    budget: RetainedBudget | null = null,
  ) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
    this.#budget = budget;
  }

  append(entry: NewEntry, timeMs: number = Date.now()): LogEntry {
    const seq = this.#nextSeq++;
    const full = sealed(entry, seq, timeMs, chainHash(this.#head, seq, timeMs, entry));
    this.#head = full.hash;
    this.#entries.push(full);
    this.#grow(size(full));
    const durable = this.onJournal?.(full);
    const journaled = this.journaled;
    const maxEntries = journaled ? Math.min(this.#maxEntries, JOURNALED_WINDOW) : this.#maxEntries;
    const maxChars = journaled ? Math.min(this.#maxChars, JOURNALED_WINDOW_CHARS) : this.#maxChars;
    while (
      this.#entries.length > 1 &&
      (this.#entries.length > maxEntries || this.#chars > maxChars)
    ) {
      this.#shift();
    }
    const budget = this.#budget;
    if (budget?.over) {
      while (budget.over && this.#entries.length > MIN_WINDOW) this.#shift();
    }
    if (durable === undefined && this.#publishing === null) this.onAppend?.(full);
    else this.#publishAfter(durable, full);
    return full;
  }

  /**
   * The publication of the entries held for durability (the newest one's, which follows every
   * earlier one), or null when none is held. What acknowledges an entry to a participant (a
   * chat's echo) goes after it: a survivor that takes the session over then has the entry.
   */
  get held(): Promise<void> | null {
    return this.#publishing;
  }

  /** Publishes `entry` once `durable` settled and every entry held before it is published. */
  #publishAfter(durable: Promise<void> | undefined, entry: LogEntry): void {
    // a copy that could not be made does not silence the session: it is published anyway
    const ready = Promise.all([this.#publishing, durable?.catch(() => undefined)]);
    const publishing: Promise<void> = ready.then(() => {
      if (this.#publishing === publishing) this.#publishing = null;
      // a publication that throws must not reject the chain every later one waits on
      try {
        this.onAppend?.(entry);
      } catch (err) {
        this.onPublishFailed?.(err, entry);
      }
    });
    this.#publishing = publishing;
  }

  /** Puts back what a journal held (a restarted gateway); appends then follow the chain. */
  restore(state: LogState, nextSeq: number, head: string): void {
    for (const e of state.entries) {
      this.#entries.push(e);
      this.#grow(size(e));
    }
    this.#dropped = state.dropped;
    this.#spilled = state.spilled;
    this.#chainStart = state.chainStart;
    this.#nextSeq = nextSeq;
    this.#head = head;
  }

  /** The session ended: its window no longer counts against the budget. */
  release(): void {
    if (this.#budget !== null) this.#budget.used -= this.#chars;
    this.#chars = 0;
  }

  #grow(bytes: number): void {
    this.#chars += bytes;
    if (this.#budget !== null) this.#budget.used += bytes;
  }

  /** The oldest entry leaves the window: spilled (the journal has it) or dropped. */
  #shift(): void {
    const gone = this.#entries.shift()!;
    const bytes = size(gone);
    this.#chainStart = gone.hash;
    this.#chars -= bytes;
    const budget = this.#budget;
    if (budget !== null) budget.used -= bytes;
    if (this.journaled) {
      this.#spilled++;
      if (budget !== null) {
        budget.spills++;
        budget.spilledBytes += bytes;
      }
    } else this.#dropped++;
  }

  /** A gateway event; private to technicians when its type says so, or when `audience` does. */
  event(
    type: string,
    actor: string,
    detail: string,
    timeMs?: number,
    audience: Audience = TECHNICIAN_EVENTS.has(type) ? 'technicians' : 'all',
  ): LogEntry {
    return this.append({ kind: 'event', audience, type, actor, detail }, timeMs);
  }

  get entries(): readonly LogEntry[] {
    return this.#entries;
  }

  /** The entries a participant may see: everything for technicians, `all` ones for the customer. */
  visibleTo(technician: boolean): LogEntry[] {
    return technician ? [...this.#entries] : this.#entries.filter((e) => e.audience === 'all');
  }

  /** The newest of `entries` within this log's own bounds (entry count and text size). */
  fitting(entries: readonly LogEntry[]): readonly LogEntry[] {
    let chars = 0;
    let from = entries.length;
    while (from > 0 && entries.length - from < this.#maxEntries) {
      const bytes = size(entries[from - 1]!);
      if (chars + bytes > this.#maxChars && from < entries.length) break;
      chars += bytes;
      from--;
    }
    return entries.slice(from);
  }

  /** Entries dropped from the front because the log reached its bound (none while journaled). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Entries before the window that only the journal holds. */
  get spilled(): number {
    return this.#spilled;
  }

  /** The sequence number the next entry gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The hash of the newest entry. */
  get head(): string {
    return this.#head;
  }

  /** The hash the first kept entry follows (GENESIS unless entries were dropped). */
  get chainStart(): string {
    return this.#chainStart;
  }
}

/** The hash a log's first entry follows. */
export const GENESIS = '0'.repeat(64);

/**
 * The entry as the log keeps it, built field by field rather than by spreading `e`: V8 gives each
 * object made by a spread in optimized code a map of its own (about 290 bytes of hidden class
 * and descriptors an entry, measured in a heap snapshot of 1000 idle sessions: 6 maps each),
 * where literals of one layout share one. Key order is the spread's, so JSON output is unchanged.
 */
function sealed(e: NewEntry, seq: number, timeMs: number, hash: string): LogEntry {
  return e.kind === 'chat'
    ? {
        kind: e.kind,
        audience: e.audience,
        senderId: e.senderId,
        senderName: e.senderName,
        senderRole: e.senderRole,
        text: e.text,
        seq,
        timeMs,
        hash,
      }
    : {
        kind: e.kind,
        audience: e.audience,
        type: e.type,
        actor: e.actor,
        detail: e.detail,
        seq,
        timeMs,
        hash,
      };
}

/** SHA-256 of the previous hash and the entry's content (its fields in a fixed order). */
function chainHash(previous: string, seq: number, timeMs: number, e: NewEntry): string {
  const fields =
    e.kind === 'chat'
      ? [seq, timeMs, e.kind, e.audience, e.senderId, e.senderName, e.senderRole, e.text]
      : [seq, timeMs, e.kind, e.audience, e.type, e.actor, e.detail];
  // one-shot: the same digest as update(previous).update(fields), without a Hash object per
  // entry (0.4 against 1.2 us an entry, and no native handle for the collector)
  return hash('sha256', previous + JSON.stringify(fields), 'hex');
}

/**
 * Checks a log's hash chain (a report's `log` and `logChainStart`): the seq of the first entry
 * whose hash does not follow, or null when the whole log is intact.
 */
export function verifyLog(
  entries: readonly LogEntry[],
  chainStart: string = GENESIS,
): number | null {
  let previous = chainStart;
  for (const e of entries) {
    const hash = e.hash;
    if (typeof hash !== 'string' || chainHash(previous, e.seq, e.timeMs, e) !== hash) {
      return e.seq ?? -1;
    }
    previous = hash;
  }
  return null;
}

/**
 * Bytes an entry holds, near enough: its strings, and 250 for the object and its 64-character
 * hash (measured: 100,000 chat entries of 10 characters from one sender take 260 bytes each of
 * V8 heap). Sender strings are usually shared, so this errs on the high side.
 */
function size(e: LogEntry): number {
  const strings =
    e.kind === 'chat'
      ? e.text.length + e.senderName.length + e.senderId.length
      : e.detail.length + e.actor.length + e.type.length;
  return strings + 250;
}
