/**
 * Builders for the frames the gateway itself writes (control replies, events, errors) and the
 * constant parts of the protocol re-exported under short names. Cold path only: the relay
 * forwards client frames as received and never calls these for SCREEN or INPUT.
 */

import type { Codes } from './codes.js';
import { ferry } from './gen/ferry.js';

export const pb = ferry.v1;
export const Channel = ferry.v1.Channel;
export const Role = ferry.v1.Role;
export type RoleValue = ferry.v1.Role;
export type ChannelValue = ferry.v1.Channel;

export function encodeFrame(frame: ferry.v1.Frame.$Properties): Uint8Array {
  return ferry.v1.Frame.encode(frame).finish();
}

export function controlFrame(control: ferry.v1.Control.$Properties, stream = 0): Uint8Array {
  return encodeFrame({ channel: Channel.CHANNEL_CONTROL, stream, control });
}

/**
 * An Event frame stamped with the gateway's time. `event` is the caller's own new literal (every
 * caller writes one): the time is set on it rather than on a spread copy, which V8 builds with a
 * map of its own and protobuf.js then encodes about five times slower (`node
 * dist/bench/micro/run.js --filter "event frame"`).
 */
export function eventFrame(
  event: Omit<ferry.v1.Event.$Properties, 'serverTimeUnixMs'>,
): Uint8Array {
  const stamped: ferry.v1.Event.$Properties = event;
  stamped.serverTimeUnixMs = Date.now();
  return encodeFrame({ channel: Channel.CHANNEL_EVENT, event: stamped });
}

export function errorFrame(
  entry: (typeof Codes)[keyof typeof Codes],
  message: string,
  requestId = 0,
  channel = 0,
  stream = 0,
): Uint8Array {
  const error = { code: entry.code, message, requestId, channel };
  if (stream === 0) return eventFrame({ error });
  // the shell or file refused: Frame.stream names it (SHELL and FILE errors)
  return encodeFrame({
    channel: Channel.CHANNEL_EVENT,
    stream,
    event: { error, serverTimeUnixMs: Date.now() },
  });
}

export function decodeFrame(bytes: Uint8Array): ferry.v1.Frame {
  return ferry.v1.Frame.decode(bytes);
}

const roleNames: Record<number, string> = {
  [Role.ROLE_TECHNICIAN]: 'technician',
  [Role.ROLE_CUSTOMER]: 'customer',
};

export function roleName(role: number): string {
  return roleNames[role] ?? 'none';
}

const channelNames = Object.entries(ferry.v1.Channel)
  .filter(([, v]) => typeof v === 'number')
  .reduce<string[]>((names, [k, v]) => {
    names[v as number] = k.replace('CHANNEL_', '').toLowerCase();
    return names;
  }, []);

/** `CHANNEL_SCREEN` -> `screen` (metric labels, logs). */
export function channelName(channel: number): string {
  return channelNames[channel] ?? 'unknown';
}

export const CHANNEL_COUNT = channelNames.length;

/** uint64 fields decode as Long objects; past 2^53 they are not safe integers and are refused. */
export function u64(value: number | { toNumber(): number } | null | undefined): number {
  if (value == null) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/**
 * Reliable frames are every frame but SCREEN and HEARTBEAT: both ends number them per connection
 * for the resume's replay (Hello.replay, Pong.received). Reads the channel from the frame's first
 * two bytes (the wire invariant of src/protocol/peek.ts: tag 0x08, a one-byte channel).
 */
export function isReliableFrame(bytes: Uint8Array): boolean {
  const channel = bytes.length > 1 && bytes[0] === 0x08 ? bytes[1]! : 0;
  return channel !== Channel.CHANNEL_SCREEN && channel !== Channel.CHANNEL_HEARTBEAT;
}
