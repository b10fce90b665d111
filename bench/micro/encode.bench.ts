/**
 * Frames the gateway writes itself, and counting a relayed frame's bytes:
 * - an Error event encoded with the generated protobuf code vs the same object as JSON text
 *   (what a JSON protocol would put on the wire);
 * - a constant reply (a KeyFrameRequest) hoisted once at module scope vs encoded per send;
 * - a forwarded frame's size read from `byteLength` vs re-serialising it to count its bytes;
 * - an event frame stamped with the time on the caller's literal (`eventFrame`) vs on a spread
 *   copy of it, with the two kinds of event a session's set-up sends most.
 */
import { Codes } from '../../src/protocol/codes.js';
import { controlFrame, encodeFrame, errorFrame, eventFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { screenFrame } from '../relay/wire.js';
import type { MicroSuite } from './suite.js';

const errorEvent = {
  channel: ferry.v1.Channel.CHANNEL_EVENT,
  event: {
    serverTimeUnixMs: 1_700_000_000_000,
    error: {
      code: Codes.NOT_GRANTED.code,
      message: 'the customer has not granted this channel',
      channel: 5,
    },
  },
};
const keyFrameRequest = controlFrame({
  keyFrameRequest: { reason: 'receiver caught up after drops' },
});
const screen = new Uint8Array(screenFrame(1024));

/** A session's set-up events, alternately (a status change, a log event), as fresh literals. */
let eventSeq = 0;
function setupEvent(): Omit<ferry.v1.Event.$Properties, 'serverTimeUnixMs'> {
  eventSeq++;
  return eventSeq % 2 === 0
    ? { statusChanged: { sessionId: 'P8Htbu9QqMX8CFJl', status: 3, previous: 2 } }
    : {
        sessionEvent: {
          sessionId: 'P8Htbu9QqMX8CFJl',
          seq: eventSeq,
          serverTimeUnixMs: 1_765_000_000_000,
          type: 'consent',
          actor: 'bench-customer',
          detail: 'granted view, control',
          audience: 1,
        },
      };
}

export const suites: MicroSuite[] = [
  {
    name: 'encode an Error event frame',
    op: 'one frame',
    cases: [
      {
        name: 'errorFrame (protobuf, generated code)',
        fn: () =>
          errorFrame(Codes.NOT_GRANTED, 'the customer has not granted this channel', 0, 5).length,
      },
      {
        name: 'Frame.encode of the same object',
        fn: () => ferry.v1.Frame.encode(errorEvent).finish().length,
      },
      {
        name: 'JSON.stringify + Buffer.from',
        fn: () => Buffer.from(JSON.stringify(errorEvent)).length,
        naive: true,
      },
    ],
  },
  {
    name: 'event frame',
    op: 'one frame',
    cases: [
      {
        name: "eventFrame (time set on the caller's literal)",
        fn: () => eventFrame(setupEvent()).length,
      },
      {
        name: 'time set on a spread copy',
        fn: () =>
          encodeFrame({
            channel: ferry.v1.Channel.CHANNEL_EVENT,
            event: { ...setupEvent(), serverTimeUnixMs: Date.now() },
          }).length,
        naive: true,
      },
    ],
  },
  {
    name: 'constant reply (KeyFrameRequest)',
    op: 'one reply',
    cases: [
      { name: 'hoisted, encoded once', fn: () => keyFrameRequest.length },
      {
        name: 'encoded per send',
        fn: () =>
          controlFrame({ keyFrameRequest: { reason: 'receiver caught up after drops' } }).length,
        naive: true,
      },
    ],
  },
  {
    name: "count a forwarded 1 KiB frame's bytes",
    op: 'one frame',
    cases: [
      { name: 'byteLength', fn: () => screen.byteLength },
      {
        name: 're-serialise (decode + encode)',
        fn: () => ferry.v1.Frame.encode(ferry.v1.Frame.decode(screen)).finish().length,
        naive: true,
      },
    ],
  },
];
