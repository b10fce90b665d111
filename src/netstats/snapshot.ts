/**
 * One participant's row of a NetworkStats event (docs/spec/network-stats.md 7) from its LinkStats.
 * Rates are gateway-measured in v1 (spec NS-D8): upload on the customer row, download on
 * technician rows; the other rate field is left null so it is not encoded. Peer-to-peer
 * (spec NS-D10, NS-D11) is not implemented, so `peerToPeer` is always false.
 */
import { ferry } from '../protocol/gen/ferry.js';
import type { LinkStats } from './link-stats.js';

export interface ParticipantIdentity {
  readonly participantId: string;
  readonly displayName: string;
  readonly role: ferry.v1.Role;
}

export function buildParticipantRow(
  link: LinkStats,
  who: ParticipantIdentity,
  nowMs: number,
): ferry.v1.IParticipantNetStats {
  return {
    participantId: who.participantId,
    displayName: who.displayName,
    role: who.role,
    lastRttMs: link.lastRttMs,
    avgRttMs: link.avgRttMs,
    sampleCount: link.sampleCount,
    stalledProbes: link.stalledProbes,
    status: link.status,
    uploadBps: who.role === ferry.v1.Role.ROLE_CUSTOMER ? link.uploadBps(nowMs) : null,
    downloadBps: who.role === ferry.v1.Role.ROLE_TECHNICIAN ? link.downloadBps(nowMs) : null,
    rateSource: ferry.v1.RateSource.RATE_SOURCE_GATEWAY_MEASURED,
    peerToPeer: false,
    jitterMs: link.jitterMs,
  };
}
