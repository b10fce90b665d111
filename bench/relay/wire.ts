/**
 * The bytes the generator sends, built once with the generated protobuf code and then only
 * stamped: a SCREEN frame (customer -> technician, ScreenUpdate.data) and an INPUT frame
 * (technician -> customer, InputEvent.text) of an exact total size, whose last 12 bytes are the
 * stamp: float64 send time (performance.now(), ms) and uint32 sequence number, little-endian.
 * The payload is the last field on the wire, so the stamp always sits at `size - 12`; the same
 * bytes go to all three targets. Also the Ferry setup frames (Hello, CreateSession, PickUp,
 * CloseSession) and the Pong answer to the gateway's heartbeat.
 */
import { ferry } from '../../src/protocol/gen/ferry.js';

const pb = ferry.v1;
export const CHANNEL_SCREEN = pb.Channel.CHANNEL_SCREEN;
export const CHANNEL_INPUT = pb.Channel.CHANNEL_INPUT;
export const CHANNEL_CONTROL = pb.Channel.CHANNEL_CONTROL;
export const CHANNEL_HEARTBEAT = pb.Channel.CHANNEL_HEARTBEAT;
export const CHANNEL_EVENT = pb.Channel.CHANNEL_EVENT;
/** Every Frame starts with this tag byte (field 1, varint); the channel follows. */
export const TAG_CHANNEL = 0x08;

export const STAMP_BYTES = 12;
/** Smallest frame that holds a stamp with room for the protobuf header. */
export const MIN_FRAME_BYTES = 32;

function encode(frame: ferry.v1.Frame.$Properties): Buffer {
  const bytes = pb.Frame.encode(frame).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function exactSize(size: number, build: (fill: number) => Buffer): Buffer {
  if (!Number.isInteger(size) || size < MIN_FRAME_BYTES) {
    throw new RangeError(`frame size must be an integer >= ${MIN_FRAME_BYTES}, got ${size}`);
  }
  // Length prefixes are varints: try a few fill sizes below the target until one lands exactly.
  for (let fill = size - 4; fill >= size - 24; fill--) {
    const out = build(fill);
    if (out.length === size) return Buffer.from(out); // own copy, out of protobufjs' pool
  }
  throw new RangeError(`cannot build a frame of exactly ${size} bytes`);
}

/** SCREEN frame of exactly `size` bytes; the stamp is the tail of ScreenUpdate.data. */
export function screenFrame(size: number): Buffer {
  const frame = exactSize(size, (fill) =>
    encode({
      channel: CHANNEL_SCREEN,
      screen: { data: Buffer.alloc(Math.max(STAMP_BYTES, fill), 0x5a) },
    }),
  );
  checkTail(frame, (f) => f.screen?.data ?? new Uint8Array(0));
  return frame;
}

/** INPUT frame of exactly `size` bytes; the stamp is the tail of InputEvent.text (never decoded by a relay). */
export function inputFrame(size: number): Buffer {
  const frame = exactSize(size, (fill) =>
    encode({
      channel: CHANNEL_INPUT,
      input: { text: { text: 'k'.repeat(Math.max(STAMP_BYTES, fill)) } },
    }),
  );
  checkTail(frame, (f) => Buffer.from(f.input?.text?.text ?? ''));
  return frame;
}

/** Proves the payload field ends the frame: the stamp region belongs to it. */
function checkTail(frame: Buffer, payloadOf: (f: ferry.v1.Frame) => Uint8Array): void {
  const payload = payloadOf(pb.Frame.decode(frame));
  const tail = frame.subarray(frame.length - payload.length);
  if (payload.length < STAMP_BYTES || Buffer.compare(tail, payload) !== 0) {
    throw new Error('bench frame layout: the payload field does not end the frame');
  }
}

/** Writes the stamp into the last 12 bytes of `frame` (which ends at `end`). */
export function stamp(buf: Buffer, end: number, timeMs: number, seq: number): void {
  buf.writeDoubleLE(timeMs, end - STAMP_BYTES);
  buf.writeUInt32LE(seq >>> 0, end - 4);
}

export function stampTime(payload: Buffer): number {
  return payload.readDoubleLE(payload.length - STAMP_BYTES);
}

export function stampSeq(payload: Buffer): number {
  return payload.readUInt32LE(payload.length - 4);
}

// --- Ferry session setup (cold path: encoded per use) ---------------------------------------

export function helloTechnician(token: string, requestId: number): Buffer {
  return encode({
    channel: CHANNEL_CONTROL,
    control: {
      requestId,
      hello: {
        role: pb.Role.ROLE_TECHNICIAN,
        token,
        client: { name: 'bench-tech', version: 'ferry-bench/1' },
      },
    },
  });
}

export function helloCustomer(pin: string, requestId: number): Buffer {
  return encode({
    channel: CHANNEL_CONTROL,
    control: {
      requestId,
      hello: {
        role: pb.Role.ROLE_CUSTOMER,
        pin,
        client: { name: 'bench-customer', version: 'ferry-bench/1' },
      },
    },
  });
}

export function createSession(requestId: number): Buffer {
  return encode({
    channel: CHANNEL_CONTROL,
    control: { requestId, createSession: { customerName: 'bench' } },
  });
}

export function pickUp(sessionId: string, requestId: number): Buffer {
  return encode({ channel: CHANNEL_CONTROL, control: { requestId, pickUp: { sessionId } } });
}

/** Customer -> gateway: grant VIEW and CONTROL unasked (consent id 0), so SCREEN and INPUT flow. */
export function grantViewAndControl(requestId: number): Buffer {
  return encode({
    channel: CHANNEL_CONTROL,
    control: {
      requestId,
      consentResponse: {
        consentId: 0,
        granted: [pb.Permission.PERMISSION_VIEW, pb.Permission.PERMISSION_CONTROL],
      },
    },
  });
}

export function closeSession(sessionId: string, requestId: number): Buffer {
  return encode({
    channel: CHANNEL_CONTROL,
    control: { requestId, closeSession: { sessionId, reason: 'bench' } },
  });
}

export function decodeFrame(payload: Uint8Array): ferry.v1.Frame {
  return pb.Frame.decode(payload);
}

export const STATUS_ACTIVE = pb.SessionStatus.SESSION_STATUS_ACTIVE;

const PONG_SEQ_MARKER = 0xa1b2c3d4;
const pongTemplate = encode({
  channel: CHANNEL_HEARTBEAT,
  heartbeat: { pong: { seq: PONG_SEQ_MARKER } },
});
const pongSeqOffset = (() => {
  for (let at = 0; at + 4 <= pongTemplate.length; at++) {
    if (pongTemplate.readUInt32LE(at) === PONG_SEQ_MARKER) return at;
  }
  throw new Error('pong seq marker not found');
})();

// The gateway's Ping: 08 09 | 62 len | 0a len | 0d seq(fixed32) | 11 time(double)
const PING_SEQ_OFFSET = 7;

function pingSeq(ping: Uint8Array): number | null {
  if (
    ping.length >= PING_SEQ_OFFSET + 4 &&
    ping[2] === 0x62 &&
    ping[4] === 0x0a &&
    ping[6] === 0x0d
  ) {
    return (ping[7]! | (ping[8]! << 8) | (ping[9]! << 16) | (ping[10]! << 24)) >>> 0;
  }
  // another layout: decode (a copy: the view dies with the read buffer)
  return pb.Frame.decode(Uint8Array.from(ping)).heartbeat?.ping?.seq ?? null;
}

/** The Pong that answers a gateway ping; reads the seq in place when the ping has the usual layout. */
export function pongFor(ping: Uint8Array): Buffer | null {
  const seq = pingSeq(ping);
  if (seq === null) return null;
  const pong = Buffer.from(pongTemplate);
  pong.writeUInt32LE(seq >>> 0, pongSeqOffset);
  return pong;
}
