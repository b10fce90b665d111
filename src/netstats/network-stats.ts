/**
 * Per-session network statistics for technicians (docs/spec/network-stats.md): snapshots of every
 * participant's leg (NS-D3..NS-D8), the gateway location (NS-D12), the session's overall class
 * (NS-D5), the periodic push and the poor-network alerts with hysteresis (NS-D13). Fed by the
 * heartbeat's samples; knows participants and sessions through the small shapes below only.
 */

import { encodeFrame } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { Connectivity, type ConnectivityValue, connectivityName, overall } from './grades.js';
import type { LinkStats } from './link-stats.js';
import { QualityAlertTracker } from './quality-alerts.js';
import { buildParticipantRow, type DirectRow } from './snapshot.js';

export interface StatsParticipant {
  readonly id: string;
  readonly name: string;
  readonly role: ferry.v1.Role;
  readonly link: LinkStats;
  readonly connected: boolean;
  sendFrame(bytes: Uint8Array): boolean;
}

export interface StatsSession {
  readonly id: string;
  readonly customer: StatsParticipant | null;
  /** Technicians attached to the session (picked up, collaborating). */
  readonly technicians: readonly StatsParticipant[];
  /** Every technician who should see the session's statistics and alerts. */
  technicianAudience(): readonly StatsParticipant[];
}

export interface Location {
  readonly name: string;
  readonly region: string;
  readonly latitude: number | null;
  readonly longitude: number | null;
}

export interface AlertRecord {
  readonly sessionId: string;
  readonly participantId: string;
  readonly cleared: boolean;
}

export class NetworkStatsService {
  readonly location: ferry.v1.IGatewayLocation;
  readonly #trackers = new WeakMap<StatsParticipant, QualityAlertTracker>();
  /** The grade each customer connection was last advised (LinkAdvice), to send changes only. */
  readonly #advised = new WeakMap<StatsParticipant, number>();
  /** LinkAdvice frames sent to customers. */
  advicesSent = 0;
  readonly #wallNow: () => number;
  readonly #monoNow: () => number;
  alertsRaised = 0;
  alertsCleared = 0;
  /** A participant's direct path (src/handlers/direct.ts), or null while it is relayed. */
  directOf: (session: StatsSession, p: StatsParticipant, nowMs: number) => DirectRow | null = () =>
    null;

  constructor(location: Location, monoNow: () => number, wallNow: () => number = Date.now) {
    this.location = {
      name: location.name,
      region: location.region,
      latitude: location.latitude ?? null,
      longitude: location.longitude ?? null,
    };
    this.#monoNow = monoNow;
    this.#wallNow = wallNow;
  }

  /** Rows for every connected participant, customer first, then technicians in session order. */
  snapshot(session: StatsSession): ferry.v1.INetworkStats {
    const now = this.#monoNow();
    const rows: ferry.v1.IParticipantNetStats[] = [];
    const classes: ConnectivityValue[] = [];
    const add = (p: StatsParticipant) => {
      if (!p.connected) return;
      rows.push(
        buildParticipantRow(
          p.link,
          { participantId: p.id, displayName: p.name, role: p.role },
          now,
          this.directOf(session, p, now),
        ),
      );
      classes.push(p.link.status);
    };
    if (session.customer !== null) add(session.customer);
    for (const t of session.technicians) add(t);
    return {
      sessionId: session.id,
      gatewayTimeUnixMs: this.#wallNow(),
      gatewayLocation: this.location,
      participants: rows,
      overall: overall(classes),
    };
  }

  /**
   * Sends the snapshot to every technician of the session (periodic push and on request). The
   * periodic push also tells the customer the overall grade when it changed (LinkAdvice), so
   * its screen stream follows the link without seeing anybody's figures.
   */
  push(session: StatsSession, only?: StatsParticipant): void {
    const snapshot = this.snapshot(session);
    const frame = encodeFrame({
      channel: ferry.v1.Channel.CHANNEL_EVENT,
      event: { serverTimeUnixMs: this.#wallNow(), networkStats: snapshot },
    });
    if (only !== undefined) {
      only.sendFrame(frame);
      return;
    }
    for (const t of session.technicianAudience()) if (t.connected) t.sendFrame(frame);
    this.#advise(session, snapshot.overall ?? Connectivity.CONNECTIVITY_UNKNOWN);
  }

  #advise(session: StatsSession, grade: number): void {
    const customer = session.customer;
    // until the customer's own leg is measured (NS-D4) it keeps its own setting
    if (customer === null || !customer.connected) return;
    if (customer.link.status === Connectivity.CONNECTIVITY_UNKNOWN) return;
    if (this.#advised.get(customer) === grade) return;
    this.#advised.set(customer, grade);
    this.advicesSent++;
    customer.sendFrame(
      encodeFrame({
        channel: ferry.v1.Channel.CHANNEL_EVENT,
        event: {
          serverTimeUnixMs: this.#wallNow(),
          linkAdvice: { sessionId: session.id, overall: grade },
        },
      }),
    );
  }

  /**
   * After each RTT sample of `p`: re-evaluate its class and, on a raise or clear, tell the
   * technicians of every session it is in (spec NS-D13). Returns what happened.
   */
  evaluate(p: StatsParticipant, sessions: Iterable<StatsSession>): 'raise' | 'clear' | null {
    let tracker = this.#trackers.get(p);
    if (tracker === undefined) {
      tracker = new QualityAlertTracker();
      this.#trackers.set(p, tracker);
    }
    const action = tracker.evaluate(p.link.status);
    if (action === null) return null;
    const cleared = action === 'clear';
    if (cleared) this.alertsCleared++;
    else this.alertsRaised++;
    for (const session of sessions) {
      const frame = encodeFrame({
        channel: ferry.v1.Channel.CHANNEL_EVENT,
        event: {
          serverTimeUnixMs: this.#wallNow(),
          networkQualityAlert: {
            sessionId: session.id,
            participantId: p.id,
            role: p.role,
            status: p.link.status,
            avgRttMs: p.link.avgRttMs,
            cleared,
            displayName: p.name,
          },
        },
      });
      for (const t of session.technicianAudience()) if (t.connected) t.sendFrame(frame);
    }
    return action;
  }

  /** The participant's window restarts (reconnect, NS-D3): its alert state restarts too. */
  forget(p: StatsParticipant): void {
    this.#trackers.delete(p);
  }
}

export { Connectivity, connectivityName };
