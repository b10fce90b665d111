/**
 * Routing header: `peek` (src/protocol/peek.ts) reads channel and stream in place; the naive
 * way decodes the whole Frame with the generated protobuf code to learn the channel.
 */
import { ferry } from '../../src/protocol/gen/ferry.js';
import { PeekResult, peek } from '../../src/protocol/peek.js';
import { inputFrame, screenFrame } from '../relay/wire.js';
import type { MicroSuite } from './suite.js';

const screen = new Uint8Array(screenFrame(1024));
const input = new Uint8Array(inputFrame(64));
const out = new PeekResult();

export const suites: MicroSuite[] = [
  {
    name: 'routing header of a 1 KiB SCREEN frame',
    op: 'one frame',
    cases: [
      { name: 'peek (in place)', fn: () => (peek(screen, out) === 0 ? out.channel : -1) },
      {
        name: 'Frame.decode (full decode)',
        fn: () => ferry.v1.Frame.decode(screen).channel,
        naive: true,
      },
    ],
  },
  {
    name: 'routing header of a 64 B INPUT frame',
    op: 'one frame',
    cases: [
      { name: 'peek (in place)', fn: () => (peek(input, out) === 0 ? out.channel : -1) },
      {
        name: 'Frame.decode (full decode)',
        fn: () => ferry.v1.Frame.decode(input).channel,
        naive: true,
      },
    ],
  },
];
