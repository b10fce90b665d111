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
import { intern } from './intern.js';

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

/** An entry as participants read it: all of it but its hash (history, catch-ups). */
export type LogRecord = LogEntry extends infer E
  ? E extends LogEntry
    ? Omit<E, 'hash'>
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

/** How long a session's log keeps its entries' hashes before it settles (`SessionLog.settle`). */
export const WARM_MS = 1000;

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
  /**
   * The window, oldest first, in its compact form: each entry's fields without its hash, which
   * is derived from the chain when the entries are read whole (`entries`). About 100 bytes an
   * entry besides its text, against 200 kept whole with its 64-character hash (docs/benchmarks.md,
   * "The session log's compact form").
   */
  #kept: Kept[] = [];
  /**
   * The hashes of the window's entries (aligned with `#kept`) while the log is young, or null
   * once it settled (`settle`). A session set up and ended within a second (a burst of short
   * sessions, a failed attempt) has its report built from them without deriving each hash again;
   * one that lives on keeps its window compact.
   */
  #hashes: string[] | null = [];
  /** Index of the window's first entry in `#kept` (entries leave the front in O(1)). */
  #from = 0;
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
  /**
   * Whether the window holds entries a journal gave back (`restore`): their hashes may not follow
   * from the entries, so settling checks them.
   */
  #restored = false;
  /**
   * Once settled: whether `#head` is the hash of the window's newest entry (or `#chainStart`
   * when the window is empty), so that the next entry's hash can be derived from the window.
   * False only after a restore whose head does not follow its entries: the next entry is pinned.
   */
  #headFollows = true;
  /**
   * Hashes of a settled window that cannot be derived, by entry: entries restored from a journal
   * whose stored hash does not follow the chain (kept as stored, so that `verifyLog` still finds
   * the break in the report) and the entry appended after a head that does not follow. Null
   * while there are none.
   */
  #pinned: Map<Kept, string> | null = null;
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

  /** The entry appended, whole (hash included), as the journal and the participants get it. */
  append(entry: NewEntry, timeMs: number = Date.now()): LogEntry {
    const seq = this.#nextSeq++;
    const full = sealed(entry, seq, timeMs, chainHash(this.#head, seq, timeMs, entry));
    this.#head = full.hash;
    const kept = keep(entry, seq, timeMs);
    this.#kept.push(kept);
    const hashes = this.#hashes;
    if (hashes !== null) hashes.push(full.hash);
    else if (!this.#headFollows) {
      this.#pin(kept, full.hash);
      this.#headFollows = true;
    }
    this.#grow(size(kept));
    const durable = this.onJournal?.(full);
    const journaled = this.journaled;
    const maxEntries = journaled ? Math.min(this.#maxEntries, JOURNALED_WINDOW) : this.#maxEntries;
    const maxChars = journaled ? Math.min(this.#maxChars, JOURNALED_WINDOW_CHARS) : this.#maxChars;
    while (this.length > 1 && (this.length > maxEntries || this.#chars > maxChars)) {
      this.#shift();
    }
    const budget = this.#budget;
    if (budget?.over) {
      while (budget.over && this.length > MIN_WINDOW) this.#shift();
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

  /**
   * Puts back what a journal held (a restarted gateway); appends then follow `head`. Each entry
   * keeps the hash it was stored with, so the report shows the chain as the journal had it (one
   * that does not follow is pinned when the log settles). Into a new log only.
   */
  restore(state: LogState, nextSeq: number, head: string): void {
    const hashes = this.#hashes;
    if (this.#nextSeq !== 1 || hashes === null) {
      throw new Error('a session log is restored before any entry');
    }
    for (const e of state.entries) {
      const kept = keep(e, e.seq, e.timeMs);
      this.#kept.push(kept);
      hashes.push(e.hash);
      this.#grow(size(kept));
    }
    this.#restored = true;
    this.#dropped = state.dropped;
    this.#spilled = state.spilled;
    this.#chainStart = state.chainStart;
    this.#nextSeq = nextSeq;
    this.#head = head;
  }

  /**
   * The log is no longer young: its window keeps entries without hashes from now on (they are
   * derived when read). The session timers call it once a session has lived WARM_MS. A window
   * restored from a journal is checked first, one SHA-256 an entry: the hashes that do not
   * follow are pinned.
   */
  settle(): void {
    const hashes = this.#hashes;
    if (hashes === null) return;
    const kept = this.#kept;
    if (this.#restored) {
      let previous = this.#chainStart;
      for (let i = this.#from; i < kept.length; i++) {
        const k = kept[i]!;
        const hash = hashes[i]!;
        if (chainHash(previous, k.seq, k.timeMs, k) !== hash) this.#pin(k, hash);
        previous = hash;
      }
    }
    const newest = kept.length > this.#from ? hashes[kept.length - 1] : this.#chainStart;
    this.#headFollows = this.#head === newest;
    this.#hashes = null;
  }

  /** Whether the window still keeps its entries' hashes (see `settle`). */
  get warm(): boolean {
    return this.#hashes !== null;
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

  #pin(kept: Kept, hash: string): void {
    this.#pinned ??= new Map();
    this.#pinned.set(kept, hash);
  }

  /** The hash of `kept` in a settled window, which follows `previous`: pinned, or derived. */
  #hashOf(kept: Kept, previous: string): string {
    const pinned = this.#pinned;
    // `has`, not `??`: a journal record without a hash stays without one, as it was stored
    if (pinned?.has(kept)) return pinned.get(kept)!;
    return chainHash(previous, kept.seq, kept.timeMs, kept);
  }

  /** Entries in the window. */
  get length(): number {
    return this.#kept.length - this.#from;
  }

  /** The oldest entry leaves the window: spilled (the journal has it) or dropped. */
  #shift(): void {
    const kept = this.#kept;
    const hashes = this.#hashes;
    const from = this.#from;
    const gone = kept[from]!;
    this.#chainStart = hashes !== null ? hashes[from]! : this.#hashOf(gone, this.#chainStart);
    kept[from] = EMPTY; // its strings go with it
    if (hashes !== null) hashes[from] = '';
    this.#from = from + 1;
    // the arrays are cut once half of them is gone: O(1) a shift on average
    if (this.#from * 2 >= kept.length) {
      this.#kept = kept.slice(this.#from);
      if (hashes !== null) this.#hashes = hashes.slice(this.#from);
      this.#from = 0;
    }
    const bytes = size(gone);
    this.#pinned?.delete(gone);
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
    // an event's actor and detail repeat across sessions ("granted view, control"): one copy
    return this.append(
      { kind: 'event', audience, type, actor: intern(actor), detail: intern(detail) },
      timeMs,
    );
  }

  /**
   * The window's entries whole, oldest first, each with its hash (the report, a journal's first
   * write): built on each read, one SHA-256 an entry once the log settled. `visibleTo` reads
   * them without hashes.
   */
  get entries(): LogEntry[] {
    const out: LogEntry[] = [];
    let previous = this.#chainStart;
    const kept = this.#kept;
    const hashes = this.#hashes;
    for (let i = this.#from; i < kept.length; i++) {
      const k = kept[i]!;
      const hash = hashes !== null ? hashes[i]! : this.#hashOf(k, previous);
      out.push(sealed(k, k.seq, k.timeMs, hash));
      previous = hash;
    }
    return out;
  }

  /**
   * The entries a participant may see, without their hashes (the wire has none): everything for
   * technicians, `all` ones for the customer: the window's own records, which never change.
   */
  visibleTo(technician: boolean): LogRecord[] {
    const window = this.#kept.slice(this.#from);
    return technician ? window : window.filter((k) => k.audience === 'all');
  }

  /** The newest of `entries` within this log's own bounds (entry count and text size). */
  fitting<E extends LogRecord>(entries: readonly E[]): readonly E[] {
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

  /** The seq of the window's oldest entry (`nextSeq` when the window is empty). */
  get firstSeq(): number {
    return this.#kept[this.#from]?.seq ?? this.#nextSeq;
  }

  /** The server time of the newest entry, or 0 before any. */
  get lastTimeMs(): number {
    return this.#kept.at(-1)?.timeMs ?? 0;
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

/**
 * An entry's audience in a kept entry's flags: anything but `all` is kept as technicians-only
 * (an entry a journal gave back with an audience it does not know stays hidden from customers).
 */
const TECHNICIANS = 1;

/**
 * An entry as the window keeps it: classes, so every kept entry of a kind shares one hidden class,
 * and its kind and audience (getters on the prototype) take no room in it.
 */
abstract class KeptEntry {
  readonly seq: number;
  readonly timeMs: number;
  readonly flags: number;

  constructor(seq: number, timeMs: number, audience: string) {
    this.seq = seq;
    this.timeMs = timeMs;
    this.flags = audience === 'all' ? 0 : TECHNICIANS;
  }

  get audience(): 'all' | 'technicians' {
    return this.flags === TECHNICIANS ? 'technicians' : 'all';
  }
}

/** A chat message as the window keeps it. */
class KeptChat extends KeptEntry {
  readonly senderId: string;
  readonly senderName: string;
  readonly senderRole: string;
  readonly text: string;

  constructor(seq: number, timeMs: number, e: Extract<NewEntry, { kind: 'chat' }>) {
    super(seq, timeMs, e.audience);
    this.senderId = e.senderId;
    this.senderName = e.senderName;
    this.senderRole = e.senderRole;
    this.text = e.text;
  }

  get kind(): 'chat' {
    return 'chat';
  }
}

/** A gateway event as the window keeps it. */
class KeptEvent extends KeptEntry {
  readonly type: string;
  readonly actor: string;
  readonly detail: string;

  constructor(seq: number, timeMs: number, e: Extract<NewEntry, { kind: 'event' }>) {
    super(seq, timeMs, e.audience);
    this.type = e.type;
    this.actor = e.actor;
    this.detail = e.detail;
  }

  get kind(): 'event' {
    return 'event';
  }
}

type Kept = KeptChat | KeptEvent;

/** What a shifted slot of the window holds until the array is cut. */
const EMPTY: Kept = new KeptEvent(0, 0, {
  kind: 'event',
  audience: 'all',
  type: '',
  actor: '',
  detail: '',
});

function keep(e: NewEntry, seq: number, timeMs: number): Kept {
  return e.kind === 'chat' ? new KeptChat(seq, timeMs, e) : new KeptEvent(seq, timeMs, e);
}

/** The hash a log's first entry follows. */
export const GENESIS = '0'.repeat(64);

/**
 * The entry as the log keeps it, built field by field rather than by spreading `e`: V8 gives each
 * object made by a spread in optimized code a map of its own (about 290 bytes of hidden class
 * and descriptors an entry, measured in a heap snapshot of 1000 idle sessions: 6 maps each),
 * where literals of one layout share one. Key order is the spread's, so JSON output is unchanged.
 */
function sealed(e: NewEntry | Kept, seq: number, timeMs: number, hash: string): LogEntry {
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
function chainHash(previous: string, seq: number, timeMs: number, e: NewEntry | Kept): string {
  const fields =
    e.kind === 'chat'
      ? [seq, timeMs, e.kind, e.audience, e.senderId, e.senderName, e.senderRole, e.text]
      : [seq, timeMs, e.kind, e.audience, e.type, e.actor, e.detail];
  // one-shot: the same digest as update(previous).update(fields), without a Hash object per
  // entry (0.4 against 1.2 us an entry on the Intel host of docs/benchmarks.md; 2.4-3.5 us on
  // the AMD one), and no native handle for the collector
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
 * Bytes an entry holds, near enough: its strings, and ENTRY_BYTES for the kept object and its
 * place in the window. Sender strings are usually shared, so this errs on the high side.
 */
function size(e: LogRecord | Kept): number {
  const strings =
    e.kind === 'chat'
      ? e.text.length + e.senderName.length + e.senderId.length
      : e.detail.length + e.actor.length + e.type.length;
  return strings + ENTRY_BYTES;
}

/**
 * Measured: 100,000 entries of 10-character texts take 138 bytes each of V8 heap as chat and 130
 * as events, 32 of them the text (234 and 226 when each entry was kept whole with its hash). A
 * young log's hashes (about 80 bytes an entry, for its first second) are not counted.
 */
const ENTRY_BYTES = 110;
