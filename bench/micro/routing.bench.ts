/**
 * Routing-table lookup: the relay reads `routes[channel]` (src/relay/routes.ts, an array indexed
 * by channel number) and switches on a small-integer kind; the naive ways turn the channel into
 * its name and look the handler up in a Map, or switch on the name string.
 */
import { ferry } from '../../src/protocol/gen/ferry.js';
import { RouteKind, routes } from '../../src/relay/routes.js';
import type { MicroSuite } from './suite.js';

const CHANNELS = [1, 2, 1, 1, 2, 1, 9, 8, 1, 3, 2, 1, 1, 2, 1, 1];
const Channel = ferry.v1.Channel as unknown as Record<number, string>;
let i = 0;

function byKind(kind: number): number {
  switch (kind) {
    case RouteKind.SCREEN:
      return 1;
    case RouteKind.INPUT:
      return 2;
    case RouteKind.CHAT:
      return 3;
    case RouteKind.CONTROL:
      return 5;
    case RouteKind.HEARTBEAT:
      return 6;
    default:
      return 0;
  }
}

const handlers = new Map<string, () => number>([
  ['CHANNEL_SCREEN', () => 1],
  ['CHANNEL_INPUT', () => 2],
  ['CHANNEL_CHAT', () => 3],
  ['CHANNEL_CONTROL', () => 5],
  ['CHANNEL_HEARTBEAT', () => 6],
]);

function byName(name: string): number {
  switch (name) {
    case 'screen':
      return 1;
    case 'input':
      return 2;
    case 'chat':
      return 3;
    case 'control':
      return 5;
    case 'heartbeat':
      return 6;
    default:
      return 0;
  }
}

export const suites: MicroSuite[] = [
  {
    name: 'routing-table lookup by channel',
    op: 'one frame',
    cases: [
      {
        name: 'routes[channel] + switch on kind',
        fn: () => {
          const route = routes[CHANNELS[i++ & 15]!]!;
          return byKind(route.kind) + route.from;
        },
      },
      {
        name: 'Map<name, handler> via the enum name',
        fn: () => (handlers.get(Channel[CHANNELS[i++ & 15]!]!) ?? (() => 0))(),
        naive: true,
      },
      {
        name: 'switch on a built name string',
        fn: () => byName(Channel[CHANNELS[i++ & 15]!]!.slice(8).toLowerCase()),
      },
    ],
  },
];
