/**
 * The session summary (docs/spec/session-tools.md F1): who the customer is and what its machine is,
 * at a glance, for technicians and for the report. The IP is the address the gateway itself sees
 * on the customer's connection (the public address behind any NAT), never a client's claim;
 * name, computer name, platform and versions come from the clients' Hellos.
 */
import { roleName } from '../protocol/frames.js';
import { describe } from './consent.js';
import { Relation, type Session } from './session.js';

export interface ParticipantSummaryData {
  readonly participantId: string;
  readonly name: string;
  readonly role: string;
  readonly relation: string;
  readonly version: string;
  readonly platform: string;
  readonly connected: boolean;
}

export interface SummaryData {
  readonly customerName: string;
  readonly computerName: string;
  readonly platform: string;
  /** As seen by the gateway on the customer connection; '' before a customer joined. */
  readonly customerIp: string;
  readonly customerVersion: string;
  readonly participants: readonly ParticipantSummaryData[];
  /** `view, control` or `nothing`. */
  readonly granted: string;
  readonly controller: string | null;
  readonly monitors: number;
  readonly sysinfoCategories: readonly string[];
}

const RELATION_NAMES: Record<number, string> = {
  [Relation.OWNER]: 'owner',
  [Relation.COLLABORATOR]: 'collaborator',
  [Relation.INVITED]: 'invited',
  [Relation.TRANSFER_TARGET]: 'transfer target',
  [Relation.CUSTOMER]: 'customer',
};

export function buildSummary(session: Session): SummaryData {
  const info = session.customerInfo;
  const participants: ParticipantSummaryData[] = [];
  for (const seat of session.seats()) {
    participants.push({
      participantId: seat.participantId,
      name: seat.name,
      role: roleName(seat.role),
      relation: RELATION_NAMES[session.relationOf(seat)] ?? 'none',
      version: seat.client?.version ?? '',
      platform: seat.client?.platform ?? '',
      connected: seat.conn !== null,
    });
  }
  return {
    customerName: info?.name ?? session.customerLabel,
    computerName: info?.computerName ?? '',
    platform: info?.platform ?? '',
    customerIp: session.customerAddress,
    customerVersion: info?.version ?? '',
    participants,
    granted: describe(session.grants),
    controller: session.controllerSeat?.name ?? null,
    monitors: session.monitors.length,
    sysinfoCategories: session.sysinfoCategories,
  };
}
