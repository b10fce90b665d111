/**
 * How a connection takes its place: the Welcome (participant id, resume token, heartbeat
 * interval, the status it will see), and a customer joining a session by PIN, support button or
 * a jump client the gateway attaches. Shared by the Hello handler and unattended access.
 */
import { controlFrame, Role } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import { PeerState, type RelayPeer } from '../relay/peer.js';
import type { ClientRecord, Seat } from '../session/seat.js';
import { type Session, statusToWire } from '../session/session.js';
import { transition } from '../session/state-machine.js';
import { type Status, Trigger } from '../session/states.js';
import { MAX_CATEGORIES } from '../session/tools.js';
import { cleanName, type HandlerContext } from './context.js';

const MAX_AVATAR_REF_LENGTH = 512;

/** What a Hello says about the client, bounded and printable. */
export function clientRecord(
  info: ferry.v1.ClientInfo.$Properties | null | undefined,
): ClientRecord {
  return {
    version: cleanName(info?.version, ''),
    platform: cleanName(info?.platform, ''),
    avatarRef: (info?.avatarRef ?? '')
      .replace(/\p{Cc}/gu, '')
      .trim()
      .slice(0, MAX_AVATAR_REF_LENGTH),
  };
}

export function welcome(
  ctx: HandlerContext,
  peer: RelayPeer,
  requestId: number,
  sessionId: string,
  seat: Seat,
  resumed: boolean,
  status: number,
): void {
  peer.sendFrame(
    controlFrame({
      requestId,
      welcome: {
        participantId: peer.id,
        gatewayId: ctx.gatewayId,
        sessionId,
        resumeToken: seat.resumeToken,
        heartbeatIntervalMs: ctx.config.heartbeatIntervalMs,
        gatewayVersion: ctx.version,
        resumed,
        status,
        // what this gateway received of the lost connection: the client sends again what followed
        ...(resumed && seat.lostReceived !== null
          ? { replay: { received: seat.lostReceived } }
          : {}),
        // where to resume should this gateway die: the deployment's other members
        ...(ctx.fleet !== null ? { alternates: ctx.fleet.alternates() } : {}),
      },
    }),
  );
}

/** The status `applet_connected` takes the session to (the current one when it is refused). */
export function statusAfterJoin(session: Session): Status {
  const next = transition({ ...session.machine }, Trigger.APPLET_CONNECTED);
  return next.ok ? next.to : session.status;
}

/** Called when a customer joined: what its Hello offers (elevation, special tasks). */
export type CustomerJoined = (session: Session, hello: ferry.v1.Hello.$Properties) => void;

/**
 * An authenticated customer joins `session`: Welcome (with `requestId`, 0 when unasked), then
 * applet_connected.
 */
export function joinCustomer(
  ctx: HandlerContext,
  joined: CustomerJoined,
  peer: RelayPeer,
  hello: ferry.v1.Hello.$Properties,
  session: Session,
  requestId: number,
  how?: string,
): void {
  peer.role = Role.ROLE_CUSTOMER;
  peer.name = cleanName(hello.client?.name, 'customer');
  peer.state = PeerState.READY;
  session.customerInfo = {
    name: peer.name,
    version: cleanName(hello.client?.version, ''),
    platform: cleanName(hello.client?.platform, ''),
    computerName: cleanName(hello.client?.computerName, ''),
  };
  session.sysinfoCategories = (hello.client?.sysinfoCategories ?? [])
    .slice(0, MAX_CATEGORIES)
    .map((c) => cleanName(c, ''))
    .filter((c) => c !== '');
  const seat = ctx.registry.seatOf(peer);
  seat.client = clientRecord(hello.client);
  // The Welcome goes first, before any frame of the session, and says the status the customer
  // will see: the one applet_connected (run by attachCustomer just below) moves the session to.
  // It carries the resume token, which attachCustomer publishes: with a directory the Welcome,
  // and every frame after it, waits until the store holds the token and the session's state, so
  // a gateway that dies meanwhile leaves a customer who can resume at a survivor, not one who
  // was welcomed and cannot.
  peer.hold?.();
  welcome(ctx, peer, requestId, session.id, seat, false, statusToWire(statusAfterJoin(session)));
  // spec session-tools A1.3: an elevated client says so in its Hello
  if (hello.elevated === true) ctx.elevated.add(session);
  joined(session, hello);
  ctx.registry.attachCustomer(session, peer, ctx.registry.now(), how);
  session.acknowledge(() => peer.release?.());
}
