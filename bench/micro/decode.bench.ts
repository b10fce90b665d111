/**
 * Decoding a control frame, and the oneof setter inside it (src/protocol/pb-runtime.ts): the
 * generated decoder names the oneof member it read through a setter that removes the other
 * members. protobuf.js's own setter deletes every other member whether the message holds it or
 * not (Control's op has dozens); the gateway's deletes only those the message holds.
 */
import { controlFrame } from '../../src/protocol/frames.js';
import { ferry } from '../../src/protocol/gen/ferry.js';
import { oneOfSetter } from '../../src/protocol/pb-runtime.js';
import type { MicroSuite } from './suite.js';

const pickUp = controlFrame({ requestId: 3, pickUp: { sessionId: 'sess-0123456789' } });

/** Control's oneof members: its message fields, which default to null on the prototype. */
const members = Object.keys(ferry.v1.Control.prototype).filter(
  (k) => (ferry.v1.Control.prototype as unknown as Record<string, unknown>)[k] === null,
);

/** protobuf.js's util.oneOfSetter (8.x), as it is. */
function libraryOneOfSetter(fieldNames: readonly string[]) {
  return function (this: Record<string, unknown>, name: string) {
    for (let i = 0; i < fieldNames.length; ++i)
      if (fieldNames[i] !== name) delete this[fieldNames[i]!];
  };
}

const ours = oneOfSetter(members);
const library = libraryOneOfSetter(members);
const decoded = ferry.v1.Frame.decode(pickUp).control!;

export const suites: MicroSuite[] = [
  {
    name: `oneof setter of a decoded Control (${members.length} members)`,
    op: 'one member named',
    cases: [
      {
        name: 'delete the members the message holds',
        fn: () => {
          ours.call(decoded, 'pickUp');
          return decoded.pickUp === null ? 0 : 1;
        },
      },
      {
        name: "delete every other member (protobuf.js's)",
        fn: () => {
          library.call(decoded as unknown as Record<string, unknown>, 'pickUp');
          return decoded.pickUp === null ? 0 : 1;
        },
        naive: true,
      },
    ],
  },
  {
    name: 'decode a PickUp control frame',
    op: 'one frame',
    cases: [
      {
        name: 'Frame.decode with the oneof setter above',
        fn: () => ferry.v1.Frame.decode(pickUp).control?.requestId ?? 0,
      },
    ],
  },
];
