/**
 * Reads the routing header of a Frame in place: field 1 (channel) and, when present right after
 * it, field 2 (stream). No protobuf decode and no allocation: the caller passes a view over the
 * message and a result object it owns and reuses.
 *
 * Wire invariant (docs/architecture.md, proto/ferry/v1/frame.proto): a Frame starts with tag 0x08 and a varint
 * channel; proto3 writes fields in field-number order, so a non-zero stream follows as tag 0x10.
 * A frame whose first field is anything else is rejected: the gateway does not search for
 * field 1 further in.
 */

export const PeekStatus = {
  OK: 0,
  EMPTY: 1,
  NO_CHANNEL: 2,
  TRUNCATED: 3,
  UNKNOWN_CHANNEL: 4,
} as const;
export type PeekStatusValue = (typeof PeekStatus)[keyof typeof PeekStatus];

/**
 * Highest channel number a frame may carry. The channel table (src/handlers/index.ts) says which
 * of them exist; a number without a row is refused as FERRY_ERR_UNKNOWN_CHANNEL by the router.
 */
export const MAX_CHANNEL = 63;

const TAG_CHANNEL = 0x08; // field 1, wire type 0 (varint)
const TAG_STREAM = 0x10; // field 2, wire type 0 (varint)
const MAX_VARINT32_BYTES = 5;

export class PeekResult {
  channel = 0;
  stream = 0;
  /** Bytes taken by the channel and stream fields. */
  headerLength = 0;
}

/**
 * Reads a varint32 at `pos`. Returns the offset after it, or -1 when truncated or longer than
 * 5 bytes. The value is left in `varintValue` (module scope: no allocation, single-threaded).
 */
let varintValue = 0;
function readVarint32(bytes: Uint8Array, pos: number): number {
  let value = 0;
  let shift = 0;
  const end = Math.min(bytes.length, pos + MAX_VARINT32_BYTES);
  for (let i = pos; i < end; i++) {
    const b = bytes[i]!;
    // multiplication, not <<, so the 5th byte cannot overflow into the sign bit
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      if (value > 0xffffffff) return -1;
      varintValue = value;
      return i + 1;
    }
    shift += 7;
  }
  return -1;
}

export function peek(bytes: Uint8Array, out: PeekResult): PeekStatusValue {
  if (bytes.length === 0) return PeekStatus.EMPTY;
  if (bytes[0] !== TAG_CHANNEL) return PeekStatus.NO_CHANNEL;
  let pos = readVarint32(bytes, 1);
  if (pos < 0) return PeekStatus.TRUNCATED;
  const channel = varintValue;
  if (channel === 0 || channel > MAX_CHANNEL) return PeekStatus.UNKNOWN_CHANNEL;
  let stream = 0;
  if (pos < bytes.length && bytes[pos] === TAG_STREAM) {
    pos = readVarint32(bytes, pos + 1);
    if (pos < 0) return PeekStatus.TRUNCATED;
    stream = varintValue;
  }
  out.channel = channel;
  out.stream = stream;
  out.headerLength = pos;
  return PeekStatus.OK;
}
