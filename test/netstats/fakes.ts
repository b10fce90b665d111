/**
 * Test doubles for the heartbeat: a clock the test moves by hand and a target that decodes every
 * ping it is handed (at once, because the heartbeat rewrites the same buffer for the next send).
 */
import type { HeartbeatTarget } from '../../src/netstats/heartbeat.js';
import { LinkStats } from '../../src/netstats/link-stats.js';
import { QualityAlertTracker } from '../../src/netstats/quality-alerts.js';
import { ferry } from '../../src/protocol/gen/ferry.js';

export class FakeClock {
  ms = 0;
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface SentPing {
  readonly seq: number;
  readonly gatewayTimeMs: number;
  readonly frame: Uint8Array;
}

export class FakeTarget implements HeartbeatTarget {
  readonly link: LinkStats;
  readonly alerts = new QualityAlertTracker();
  readonly sent: SentPing[] = [];
  accepting = true;
  rxBytes = 0;
  txBytes = 0;

  constructor(connectedAtMs = 0) {
    this.link = new LinkStats(connectedAtMs);
  }

  sendHeartbeat(frame: Uint8Array): boolean {
    if (!this.accepting) return false;
    const decoded = ferry.v1.Frame.decode(frame);
    assertHeartbeatChannel(decoded.channel);
    const ping = decoded.heartbeat?.ping;
    if (ping == null) throw new Error('sendHeartbeat was handed a frame without a Ping');
    this.sent.push({ seq: ping.seq ?? 0, gatewayTimeMs: ping.gatewayTimeMs ?? 0, frame });
    return true;
  }

  get lastSeq(): number {
    const last = this.sent.at(-1);
    if (last === undefined) throw new Error('no ping was sent to this target');
    return last.seq;
  }
}

function assertHeartbeatChannel(channel: number | null | undefined): void {
  if (channel !== ferry.v1.Channel.CHANNEL_HEARTBEAT) {
    throw new Error(`ping sent on channel ${channel}, not CHANNEL_HEARTBEAT`);
  }
}
