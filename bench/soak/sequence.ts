/**
 * Sequence accounting for one reliable stream (one direction of one channel in one session):
 * the sender numbers its frames 1, 2, 3, ...; the receiver reports each number it sees. At the
 * end, lost = sent - distinct received, reordered = arrivals below the highest number already
 * seen, duplicates = numbers seen twice. A reliable stream must end with all three at zero.
 */
export interface StreamTotals {
  sent: number;
  received: number;
  lost: number;
  reordered: number;
  duplicates: number;
}

export class SequenceTracker {
  /** Highest number handed out to the sender. */
  sent = 0;
  /** Arrivals, duplicates included. */
  received = 0;
  reordered = 0;
  duplicates = 0;
  #highest = 0;
  readonly #seen = new Set<number>();

  /** The next number to send. */
  next(): number {
    return ++this.sent;
  }

  /** Records an arrival; returns false when it was out of order or a duplicate. */
  receive(seq: number): boolean {
    this.received++;
    if (this.#seen.has(seq)) {
      this.duplicates++;
      return false;
    }
    this.#seen.add(seq);
    if (seq < this.#highest) {
      this.reordered++;
      return false;
    }
    this.#highest = seq;
    return true;
  }

  /** Every number sent has arrived. */
  get complete(): boolean {
    return this.#seen.size >= this.sent;
  }

  get lost(): number {
    return this.sent - this.#seen.size;
  }
}

export function sum(trackers: Iterable<SequenceTracker>): StreamTotals {
  const out: StreamTotals = { sent: 0, received: 0, lost: 0, reordered: 0, duplicates: 0 };
  for (const t of trackers) {
    out.sent += t.sent;
    out.received += t.received;
    out.lost += t.lost;
    out.reordered += t.reordered;
    out.duplicates += t.duplicates;
  }
  return out;
}
