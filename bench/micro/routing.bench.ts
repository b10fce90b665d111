/**
 * Routing-table lookup: the router reads `table[channel]` (the channel rows of
 * src/handlers/index.ts, an array indexed by channel number) and switches on a small-integer
 * kind; the naive ways turn the channel into its name and look the handler up in a Map, or
 * switch on the name string. The rows here have the built-in table's shape and kinds.
 */
import { ferry } from '../../src/protocol/gen/ferry.js';
import { type ChannelRow, FROM_ANY, RouteKind, row } from '../../src/relay/routes.js';
import type { MicroSuite } from './suite.js';

const CHANNELS = [1, 2, 1, 1, 2, 1, 9, 8, 1, 3, 2, 1, 1, 2, 1, 1];
const Channel = ferry.v1.Channel as unknown as Record<number, string>;
let i = 0;

const handler = (): number => 0;
const routes: ChannelRow[] = [];
for (let channel = 1; channel <= 10; channel++) {
  const kind =
    channel === 1 ? RouteKind.SCREEN : channel === 2 ? RouteKind.INPUT : RouteKind.HANDLER;
  routes[channel] = row(channel, Channel[channel]!, {
    kind,
    from: FROM_ANY,
    ...(kind === RouteKind.HANDLER ? { handler } : {}),
  });
}

function byKind(kind: number): number {
  switch (kind) {
    case RouteKind.SCREEN:
      return 1;
    case RouteKind.INPUT:
      return 2;
    case RouteKind.HANDLER:
      return 3;
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
        name: 'table[channel] + switch on kind',
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
