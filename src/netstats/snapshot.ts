/**
 * One participant's row of a NetworkStats event (docs/spec/network-stats.md 7) from its LinkStats.
 * Rates are gateway-measured (spec NS-D8): upload on the customer row, download on technician
 * rows; the other rate field is left null so it is not encoded. While the participant's SCREEN
 * and INPUT frames flow on a direct path (NS-D10, NS-D11, src/handlers/direct.ts) the row says
 * `peerToPeer`, and its rate adds what its end reports of that path: CLIENT_REPORTED. The RTT
 * stays the gateway's own measurement of the control connection.
 */
import { ferry } from '../protocol/gen/ferry.js';
import type { LinkStats } from './link-stats.js';

export interface ParticipantIdentity {
  readonly participantId: string;
  readonly displayName: string;
  readonly role: ferry.v1.Role;
}

/** A participant's direct path as its row shows it: the rate its end reports, bits/s. */
export interface DirectRow {
  readonly peerToPeer: boolean;
  readonly bps: number;
}

export function buildParticipantRow(
  link: LinkStats,
  who: ParticipantIdentity,
  nowMs: number,
  direct: DirectRow | null = null,
): ferry.v1.IParticipantNetStats {
  const p2p = direct?.peerToPeer === true;
  const extra = p2p ? direct!.bps : 0;
  return {
    participantId: who.participantId,
    displayName: who.displayName,
    role: who.role,
    lastRttMs: link.lastRttMs,
    avgRttMs: link.avgRttMs,
    sampleCount: link.sampleCount,
    stalledProbes: link.stalledProbes,
    status: link.status,
    uploadBps: who.role === ferry.v1.Role.ROLE_CUSTOMER ? link.uploadBps(nowMs) + extra : null,
    downloadBps:
      who.role === ferry.v1.Role.ROLE_TECHNICIAN ? link.downloadBps(nowMs) + extra : null,
    rateSource: p2p
      ? ferry.v1.RateSource.RATE_SOURCE_CLIENT_REPORTED
      : ferry.v1.RateSource.RATE_SOURCE_GATEWAY_MEASURED,
    peerToPeer: p2p,
    jitterMs: link.jitterMs,
  };
}
