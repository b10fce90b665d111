/**
 * Plain-text rendering of a NetworkStats snapshot for terminals (reference technician, demo):
 * one row per participant with role, name, RTT, jitter, rate and grade (spec NS-D2 rounding).
 */
import { ferry } from '../protocol/gen/ferry.js';
import { connectivityName, formatRtt, MEASURING_LABEL } from './grades.js';

function rate(bps: number | null | undefined): string {
  if (bps == null) return '-';
  const n = Number(bps);
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} Mbit/s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kbit/s`;
  return `${n} bit/s`;
}

export function formatStatsTable(stats: ferry.v1.INetworkStats): string {
  const rows = [
    ['role', 'name', 'rtt avg', 'rtt last', 'jitter', 'up / down (current rate)', 'grade'],
  ];
  for (const p of stats.participants ?? []) {
    const unknown = (p.status ?? 0) === ferry.v1.Connectivity.CONNECTIVITY_UNKNOWN;
    rows.push([
      p.role === ferry.v1.Role.ROLE_TECHNICIAN ? 'technician' : 'customer',
      p.displayName ?? '',
      unknown ? MEASURING_LABEL : formatRtt(p.avgRttMs ?? 0),
      `${Math.round(p.lastRttMs ?? 0)} ms`,
      `${(p.jitterMs ?? 0).toFixed(1)} ms`,
      p.role === ferry.v1.Role.ROLE_CUSTOMER
        ? `up ${rate(p.uploadBps)}`
        : `down ${rate(p.downloadBps)}`,
      connectivityName(p.status ?? 0),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const loc = stats.gatewayLocation;
  const where = loc ? [loc.region, loc.name].filter(Boolean).join(' / ') : '';
  const head = `network: ${connectivityName(stats.overall ?? 0)}${where ? ` via gateway ${where}` : ''}`;
  return [head, ...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  '))].join('\n');
}

export function formatAlert(alert: ferry.v1.INetworkQualityAlert): string {
  const who = `${alert.role === ferry.v1.Role.ROLE_TECHNICIAN ? 'technician' : 'customer'} ${alert.displayName ?? alert.participantId}`;
  return alert.cleared
    ? `network recovered: ${who} is ${connectivityName(alert.status ?? 0)} (${formatRtt(alert.avgRttMs ?? 0)})`
    : `poor network: ${who} averages ${formatRtt(alert.avgRttMs ?? 0)}`;
}
