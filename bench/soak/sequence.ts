/**
 * Sequence accounting for one reliable stream (one direction of one channel in one session):
 * the sender numbers its frames 1, 2, 3, ...; the receiver reports each number it sees. At the
 * end, lost = sent - distinct received, reordered = arrivals below the highest number already
 * seen, duplicates = numbers seen twice. A reliable stream must end with all three at zero.
 *
 * Under faults (connections cut, the gateway restarted) a frame written into a dying connection
 * may never reach the gateway: only the numbers the gateway acknowledged (`confirm`) must arrive.
 * Then lost = acknowledged numbers that never arrived; numbers never acknowledged that never
 * arrived are counted apart (`unacknowledgedMissing`). A number the sender sent again after a
 * resume (`receive(seq, true)`) that had arrived already is a `resentDuplicate`, not a duplicate:
 * the sender could not know (its copy of the acknowledgement was lost with the connection).
 */
export interface StreamTotals {
  sent: number;
  received: number;
  lost: number;
  reordered: number;
  duplicates: number;
  /** Faults: numbers the gateway acknowledged (every number sent, without faults). */
  acknowledged: number;
  /** Faults: numbers never acknowledged that never arrived (written into a cut connection). */
  unacknowledgedMissing: number;
  /** Faults: numbers sent again after a resume, and those of them that had arrived already. */
  resent: number;
  resentDuplicates: number;
}

export class SequenceTracker {
  /** Highest number handed out to the sender. */
  sent = 0;
  /** Arrivals, duplicates included. */
  received = 0;
  reordered = 0;
  duplicates = 0;
  resent = 0;
  resentDuplicates = 0;
  /** Count only acknowledged numbers as lost (the faults soak). */
  readonly acknowledgedOnly: boolean;
  #highest = 0;
  readonly #seen = new Set<number>();
  /** Acknowledged ranges [from, to], inclusive. */
  readonly #confirmed: [number, number][] = [];
  #highestConfirmed = 0;

  constructor(acknowledgedOnly = false) {
    this.acknowledgedOnly = acknowledgedOnly;
  }

  /** The next number to send. */
  next(): number {
    return ++this.sent;
  }

  /** Records an arrival; returns false when it was out of order or a duplicate. */
  receive(seq: number, resent = false): boolean {
    this.received++;
    if (this.#seen.has(seq)) {
      if (resent) this.resentDuplicates++;
      else this.duplicates++;
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

  /** The gateway acknowledged numbers `from` to `to` (inclusive). */
  confirm(from: number, to = from): void {
    if (to < from) return;
    const last = this.#confirmed.at(-1);
    if (last !== undefined && from <= last[1] + 1 && from >= last[0])
      last[1] = Math.max(last[1], to);
    else this.#confirmed.push([from, to]);
    if (to > this.#highestConfirmed) this.#highestConfirmed = to;
  }

  has(seq: number): boolean {
    return this.#seen.has(seq);
  }

  /** Highest number seen by the receiver. */
  get highest(): number {
    return this.#highest;
  }

  get highestConfirmed(): number {
    return this.#highestConfirmed;
  }

  /** Every number sent has arrived. */
  get complete(): boolean {
    return this.#seen.size >= this.sent;
  }

  /** Distinct acknowledged numbers. */
  get acknowledged(): number {
    return this.acknowledgedOnly ? this.#confirmedMask().count : this.sent;
  }

  get lost(): number {
    if (!this.acknowledgedOnly) return this.sent - this.#seen.size;
    const { mask } = this.#confirmedMask();
    let lost = 0;
    for (let s = 1; s < mask.length; s++) if (mask[s] === 1 && !this.#seen.has(s)) lost++;
    return lost;
  }

  get unacknowledgedMissing(): number {
    if (!this.acknowledgedOnly) return 0;
    const { mask } = this.#confirmedMask();
    let missing = 0;
    for (let s = 1; s <= this.sent; s++) if (mask[s] !== 1 && !this.#seen.has(s)) missing++;
    return missing;
  }

  #confirmedMask(): { mask: Uint8Array; count: number } {
    const mask = new Uint8Array(Math.max(this.sent, this.#highestConfirmed) + 1);
    let count = 0;
    for (const [from, to] of this.#confirmed) {
      for (let s = from; s <= to; s++) {
        if (mask[s] === 0) count++;
        mask[s] = 1;
      }
    }
    return { mask, count };
  }
}

export function sum(trackers: Iterable<SequenceTracker>): StreamTotals {
  const out: StreamTotals = {
    sent: 0,
    received: 0,
    lost: 0,
    reordered: 0,
    duplicates: 0,
    acknowledged: 0,
    unacknowledgedMissing: 0,
    resent: 0,
    resentDuplicates: 0,
  };
  for (const t of trackers) {
    out.sent += t.sent;
    out.received += t.received;
    out.lost += t.lost;
    out.reordered += t.reordered;
    out.duplicates += t.duplicates;
    out.acknowledged += t.acknowledged;
    out.unacknowledgedMissing += t.unacknowledgedMissing;
    out.resent += t.resent;
    out.resentDuplicates += t.resentDuplicates;
  }
  return out;
}
