/**
 * One direct-path attempt as the gateway keeps it (docs/direct-path.md): its two ends, the token
 * the technician must show the customer on the channel, how far signalling went, which end said
 * the channel is up, and what each end reports of the traffic the gateway no longer sees.
 */
import type { RelayPeer } from '../relay/peer.js';

/** Which end: the technician (offerer) or the customer (answerer). */
export const End = { TECHNICIAN: 0, CUSTOMER: 1 } as const;
export type EndValue = (typeof End)[keyof typeof End];

/** The last two DirectReports of one end: the rates come from their difference. */
export class EndReports {
  atMs = 0;
  bytesSent = 0;
  bytesReceived = 0;
  framesSent = 0;
  framesReceived = 0;
  rttMs = 0;
  #prevAtMs = 0;
  #prevSent = 0;
  #prevReceived = 0;

  /** Records a report; false when a counter went backwards (not a report of this attempt). */
  record(
    nowMs: number,
    sent: number,
    received: number,
    framesSent: number,
    framesReceived: number,
    rttMs: number,
  ): boolean {
    if (sent < this.bytesSent || received < this.bytesReceived) return false;
    this.#prevAtMs = this.atMs === 0 ? nowMs : this.atMs;
    this.#prevSent = this.atMs === 0 ? sent : this.bytesSent;
    this.#prevReceived = this.atMs === 0 ? received : this.bytesReceived;
    this.atMs = nowMs;
    this.bytesSent = sent;
    this.bytesReceived = received;
    this.framesSent = framesSent;
    this.framesReceived = framesReceived;
    this.rttMs = rttMs;
    return true;
  }

  /** Bits per second sent (or received) between the last two reports. */
  bps(received: boolean): number {
    const ms = this.atMs - this.#prevAtMs;
    if (ms <= 0) return 0;
    const bytes = received
      ? this.bytesReceived - this.#prevReceived
      : this.bytesSent - this.#prevSent;
    return Math.round((bytes * 8 * 1000) / ms);
  }
}

export class DirectPath {
  readonly id: number;
  /** The session the path serves. */
  readonly sessionId: string;
  readonly technician: RelayPeer;
  readonly customer: RelayPeer;
  readonly token: string;
  /** The GRANT_* bits when the attempt was made. */
  readonly grants: number;
  readonly openedAtMs: number;
  /** Set once both ends said DirectUp. */
  upAtMs = 0;
  /** Bit 1 << End: that end said DirectUp. */
  upBy = 0;
  offered = false;
  answered = false;
  /** Candidates passed on (SDP and trickled), against the cap. */
  candidates = 0;
  /** The cap was hit: the sender was told once. */
  capped = false;
  /** Bit 1 << End: that end sent its end-of-candidates (passed on once). */
  candidatesEnded = 0;
  readonly reports: readonly [EndReports, EndReports] = [new EndReports(), new EndReports()];

  constructor(
    id: number,
    sessionId: string,
    technician: RelayPeer,
    customer: RelayPeer,
    token: string,
    grants: number,
    nowMs: number,
  ) {
    this.id = id;
    this.sessionId = sessionId;
    this.technician = technician;
    this.customer = customer;
    this.token = token;
    this.grants = grants;
    this.openedAtMs = nowMs;
  }

  get up(): boolean {
    return this.upAtMs !== 0;
  }

  /** The end `peer` is, or null when it is neither. */
  endOf(peer: RelayPeer): EndValue | null {
    if (peer === this.technician) return End.TECHNICIAN;
    if (peer === this.customer) return End.CUSTOMER;
    return null;
  }

  other(end: EndValue): RelayPeer {
    return end === End.TECHNICIAN ? this.customer : this.technician;
  }

  /**
   * Frames really flow direct: the channel is up and both ends reported it within `staleMs`
   * (an end whose channel stalled stops reporting, and closes the path soon after).
   */
  flowing(nowMs: number, staleMs: number): boolean {
    if (!this.up) return false;
    const [t, c] = this.reports;
    return t.atMs !== 0 && c.atMs !== 0 && nowMs - t.atMs <= staleMs && nowMs - c.atMs <= staleMs;
  }
}
