/**
 * Per-frame accounting: the relay bumps plain number fields on the connection and typed arrays
 * indexed by channel (src/relay/router.ts, src/relay/stats.ts) and prom-client reads them at
 * scrape time; the naive ways count on every frame through a Map keyed by a built string, or
 * through a prom-client Counter with a new label object per call.
 */
import { Counter, Registry } from 'prom-client';
import { channelName } from '../../src/protocol/frames.js';
import { RelayStats } from '../../src/relay/stats.js';
import type { MicroSuite } from './suite.js';

const CHANNELS = [1, 2, 1, 1, 2, 1, 9, 1];
const SIZES = [16384, 64, 1024, 16384, 64, 4096, 20, 512];

class Conn {
  rxFrames = 0;
  rxBytes = 0;
}
const conn = new Conn();
const stats = new RelayStats();
const byKey = new Map<string, number>();
const sessionId = 'Qm9uam91ciBsZXMgYW1p';
const registry = new Registry();
const frames = new Counter({
  name: 'bench_frames_total',
  help: 'x',
  labelNames: ['channel', 'direction'] as const,
  registers: [registry],
});
const bytes = new Counter({
  name: 'bench_bytes_total',
  help: 'x',
  labelNames: ['channel', 'direction'] as const,
  registers: [registry],
});
let i = 0;

export const suites: MicroSuite[] = [
  {
    name: 'per-frame accounting (rx frames + bytes, connection and channel)',
    op: 'one frame',
    cases: [
      {
        name: 'plain fields + typed arrays',
        fn: () => {
          const k = i++ & 7;
          const ch = CHANNELS[k]!;
          const n = SIZES[k]!;
          conn.rxFrames++;
          conn.rxBytes += n;
          stats.inFrames[ch]!++;
          stats.inBytes[ch]! += n;
          return conn.rxFrames;
        },
      },
      {
        name: 'Map keyed by session:channel strings',
        fn: () => {
          const k = i++ & 7;
          const key = `${sessionId}:${channelName(CHANNELS[k]!)}`;
          byKey.set(`${key}:frames`, (byKey.get(`${key}:frames`) ?? 0) + 1);
          byKey.set(`${key}:bytes`, (byKey.get(`${key}:bytes`) ?? 0) + SIZES[k]!);
          return byKey.size;
        },
      },
      {
        name: 'prom-client Counter.inc with a label object per call',
        fn: () => {
          const k = i++ & 7;
          const channel = channelName(CHANNELS[k]!);
          frames.inc({ channel, direction: 'in' });
          bytes.inc({ channel, direction: 'in' }, SIZES[k]!);
          return k;
        },
        naive: true,
      },
    ],
  },
];
