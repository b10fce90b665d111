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
import { createHash } from 'node:crypto';

/** Who may see an entry. */
export type Audience = 'all' | 'technicians';

/** Event types only technicians see (spec session-tools B3/F5: never forwarded to the customer). */
const TECHNICIAN_EVENTS: ReadonlySet<string> = new Set([
  'transfer',
  'entry',
  'note',
  'pin_expired',
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

/** An entry without its hash (distributes over the union). */
type Unhashed = LogEntry extends infer E ? (E extends LogEntry ? Omit<E, 'hash'> : never) : never;

type NewEntry = LogEntry extends infer E
  ? E extends LogEntry
    ? Omit<E, 'seq' | 'timeMs' | 'hash'>
    : never
  : never;

export class SessionLog {
  readonly #entries: LogEntry[] = [];
  readonly #maxEntries: number;
  readonly #maxChars: number;
  #chars = 0;
  #nextSeq = 1;
  #dropped = 0;
  /** The hash of the newest entry (the chain's head); the genesis value before any entry. */
  #head = GENESIS;
  #chainStart = GENESIS;
  /** Called with every entry appended (the session publishes it to its participants). */
  onAppend: ((entry: LogEntry) => void) | null = null;

  /** Bounded by entry count and by text size (chat can be 16 K characters a message). */
  constructor(maxEntries = 10_000, maxChars = 2 * 1024 * 1024) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  append(entry: NewEntry, timeMs: number = Date.now()): LogEntry {
    const unhashed = { ...entry, seq: this.#nextSeq++, timeMs } as Unhashed;
    const full = { ...unhashed, hash: chainHash(this.#head, unhashed) } as LogEntry;
    this.#head = full.hash;
    this.#entries.push(full);
    this.#chars += size(full);
    while (
      this.#entries.length > 1 &&
      (this.#entries.length > this.#maxEntries || this.#chars > this.#maxChars)
    ) {
      const gone = this.#entries.shift()!;
      this.#chainStart = gone.hash;
      this.#chars -= size(gone);
      this.#dropped++;
    }
    this.onAppend?.(full);
    return full;
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

  /** Entries dropped from the front because the log reached its bound. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The hash the first kept entry follows (GENESIS unless entries were dropped). */
  get chainStart(): string {
    return this.#chainStart;
  }
}

/** The hash a log's first entry follows. */
export const GENESIS = '0'.repeat(64);

/** SHA-256 of the previous hash and the entry's content (its fields in a fixed order). */
function chainHash(previous: string, e: Unhashed): string {
  const h = createHash('sha256').update(previous);
  const fields =
    e.kind === 'chat'
      ? [e.seq, e.timeMs, e.kind, e.audience, e.senderId, e.senderName, e.senderRole, e.text]
      : [e.seq, e.timeMs, e.kind, e.audience, e.type, e.actor, e.detail];
  h.update(JSON.stringify(fields));
  return h.digest('hex');
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
    const { hash, ...content } = e;
    if (typeof hash !== 'string' || chainHash(previous, content as Unhashed) !== hash) {
      return e.seq ?? -1;
    }
    previous = hash;
  }
  return null;
}

/** Characters an entry holds (its strings); numbers and keys are a small constant. */
function size(e: LogEntry): number {
  return e.kind === 'chat'
    ? e.text.length + e.senderName.length + e.senderId.length + 32
    : e.detail.length + e.actor.length + e.type.length + 32;
}
