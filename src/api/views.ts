/**
 * Plain-JSON views of gateway state for the status API: the gateway summary, the session list,
 * one live session with its participants' network statistics, and ended-session reports.
 * Read-only: nothing here writes to a session or a socket. Enum values become names
 * ("technician", "EXCELLENT", "GATEWAY_MEASURED"); every number is a plain JSON number.
 */
import { connectivityName } from '../netstats/grades.js';
import { CHANNEL_COUNT, channelName, roleName } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { VERSION } from '../version.js';
import type { GatewayView, LiveSessionView } from './gateway-view.js';

const RATE_SOURCE_NAMES: Readonly<Record<number, string>> = {
  [ferry.v1.RateSource.RATE_SOURCE_UNSPECIFIED]: 'UNSPECIFIED',
  [ferry.v1.RateSource.RATE_SOURCE_GATEWAY_MEASURED]: 'GATEWAY_MEASURED',
  [ferry.v1.RateSource.RATE_SOURCE_CLIENT_REPORTED]: 'CLIENT_REPORTED',
};

/** protobufjs may hand 64-bit fields back as numbers, Longs or null. */
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
/** Milliseconds to the microsecond: the clock's float noise stays out of the JSON. */
const ms = (v: unknown): number => Math.round(num(v) * 1000) / 1000;

export interface ChannelTotals {
  inFrames: number;
  inBytes: number;
  outFrames: number;
  outBytes: number;
  dropped: number;
}

export interface RelayedTotals {
  frames: number;
  bytes: number;
  dropped: number;
}

function gatewayLocation(gateway: GatewayView) {
  const loc = gateway.location;
  return {
    name: loc.name ?? '',
    region: loc.region ?? '',
    latitude: numOrNull(loc.latitude),
    longitude: numOrNull(loc.longitude),
  };
}

export function statusView(gateway: GatewayView, nowMs: number = Date.now()) {
  const byRole = { pending: 0, technician: 0, customer: 0 };
  for (const conn of gateway.connections) {
    if (conn.role === ferry.v1.Role.ROLE_TECHNICIAN) byRole.technician++;
    else if (conn.role === ferry.v1.Role.ROLE_CUSTOMER) byRole.customer++;
    else byRole.pending++;
  }
  const totals = gateway.sessionTotals;
  const counts = totals.counts();
  const byStatus: Record<string, number> = {};
  for (const status of gateway.labels.statuses) byStatus[status] = counts[status] ?? 0;

  const stats = gateway.relay;
  const reasons = gateway.labels.dropReasons.length;
  const channels: Record<string, ChannelTotals> = {};
  const relayed: ChannelTotals = { inFrames: 0, inBytes: 0, outFrames: 0, outBytes: 0, dropped: 0 };
  for (let ch = 1; ch < CHANNEL_COUNT; ch++) {
    let dropped = 0;
    for (let r = 0; r < reasons; r++) dropped += stats.dropped[ch * reasons + r]!;
    const row: ChannelTotals = {
      inFrames: stats.inFrames[ch]!,
      inBytes: stats.inBytes[ch]!,
      outFrames: stats.outFrames[ch]!,
      outBytes: stats.outBytes[ch]!,
      dropped,
    };
    channels[channelName(ch)] = row;
    relayed.inFrames += row.inFrames;
    relayed.inBytes += row.inBytes;
    relayed.outFrames += row.outFrames;
    relayed.outBytes += row.outBytes;
    relayed.dropped += row.dropped;
  }

  return {
    id: gateway.id,
    version: VERSION,
    uwsSource: gateway.uwsSource,
    location: gatewayLocation(gateway),
    startedAt: new Date(gateway.startedAtMs).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((nowMs - gateway.startedAtMs) / 1000)),
    draining: gateway.draining,
    connections: { total: gateway.connections.size, byRole },
    sessions: {
      live: gateway.sessions.size,
      byStatus,
      created: totals.created,
      ended: totals.ended,
      openPins: totals.openPins,
    },
    pinAttempts: { accepted: totals.pinAccepted, rejected: totals.pinRejected },
    relay: { totals: relayed, channels, malformedFrames: stats.malformed },
    networkAlerts: {
      raised: gateway.netstats.alertsRaised,
      cleared: gateway.netstats.alertsCleared,
    },
    errors: Object.fromEntries(stats.errors),
  };
}

function relayedTotals(session: LiveSessionView): RelayedTotals {
  const totals: RelayedTotals = { frames: 0, bytes: 0, dropped: 0 };
  for (let ch = 1; ch < CHANNEL_COUNT; ch++) {
    totals.frames += session.relayedFrames[ch]!;
    totals.bytes += session.relayedBytes[ch]!;
    totals.dropped += session.droppedFrames[ch]!;
  }
  return totals;
}

export function sessionSummaryView(session: LiveSessionView) {
  return {
    id: session.id,
    status: session.status,
    createdAt: new Date(session.createdAtMs).toISOString(),
    creator: session.creator.name,
    customerName: session.customerInfo?.name ?? (session.customerLabel || null),
    customerConnected: session.customer !== null,
    technicians: session.technicians.map((t) => ({
      id: t.id,
      name: t.name,
      controller: t === session.controller,
    })),
    relayed: relayedTotals(session),
  };
}

export function sessionListView(gateway: GatewayView) {
  const sessions = [...gateway.sessions.values()].map(sessionSummaryView);
  return { count: sessions.length, sessions };
}

/** One live session with a network statistics row per connected participant. */
export function sessionDetailView(gateway: GatewayView, session: LiveSessionView) {
  const stats = gateway.networkStats(session);
  const byChannel: Record<string, RelayedTotals> = {};
  for (let ch = 1; ch < CHANNEL_COUNT; ch++) {
    const frames = session.relayedFrames[ch]!;
    const dropped = session.droppedFrames[ch]!;
    if (frames === 0 && dropped === 0) continue;
    byChannel[channelName(ch)] = { frames, bytes: session.relayedBytes[ch]!, dropped };
  }
  return {
    ...sessionSummaryView(session),
    relayedByChannel: byChannel,
    network: {
      gatewayTime: new Date(num(stats.gatewayTimeUnixMs)).toISOString(),
      location: gatewayLocation(gateway),
      overall: connectivityName(stats.overall ?? 0),
      participants: (stats.participants ?? []).map((p) => ({
        participantId: p.participantId ?? '',
        displayName: p.displayName ?? '',
        role: roleName(p.role ?? 0),
        grade: connectivityName(p.status ?? 0),
        avgRttMs: ms(p.avgRttMs),
        lastRttMs: ms(p.lastRttMs),
        jitterMs: ms(p.jitterMs),
        sampleCount: num(p.sampleCount),
        stalledProbes: num(p.stalledProbes),
        uploadBps: numOrNull(p.uploadBps),
        downloadBps: numOrNull(p.downloadBps),
        rateSource: RATE_SOURCE_NAMES[p.rateSource ?? 0] ?? 'UNSPECIFIED',
        peerToPeer: p.peerToPeer === true,
      })),
    },
  };
}
