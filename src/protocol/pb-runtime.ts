/**
 * protobuf.js's runtime as the generated module imports it (`pbjs --dependency`, the `gen`
 * script): the library's own, with one part made faster.
 *
 * A message with a oneof (Frame's channel payload, Control's op, ...) has a virtual property
 * naming the member that is set, and its generated decoder assigns that name after each member
 * it reads. protobuf.js's setter then `delete`s every other member of the oneof (Control has 68),
 * whether the message holds it or not: a runtime call per name, most of a Control frame's decode
 * (2.4 µs a PickUp, 0.6 with the setter below; the setter alone 2.1 → 0.35 µs, `node
 * dist/bench/micro/run.js --filter oneof`). The setter below deletes only the members the message
 * holds as its own properties, which is the same result: the last member read wins, the others
 * are gone.
 */
import protobuf from 'protobufjs/minimal.js';

export * from 'protobufjs/minimal.js';

const hasOwn = Object.prototype.hasOwnProperty;

/** Builds the setter of a oneof's virtual property (protobuf.js's `util.oneOfSetter`). */
export function oneOfSetter(fieldNames: readonly string[]): (this: object, name: string) => void {
  return function setOneOf(this: object, name: string): void {
    for (let i = 0; i < fieldNames.length; i++) {
      const field = fieldNames[i]!;
      if (field !== name && hasOwn.call(this, field))
        delete (this as Record<string, unknown>)[field];
    }
  };
}

protobuf.util.oneOfSetter = oneOfSetter as typeof protobuf.util.oneOfSetter;

export default protobuf;
