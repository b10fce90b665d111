/**
 * The one table of requests a session forwarded to its customer and is waiting to answer:
 * consent requests, system information, canned scripts, elevation and special tasks. Each is
 * filed under a ticket (the session's request ids) with the technician's seat that asked; the
 * customer's answer names the ticket. `answer` is the one place that decides whether an answer
 * still reaches its asker: only while that seat works the session (owner or collaborator), so a
 * technician removed, gone or transferred away since it asked hears nothing of the customer's
 * machine. Bounded: past MAX_PENDING_REQUESTS the oldest gives way. The table is made on the
 * first request (most sessions never file one; every session has this object).
 */
import type { Seat } from './seat.js';

export type PendingKind = 'consent' | 'sysinfo' | 'script' | 'elevate' | 'task';

/** At most this many requests wait per session; the oldest gives way. */
export const MAX_PENDING_REQUESTS = 64;

export interface PendingRequest {
  readonly kind: PendingKind;
  /** The technician's seat that asked: the answer goes there. */
  readonly seat: Seat;
  /** The technician's request id, answered with the result. */
  readonly requestId: number;
  /** What was asked: a script id, an elevation kind, a task id. */
  readonly label?: string;
  /** Who the request is logged as coming from, when not the technician of `seat` ("policy"). */
  readonly by?: string;
  /** A special task's context (SpecialActionContext). */
  readonly context?: number;
  /** Consent: the GRANT_* bits asked for. */
  readonly mask?: number;
}

export class PendingRequests {
  #byTicket: Map<number, PendingRequest> | null = null;

  get size(): number {
    return this.#byTicket?.size ?? 0;
  }

  add(ticket: number, request: PendingRequest): void {
    this.#byTicket ??= new Map();
    const byTicket = this.#byTicket;
    if (byTicket.size >= MAX_PENDING_REQUESTS) {
      byTicket.delete(byTicket.keys().next().value as number);
    }
    byTicket.set(ticket, request);
  }

  /** The request `ticket` of `kind`, removed from the table; null when there is none. */
  take(ticket: number, kind: PendingKind): PendingRequest | null {
    const request = this.#byTicket?.get(ticket);
    if (request === undefined || request.kind !== kind) return null;
    this.#byTicket!.delete(ticket);
    return request;
  }

  /** Every waiting request of `kind`, removed from the table. */
  takeAll(kind: PendingKind): PendingRequest[] {
    const taken: PendingRequest[] = [];
    const byTicket = this.#byTicket;
    if (byTicket === null) return taken;
    for (const [ticket, request] of byTicket) {
      if (request.kind !== kind) continue;
      byTicket.delete(ticket);
      taken.push(request);
    }
    return taken;
  }

  /** Drops what `seat` asked of `kind` (its answers would reach no one). */
  dropSeat(seat: Seat, kind: PendingKind): void {
    const byTicket = this.#byTicket;
    if (byTicket === null) return;
    for (const [ticket, request] of byTicket) {
      if (request.seat === seat && request.kind === kind) byTicket.delete(ticket);
    }
  }

  clear(): void {
    this.#byTicket = null;
  }
}
