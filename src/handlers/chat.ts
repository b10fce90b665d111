/**
 * CHAT and CHAT_PRIVATE (spec session-tools B1, B2): decoded, stamped with the gateway's
 * sequence, time and sender, appended to the session log and sent to its audience.
 * Technicians-only messages never reach the customer. Chat stays open until the session is
 * closed, timed out or over. ChatHistoryRequest answers late joiners from the log.
 */
import { TokenBucket } from '../limits/token-bucket.js';
import { Codes } from '../protocol/codes.js';
import { Channel, encodeFrame, eventFrame, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import type { Session } from '../session/session.js';
import type { HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

const MAX_CHAT_TEXT = 16 * 1024;

/** spec session-tools B1: chat is open until the session is closed, timed out or over. */
function chatOpen(session: Session): boolean {
  const s = session.status;
  return !session.terminal && s !== 'CLOSED' && s !== 'TIMED_OUT';
}

export function chatOps(ctx: HandlerContext): ControlTable {
  return {
    chatHistoryRequest: op(Who.ANY, ({ peer, body, requestId }) =>
      ctx.answer(peer, requestId, 'chatHistory', ctx.tools.chatHistory(peer, body)),
    ),
  };
}

/** The handler of one chat channel (CHAT or CHAT_PRIVATE). */
export function chatHandler(ctx: HandlerContext, channel: number) {
  return (peer: RelayPeer, bytes: Uint8Array, session: Session | null): void => {
    const fail = (entry: (typeof Codes)[keyof typeof Codes], text: string) =>
      ctx.fail(peer, entry, text, 0, channel);
    let frame: ferry.v1.Frame;
    try {
      frame = ferry.v1.Frame.decode(bytes);
    } catch (err) {
      fail(Codes.FRAME_DECODE, `frame is not valid protobuf: ${(err as Error).message}`);
      return;
    }
    const chat = frame.chat;
    if (chat == null || typeof chat.text !== 'string' || chat.text.length === 0) {
      fail(Codes.FRAME_DECODE, 'a chat frame needs a ChatMessage with text');
      return;
    }
    if (chat.text.length > MAX_CHAT_TEXT) {
      fail(Codes.FRAME_TOO_LARGE, `chat text over ${MAX_CHAT_TEXT} characters`);
      return;
    }
    if (session === null || session.ended || !session.isParticipant(peer)) {
      fail(Codes.NOT_IN_SESSION, 'join a session before chatting');
      return;
    }
    // a flood is refused before it is logged: every logged line lives in the session's window
    const rate = ctx.config.maxChatPerSecond;
    const now = ctx.registry.now();
    peer.chatBucket ??= new TokenBucket(rate, 2 * rate, now);
    if (!peer.chatBucket.take(now)) {
      fail(Codes.CHAT_RATE_LIMITED, `over ${rate} chat messages per second`);
      return;
    }
    if (!chatOpen(session)) {
      fail(Codes.WRONG_STATE, `no chat while the session is ${session.status}`);
      return;
    }
    const techniciansOnly =
      channel === Channel.CHANNEL_CHAT_PRIVATE ||
      chat.audience === ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY;
    if (techniciansOnly && peer.role !== Role.ROLE_TECHNICIAN) {
      fail(Codes.WRONG_ROLE, 'only technicians may chat privately');
      return;
    }
    const entry = session.log.append(
      {
        kind: 'chat',
        audience: techniciansOnly ? 'technicians' : 'all',
        senderId: peer.id,
        senderName: peer.name,
        senderRole: peer.role === Role.ROLE_TECHNICIAN ? 'technician' : 'customer',
        text: chat.text,
      },
      ctx.registry.now(),
    );
    const out = encodeFrame({
      channel: techniciansOnly ? Channel.CHANNEL_CHAT_PRIVATE : Channel.CHANNEL_CHAT,
      stream: frame.stream,
      chat: {
        text: chat.text,
        audience: techniciansOnly
          ? ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY
          : ferry.v1.ChatAudience.CHAT_AUDIENCE_ALL,
        clientMsgId: chat.clientMsgId,
        seq: entry.seq,
        serverTimeUnixMs: entry.timeMs,
        senderId: peer.id,
        senderName: peer.name,
        senderRole: peer.role,
      },
    });
    session.logger.debug({ seq: entry.seq, from: peer.name, techniciansOnly }, 'chat');
    ctx.registry.noteAction(peer, session);
    // Owner and collaborators (and the customer unless private), as they are now: the
    // audience of the message; held for any who are away.
    const customer = techniciansOnly ? null : session.customerSeat;
    const seats = session.technicianSeats();
    if (customer !== null) seats.push(customer);
    const deliver = (): void => {
      // spec B2: the customer learns who it chats with before the first message it sees
      if (customer !== null && session.customerSeat === customer) introduce(session);
      const sent = session.broadcast(out, seats);
      ctx.count(session, channel, out.length, sent);
    };
    // The echo acknowledges the message. With a shared copy of the journal (a deployment on a
    // directory) it waits until the copy holds the line, so a gateway that takes the session
    // over after a crash has every message anyone saw echoed; it is sent even if the session
    // ended meanwhile (its end closes the customer after it). A copy that fails (the store is
    // down) does not silence the chat: the whole journal is copied again when the store is back.
    session.acknowledge(deliver);
  };
}

/** Sends the customer the profile of every technician of the session it has not met yet. */
function introduce(session: Session): void {
  const customer = session.customerSeat!;
  for (const seat of session.technicianSeats()) {
    if (session.profiled.has(seat)) continue;
    session.profiled.add(seat);
    session.deliver(
      customer,
      eventFrame({
        participantProfile: {
          sessionId: session.id,
          participantId: seat.participantId,
          displayName: seat.name,
          avatarRef: seat.client?.avatarRef ?? '',
          role: seat.role,
        },
      }),
    );
  }
}
