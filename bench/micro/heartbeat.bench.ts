/**
 * Heartbeat ping build: the gateway encodes its Ping once and rewrites only the fixed32 seq and
 * the double time in place (the technique of src/netstats/heartbeat.ts, reproduced here on the
 * same marker search so it can be timed alone) vs encoding a new Ping frame for every target.
 * A third case times the real `Heartbeat.tick` for one target (rewrite, send, pending, byte
 * sampling) so the build's share of a tick is visible.
 */
import { Heartbeat, type HeartbeatTarget } from '../../src/netstats/heartbeat.js';
import { LinkStats } from '../../src/netstats/link-stats.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import type { MicroSuite } from './suite.js';

const SEQ_MARKER = 0xa1b2c3d4;
const TIME_MARKER = -123456789.125;
const template = new Uint8Array(
  ferry.v1.Frame.encode({
    channel: ferry.v1.Channel.CHANNEL_HEARTBEAT,
    heartbeat: { ping: { seq: SEQ_MARKER, gatewayTimeMs: TIME_MARKER } },
  }).finish(),
);
const view = new DataView(template.buffer, template.byteOffset, template.byteLength);

function find(matches: (at: number) => boolean, width: number): number {
  for (let at = 0; at + width <= template.length; at++) if (matches(at)) return at;
  throw new Error('marker not found');
}
const seqOffset = find((at) => view.getUint32(at, true) === SEQ_MARKER, 4);
const timeOffset = find((at) => view.getFloat64(at, true) === TIME_MARKER, 8);

let seq = 0;
let clock = 1000;

class FakeTarget implements HeartbeatTarget {
  readonly link = new LinkStats(0);
  rxBytes = 0;
  txBytes = 0;
  sendHeartbeat(frame: Uint8Array): boolean {
    this.txBytes += frame.length;
    return true;
  }
}
const target = new FakeTarget();
const heartbeat = new Heartbeat<FakeTarget>({ now: () => clock, intervalMs: 2000, stallMs: 5000 });
const one = [target];

export const suites: MicroSuite[] = [
  {
    name: 'heartbeat ping build',
    op: 'one ping',
    cases: [
      {
        name: 'rewrite seq + time in the pre-encoded ping',
        fn: () => {
          seq++;
          clock += 0.5;
          view.setUint32(seqOffset, seq, true);
          view.setFloat64(timeOffset, clock, true);
          return template.length;
        },
      },
      {
        name: 'encode a new Ping frame',
        fn: () => {
          seq++;
          clock += 0.5;
          return ferry.v1.Frame.encode({
            channel: ferry.v1.Channel.CHANNEL_HEARTBEAT,
            heartbeat: { ping: { seq, gatewayTimeMs: clock } },
          }).finish().length;
        },
        naive: true,
      },
      {
        name: 'Heartbeat.tick, one target (src/netstats)',
        fn: () => {
          clock += 2000;
          heartbeat.tick(one);
          // answer at once so pending never fills and every tick sends
          heartbeat.onPong(target, (heartbeat.nextSeq - 1) >>> 0);
          return target.txBytes;
        },
      },
    ],
  },
];
