/**
 * HEARTBEAT: clients answer the gateway's pings with Pong{seq}; the heartbeat service turns each
 * into an RTT sample (src/netstats/heartbeat.ts).
 */
import { Codes } from '../protocol/codes.js';
import { Channel } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import type { HandlerContext } from './context.js';

/** Where pongs go: the gateway's heartbeat (RTT = now - the ping's send time). */
export interface PongSink {
  onPong(peer: RelayPeer, seq: number): number;
}

export function heartbeatHandler(ctx: HandlerContext, pongs: PongSink) {
  const channel = Channel.CHANNEL_HEARTBEAT;
  return (peer: RelayPeer, bytes: Uint8Array): void => {
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(bytes);
    } catch (err) {
      const text = `frame is not valid protobuf: ${(err as Error).message}`;
      ctx.fail(peer, Codes.FRAME_DECODE, text, 0, channel);
      return;
    }
    const pong = frame.heartbeat?.pong;
    if (pong == null) {
      const text = 'clients send Pong on the HEARTBEAT channel';
      ctx.fail(peer, Codes.FRAME_DECODE, text, 0, channel);
      return;
    }
    pongs.onPong(peer, pong.seq ?? 0);
    // what the client holds needs no copy for a replay any more
    if (pong.received) peer.acknowledge(Number(pong.received));
  };
}
