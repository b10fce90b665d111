/**
 * The running record of a session: chat messages and gateway events in one ordered list, each
 * with a gateway sequence number and server time. Joiners receive its history; at close it
 * becomes the session report. Bounded: past `maxEntries` the oldest entries are dropped and
 * counted, never silently.
 *
 * Every entry has an audience: `all`, or `technicians` for private chat and for events the
 * customer is not told about (transfers, invitations, notes). `visibleTo` is the one filter the
 * customer's history goes through. `onAppend` (set by the session) publishes each new entry.
 */

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
    }
  | {
      readonly seq: number;
      readonly timeMs: number;
      readonly kind: 'event';
      readonly audience: Audience;
      readonly type: string;
      readonly actor: string;
      readonly detail: string;
    };

type NewEntry = LogEntry extends infer E
  ? E extends LogEntry
    ? Omit<E, 'seq' | 'timeMs'>
    : never
  : never;

export class SessionLog {
  readonly #entries: LogEntry[] = [];
  readonly #maxEntries: number;
  readonly #maxChars: number;
  #chars = 0;
  #nextSeq = 1;
  #dropped = 0;
  /** Called with every entry appended (the session publishes it to its participants). */
  onAppend: ((entry: LogEntry) => void) | null = null;

  /** Bounded by entry count and by text size (chat can be 16 K characters a message). */
  constructor(maxEntries = 10_000, maxChars = 2 * 1024 * 1024) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  append(entry: NewEntry, timeMs: number = Date.now()): LogEntry {
    const full = { ...entry, seq: this.#nextSeq++, timeMs } as LogEntry;
    this.#entries.push(full);
    this.#chars += size(full);
    while (
      this.#entries.length > 1 &&
      (this.#entries.length > this.#maxEntries || this.#chars > this.#maxChars)
    ) {
      this.#chars -= size(this.#entries.shift()!);
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
}

/** Characters an entry holds (its strings); numbers and keys are a small constant. */
function size(e: LogEntry): number {
  return e.kind === 'chat'
    ? e.text.length + e.senderName.length + e.senderId.length + 32
    : e.detail.length + e.actor.length + e.type.length + 32;
}
