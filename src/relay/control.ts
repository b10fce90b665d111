/**
 * Handlers for the frames the gateway decodes: Hello, the CONTROL operations, CHAT and
 * HEARTBEAT pongs. One method per message type behind one dispatch switch; each refusal is a
 * coded Error through `fail`. Cold path: decoding allocates, which is fine here.
 */

import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { KeyedBuckets, TokenBucket } from '../limits/token-bucket.js';
import { Codes } from '../protocol/codes.js';
import { Channel, controlFrame, encodeFrame, eventFrame, Role } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import { GRANT_VIEW } from '../session/consent.js';
import { isRefusal, type Refusal, type SessionRegistry } from '../session/registry.js';
import type { ClientRecord, Seat } from '../session/seat.js';
import { type Session, statusToWire } from '../session/session.js';
import { verifyToken } from '../session/tokens.js';
import { MAX_CATEGORIES, type SessionTools } from '../session/tools.js';
import type { AccessHandlers } from './access.js';
import { PeerState, type RelayPeer } from './peer.js';
import type { RelayStats } from './stats.js';

type CodeEntry = (typeof Codes)[keyof typeof Codes];
type Fail = (peer: RelayPeer, entry: CodeEntry, message: string, requestId?: number) => void;
/** The router's refusal: one coded Error naming the offending frame's channel. */
export type RouterFail = (
  peer: RelayPeer,
  entry: CodeEntry,
  message: string,
  requestId: number,
  channel: number,
) => void;

const MAX_NAME_LENGTH = 64;
const MAX_CHAT_TEXT = 16 * 1024;

export interface ControlOptions {
  readonly config: Config;
  readonly registry: SessionRegistry;
  readonly gatewayId: string;
  readonly version: string;
  readonly fail: RouterFail;
  readonly stats: RelayStats;
  readonly logger?: Logger;
}

/** Where pongs go: the gateway's heartbeat (RTT = now - the ping's send time). */
export interface PongSink {
  onPong(peer: RelayPeer, seq: number): number;
}

/** Called when a technician asks for network statistics (wired by the gateway). */
export type StatsRequestHandler = (peer: RelayPeer, session: Session) => void;

/** Printable, bounded display names: control characters removed, at most 64 characters. */
export function cleanName(raw: string | null | undefined, fallback: string): string {
  const name = (raw ?? '')
    .replace(/\p{Cc}/gu, '')
    .trim()
    .slice(0, MAX_NAME_LENGTH);
  return name === '' ? fallback : name;
}

export class ControlHandlers {
  readonly #config: Config;
  readonly #registry: SessionRegistry;
  readonly #gatewayId: string;
  readonly #version: string;
  readonly #fail: Fail;
  readonly #stats: RelayStats;
  readonly #pinPerAddress: KeyedBuckets;
  readonly #pinGlobal: TokenBucket;
  readonly #logger: Logger | null;
  /** Channel of the frame being handled, so every Error names it. */
  #channel: number = Channel.CHANNEL_CONTROL;
  onStatsRequest: StatsRequestHandler | null = null;
  /** Special actions, elevation, unattended access, after-session actions (wired by the gateway). */
  access: AccessHandlers | null = null;

  constructor(options: ControlOptions) {
    this.#config = options.config;
    this.#registry = options.registry;
    this.#gatewayId = options.gatewayId;
    this.#version = options.version;
    this.#fail = (peer, entry, message, requestId = 0) =>
      options.fail(peer, entry, message, requestId, this.#channel);
    this.#stats = options.stats;
    this.#logger = options.logger ?? null;
    const perMinute = options.config.pinAttemptsPerMinute;
    const perSecond = options.config.pinAttemptsPerSecond;
    this.#pinPerAddress = new KeyedBuckets(perMinute / 60, perMinute, 100_000);
    this.#pinGlobal = new TokenBucket(perSecond, perSecond * 5, performance.now());
  }

  /** Forgets per-address PIN buckets that have refilled (memory stays bounded). */
  prune(nowMs: number): void {
    this.#pinPerAddress.prune(nowMs);
  }

  #decode(peer: RelayPeer, bytes: Uint8Array): ferry.v1.Frame | null {
    try {
      return ferry.v1.Frame.decode(bytes);
    } catch (err) {
      this.#fail(
        peer,
        Codes.FRAME_DECODE,
        `frame is not valid protobuf: ${(err as Error).message}`,
      );
      return null;
    }
  }

  /**
   * First frame of a connection: authenticate before any session state is touched. A Hello with
   * a resume token takes back a lost connection's place: the Welcome goes first, then what was
   * held for the place, in order.
   */
  onHello(peer: RelayPeer, bytes: Uint8Array): void {
    this.#channel = Channel.CHANNEL_CONTROL;
    const frame = this.#decode(peer, bytes);
    if (frame === null) return;
    const hello = frame.control?.hello;
    const requestId = frame.control?.requestId ?? 0;
    if (hello == null) {
      this.#fail(peer, Codes.HELLO_REQUIRED, 'the first frame must be a CONTROL Hello', requestId);
      return;
    }
    if (hello.role === Role.ROLE_TECHNICIAN) {
      const check = verifyToken(this.#config.secret, hello.token ?? '');
      if (!check.ok) {
        this.#fail(peer, Codes[codeName(check.code)], check.message, requestId);
        return;
      }
      peer.role = Role.ROLE_TECHNICIAN;
      peer.name = check.claims.sub;
      peer.state = PeerState.READY;
      this.access?.onTechnician(peer, check.claims);
      // A technician is authenticated by its token: a stale resume token just starts afresh.
      const claimed = hello.resumeToken
        ? this.#registry.claimResume(peer, hello.resumeToken)
        : null;
      const seat = claimed === null || isRefusal(claimed) ? this.#registry.seatOf(peer) : claimed;
      seat.client = clientRecord(hello.client);
      // B2: a picture stored earlier stays the technician's until it names another
      const stored = this.#tools.avatars.refOf(peer.name);
      if (seat.client.avatarRef === '' && stored !== undefined) {
        seat.client = { ...seat.client, avatarRef: stored };
      }
      // D1 and the other operator permissions: the token's claim, else the gateway's defaults
      seat.permissions = this.access?.grantsOf(peer)?.perms ?? new Set();
      const resumed = claimed !== null && !isRefusal(claimed);
      this.#welcome(peer, requestId, '', seat, resumed, 0);
      if (resumed) this.#registry.completeResume(peer, seat);
      return;
    }
    if (hello.role === Role.ROLE_CUSTOMER) {
      if (hello.resumeToken) {
        this.#resumeCustomer(peer, hello.resumeToken, requestId);
        return;
      }
      if ((hello.jumpClientId || hello.supportButtonId) && this.access !== null) {
        // jump client keys and support button ids are guessed no faster than PINs
        if (!this.#admitAttempt(peer, requestId)) return;
        this.access.onCustomerHello(peer, hello, requestId);
        return;
      }
      if (!hello.pin) {
        this.#fail(
          peer,
          Codes.ROLE_INVALID,
          'a customer Hello needs the PIN from the technician',
          requestId,
        );
        return;
      }
      if (!this.#admitAttempt(peer, requestId)) return;
      const session = this.#registry.claimPin(hello.pin.replace(/[\s-]/g, ''));
      if (isRefusal(session)) {
        this.#fail(peer, session.entry, session.message, requestId);
        return;
      }
      this.joinCustomer(peer, hello, session, requestId);
      return;
    }
    this.#fail(peer, Codes.ROLE_INVALID, 'Hello must name role TECHNICIAN or CUSTOMER', requestId);
  }

  /**
   * spec: PIN attempts (and jump client and support button credentials) are limited per address
   * and globally, before any book is consulted.
   */
  #admitAttempt(peer: RelayPeer, requestId: number): boolean {
    const now = performance.now();
    if (this.#pinPerAddress.take(peer.remoteAddress, now) && this.#pinGlobal.take(now)) return true;
    this.#registry.pinRateLimited++;
    this.#logger?.warn({ address: peer.remoteAddress }, 'PIN attempts rate-limited');
    this.#fail(peer, Codes.RATE_LIMITED, 'too many PIN attempts; wait a minute', requestId);
    return false;
  }

  /**
   * An authenticated customer joins `session` (PIN, support button, or a jump client the gateway
   * attaches): Welcome (with `requestId`, 0 when unasked), then applet_connected.
   */
  joinCustomer(
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
    const seat = this.#registry.seatOf(peer);
    seat.client = clientRecord(hello.client);
    this.#welcome(peer, requestId, session.id, seat, false, statusToWire(session.status));
    this.access?.onCustomerJoined(session, hello);
    this.#registry.attachCustomer(session, peer, this.#registry.now(), how);
  }

  #resumeCustomer(peer: RelayPeer, token: string, requestId: number): void {
    peer.role = Role.ROLE_CUSTOMER;
    const seat = this.#registry.claimResume(peer, token);
    if (isRefusal(seat)) {
      peer.role = 0 as RelayPeer['role'];
      this.#fail(peer, seat.entry, seat.message, requestId);
      return;
    }
    peer.name = seat.name;
    peer.state = PeerState.READY;
    const session = [...seat.sessions][0]!;
    this.#welcome(peer, requestId, session.id, seat, true, statusToWire(session.status));
    this.#registry.completeResume(peer, seat);
  }

  #welcome(
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
          gatewayId: this.#gatewayId,
          sessionId,
          resumeToken: seat.resumeToken,
          heartbeatIntervalMs: this.#config.heartbeatIntervalMs,
          gatewayVersion: this.#version,
          resumed,
          status,
        },
      }),
    );
  }

  onControl(peer: RelayPeer, bytes: Uint8Array): void {
    this.#channel = Channel.CHANNEL_CONTROL;
    const frame = this.#decode(peer, bytes);
    if (frame === null) return;
    const control = frame.control as ferry.v1.Control | null;
    if (control == null) {
      this.#fail(peer, Codes.FRAME_DECODE, 'a CONTROL frame needs a Control body');
      return;
    }
    const requestId = control.requestId;
    if (this.access?.onControl(peer, control) === true) return;
    switch (control.op) {
      case 'hello':
        this.#fail(peer, Codes.HELLO_DUPLICATE, 'this connection already said Hello', requestId);
        return;
      case 'createSession':
        this.#onCreateSession(peer, control.createSession!, requestId);
        return;
      case 'pickUp':
        this.#onPickUp(peer, control.pickUp!, requestId);
        return;
      case 'closeSession':
        this.#onCloseSession(peer, control.closeSession!, requestId);
        return;
      case 'holdSession':
        this.#onHold(peer, control.holdSession!, requestId);
        return;
      case 'unholdSession':
        this.#onUnhold(peer, control.unholdSession!, requestId);
        return;
      case 'transferSession':
        this.#onTransfer(peer, control.transferSession!, requestId);
        return;
      case 'inviteTechnician':
        this.#onInvite(peer, control.inviteTechnician!, requestId);
        return;
      case 'answerInvitation':
        this.#onAnswerInvitation(peer, control.answerInvitation!, requestId);
        return;
      case 'removeCollaborator':
        this.#onRemoveCollaborator(peer, control.removeCollaborator!, requestId);
        return;
      case 'handOver':
        this.#onHandOver(peer, control.handOver!, requestId);
        return;
      case 'rebootCustomer':
        this.#onReboot(peer, control.rebootCustomer!, requestId);
        return;
      case 'listQueue':
        this.#onListQueue(peer, requestId);
        return;
      case 'keyFrameRequest':
        this.#onKeyFrameRequest(peer, frame.stream, requestId);
        return;
      case 'networkStatsRequest':
        this.#onNetworkStatsRequest(peer, control.networkStatsRequest!, requestId);
        return;
      case 'consentRequest':
        this.#onConsentRequest(peer, control.consentRequest!, requestId);
        return;
      case 'consentResponse':
        this.#reply(peer, requestId, this.#tools.answerConsent(peer, control.consentResponse!));
        return;
      case 'revokeConsent':
        this.#reply(peer, requestId, this.#tools.revokeConsent(peer, control.revokeConsent!));
        return;
      case 'handOverControl': {
        if (!this.#requireTechnician(peer, requestId)) return;
        const now = this.#registry.now();
        this.#reply(
          peer,
          requestId,
          this.#tools.handOverControl(peer, control.handOverControl!, now),
        );
        return;
      }
      case 'chatHistoryRequest':
        this.#answer(peer, requestId, 'chatHistory', () =>
          this.#tools.chatHistory(peer, control.chatHistoryRequest!),
        );
        return;
      case 'screenShareStart':
        this.#reply(peer, requestId, this.#tools.startSharing(peer, control.screenShareStart!));
        return;
      case 'screenShareStop':
        this.#reply(peer, requestId, this.#tools.stopSharing(peer, control.screenShareStop!));
        return;
      case 'monitorList':
        this.#reply(peer, requestId, this.#tools.reportMonitors(peer, control.monitorList!));
        return;
      case 'selectMonitor':
        if (!this.#requireTechnician(peer, requestId)) return;
        this.#reply(peer, requestId, this.#tools.selectMonitor(peer, control.selectMonitor!));
        return;
      case 'setStreamQuality':
        if (!this.#requireTechnician(peer, requestId)) return;
        this.#reply(peer, requestId, this.#tools.setQuality(peer, control.setStreamQuality!));
        return;
      case 'summaryRequest':
        this.#answer(peer, requestId, 'sessionSummary', () =>
          this.#tools.summary(peer, control.summaryRequest!),
        );
        return;
      case 'addNote':
        this.#answer(peer, requestId, 'notes', () =>
          this.#tools.addNote(peer, control.addNote!, this.#registry.now()),
        );
        return;
      case 'setAvatar':
        this.#answer(peer, requestId, 'avatar', () =>
          this.#tools.setAvatar(peer, control.setAvatar!),
        );
        return;
      case 'avatarRequest':
        this.#answer(peer, requestId, 'avatar', () =>
          this.#tools.avatar(peer, control.avatarRequest!),
        );
        return;
      case 'listNotes':
        this.#answer(peer, requestId, 'notes', () =>
          this.#tools.listNotes(peer, control.listNotes!),
        );
        return;
      case undefined:
        this.#fail(peer, Codes.FRAME_DECODE, 'Control carries no operation', requestId);
        return;
      default:
        this.#fail(
          peer,
          Codes.UNSUPPORTED_OPERATION,
          `clients do not send ${control.op}`,
          requestId,
        );
    }
  }

  get #tools(): SessionTools {
    return this.#registry.tools;
  }

  /** Answers a query: its coded refusal, or the reply carrying `requestId`. */
  #answer<K extends 'chatHistory' | 'sessionSummary' | 'notes' | 'avatar'>(
    peer: RelayPeer,
    requestId: number,
    key: K,
    run: () => NonNullable<ferry.v1.Control.$Properties[K]> | Refusal,
  ): void {
    const result = run();
    if (isRefusal(result)) {
      this.#fail(peer, result.entry, result.message, requestId);
      return;
    }
    if (peer.session !== null) this.#registry.noteAction(peer, peer.session);
    peer.sendFrame(controlFrame({ requestId, [key]: result }));
  }

  /**
   * A technician asks the customer for permissions: refused at once, or answered with
   * consent_result (same request id) once the customer has answered.
   */
  #onConsentRequest(
    peer: RelayPeer,
    op: ferry.v1.ConsentRequest.$Properties,
    requestId: number,
  ): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const result = this.#tools.requestConsent(peer, op, requestId);
    if (isRefusal(result)) {
      this.#fail(peer, result.entry, result.message, requestId);
      return;
    }
    this.#registry.noteAction(peer, result);
  }

  #requireTechnician(peer: RelayPeer, requestId: number): boolean {
    if (peer.role === Role.ROLE_TECHNICIAN) return true;
    this.#fail(peer, Codes.WRONG_ROLE, 'only technicians may do this', requestId);
    return false;
  }

  #onCreateSession(
    peer: RelayPeer,
    op: ferry.v1.CreateSession.$Properties,
    requestId: number,
  ): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const { session, pin, expiresAtMs } = this.#registry.create(
      peer,
      cleanName(op.customerName, ''),
    );
    peer.sendFrame(
      controlFrame({
        requestId,
        sessionCreated: { sessionId: session.id, pin, pinExpiresUnixMs: expiresAtMs },
      }),
    );
  }

  /**
   * Answers an operation: its coded refusal, or (when the client asked with a request id) Done
   * with the session's status as the requester now sees it.
   */
  #reply(peer: RelayPeer, requestId: number, result: Session | Refusal): void {
    if (isRefusal(result)) {
      this.#fail(peer, result.entry, result.message, requestId);
      return;
    }
    this.#registry.noteAction(peer, result);
    if (requestId === 0) return;
    const seat = this.#registry.seatOf(peer);
    const view = result.viewOf(seat) ?? 'REMOVED_FROM_TC_QUEUE';
    peer.sendFrame(
      controlFrame({ requestId, done: { sessionId: result.id, status: statusToWire(view) } }),
    );
  }

  #onPickUp(peer: RelayPeer, op: ferry.v1.PickUp.$Properties, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    // a team queue session (support button) is adopted by the technician of the team who picks it up
    if (this.access !== null && !this.access.beforePickUp(peer, op.sessionId ?? '', requestId))
      return;
    const result = this.#registry.pickUp(peer, op.sessionId ?? '');
    this.#reply(peer, requestId, result);
    // spec A1.6: the operator's policy may ask the customer to elevate at the pick-up
    if (!isRefusal(result)) this.access?.afterPickUp(peer, result);
  }

  #onCloseSession(peer: RelayPeer, op: ferry.v1.CloseSession.$Properties, requestId: number): void {
    const sessionId = op.sessionId || peer.session?.id || '';
    const reason = cleanComment(op.reason);
    const leave = op.leaveInQueue === true;
    if (op.uninstallCustomerClient === true) {
      // spec A5.2: the uninstall command reaches the customer before the close releases it
      if (
        this.access === null ||
        !this.access.beforeUninstallClose(peer, sessionId, leave, requestId)
      )
        return;
    }
    const now = this.#registry.now();
    this.#reply(peer, requestId, this.#registry.close(peer, sessionId, reason, now, leave));
  }

  #onHold(peer: RelayPeer, op: ferry.v1.HoldSession.$Properties, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    this.#reply(peer, requestId, this.#registry.hold(peer, this.#sessionId(peer, op.sessionId)));
  }

  #onUnhold(peer: RelayPeer, op: ferry.v1.UnholdSession.$Properties, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    this.#reply(peer, requestId, this.#registry.unhold(peer, this.#sessionId(peer, op.sessionId)));
  }

  #onTransfer(peer: RelayPeer, op: ferry.v1.TransferSession.$Properties, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const result = this.#registry.transfer(
      peer,
      this.#sessionId(peer, op.sessionId),
      op.technician ?? '',
      cleanComment(op.comment),
    );
    this.#reply(peer, requestId, result);
  }

  #onInvite(peer: RelayPeer, op: ferry.v1.InviteTechnician.$Properties, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const sessionId = this.#sessionId(peer, op.sessionId);
    this.#reply(peer, requestId, this.#registry.invite(peer, sessionId, op.technician ?? ''));
  }

  #onAnswerInvitation(
    peer: RelayPeer,
    op: ferry.v1.AnswerInvitation.$Properties,
    requestId: number,
  ): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const result = this.#registry.answerInvitation(peer, op.sessionId ?? '', op.accept === true);
    this.#reply(peer, requestId, result);
  }

  #onRemoveCollaborator(
    peer: RelayPeer,
    op: ferry.v1.RemoveCollaborator.$Properties,
    requestId: number,
  ): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const sessionId = this.#sessionId(peer, op.sessionId);
    const result = this.#registry.removeCollaborator(peer, sessionId, op.technician ?? '');
    this.#reply(peer, requestId, result);
  }

  #onHandOver(peer: RelayPeer, op: ferry.v1.HandOver.$Properties, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const sessionId = this.#sessionId(peer, op.sessionId);
    this.#reply(peer, requestId, this.#registry.handOver(peer, sessionId, op.technician ?? ''));
  }

  #onReboot(peer: RelayPeer, op: ferry.v1.RebootCustomer.$Properties, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    if (this.access !== null && !this.access.permit(peer, 'reboot', requestId)) return;
    this.#reply(peer, requestId, this.#registry.reboot(peer, this.#sessionId(peer, op.sessionId)));
  }

  /**
   * The technician's queue: each of its sessions with the status it sees (its view), then the
   * sessions waiting in its teams' queues.
   */
  #onListQueue(peer: RelayPeer, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const entries: ferry.v1.QueueEntry.$Properties[] = this.#registry.queue(peer).map((row) => {
      const s = row.session;
      return {
        sessionId: s.id,
        status: statusToWire(row.status),
        relation: row.relation as number as ferry.v1.QueueRelation,
        customerName: s.customerInfo?.name ?? s.customerLabel,
        ownerName: s.owner.name,
        statusSinceUnixMs: s.statusSinceMs,
        customerConnected: s.customer !== null,
        timeoutKind: row.status === 'TIMED_OUT' ? (s.machine.timeoutKind ?? '') : '',
      };
    });
    // spec A3: sessions waiting in the technician's team queues (support buttons), only for
    // technicians of that team; they have no owner yet, a pick-up adopts them
    for (const { session: s, team } of this.access?.teamQueue(peer) ?? []) {
      entries.push({
        sessionId: s.id,
        status: statusToWire(s.status),
        relation: ferry.v1.QueueRelation.QUEUE_RELATION_TEAM,
        customerName: s.customerInfo?.name ?? s.customerLabel,
        ownerName: '',
        statusSinceUnixMs: s.statusSinceMs,
        customerConnected: s.customer !== null,
        timeoutKind: s.status === 'TIMED_OUT' ? (s.machine.timeoutKind ?? '') : '',
        team,
      });
    }
    peer.sendFrame(controlFrame({ requestId, queue: { entries } }));
  }

  /** The session an operation names, or the one the connection works in. */
  #sessionId(peer: RelayPeer, given: string | null | undefined): string {
    return given || peer.session?.id || '';
  }

  /**
   * A technician of the session asks the customer for a key frame. It concerns the screen, so it
   * needs the VIEW grant like every screen tool: without it the customer is not even asked.
   */
  #onKeyFrameRequest(peer: RelayPeer, stream: number, requestId: number): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const session = peer.session;
    if (session === null || session.customer === null || !session.isParticipant(peer)) {
      this.#fail(peer, Codes.NOT_IN_SESSION, 'no customer to ask for a key frame', requestId);
      return;
    }
    if ((session.grants & GRANT_VIEW) === 0) {
      this.#fail(peer, Codes.NOT_GRANTED, 'the customer has not granted screen view', requestId);
      return;
    }
    session.customer.sendFrame(
      controlFrame({ keyFrameRequest: { reason: `asked by ${peer.name}` } }, stream),
    );
  }

  #onNetworkStatsRequest(
    peer: RelayPeer,
    op: ferry.v1.NetworkStatsRequest.$Properties,
    requestId: number,
  ): void {
    if (!this.#requireTechnician(peer, requestId)) return;
    const session = op.sessionId ? this.#registry.get(op.sessionId) : peer.session;
    if (session == null || !session.technicianAudience().includes(peer)) {
      this.#fail(
        peer,
        Codes.NOT_IN_SESSION,
        'statistics are for technicians of the session',
        requestId,
      );
      return;
    }
    this.onStatsRequest?.(peer, session);
  }

  /**
   * CHAT / CHAT_PRIVATE: decoded, stamped with the gateway's sequence, time and sender, appended to
   * the session log and sent to its audience. Technicians-only messages never reach the customer.
   */
  onChat(
    peer: RelayPeer,
    bytes: Uint8Array,
    channel: number,
    allowed: (s: Session) => boolean,
  ): void {
    this.#channel = channel;
    const frame = this.#decode(peer, bytes);
    if (frame === null) return;
    const chat = frame.chat;
    if (chat == null || typeof chat.text !== 'string' || chat.text.length === 0) {
      this.#fail(peer, Codes.FRAME_DECODE, 'a chat frame needs a ChatMessage with text');
      return;
    }
    if (chat.text.length > MAX_CHAT_TEXT) {
      this.#fail(peer, Codes.FRAME_TOO_LARGE, `chat text over ${MAX_CHAT_TEXT} characters`);
      return;
    }
    const session = peer.session;
    if (session === null || session.ended || !session.isParticipant(peer)) {
      this.#fail(peer, Codes.NOT_IN_SESSION, 'join a session before chatting');
      return;
    }
    if (!allowed(session)) {
      this.#fail(peer, Codes.WRONG_STATE, `no chat while the session is ${session.status}`);
      return;
    }
    const techniciansOnly =
      channel === Channel.CHANNEL_CHAT_PRIVATE ||
      chat.audience === ferry.v1.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY;
    if (techniciansOnly && peer.role !== Role.ROLE_TECHNICIAN) {
      this.#fail(peer, Codes.WRONG_ROLE, 'only technicians may chat privately');
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
      this.#registry.now(),
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
    this.#registry.noteAction(peer, session);
    // spec B2: the customer learns who it chats with before the first message it sees
    if (!techniciansOnly && session.customerSeat !== null) this.#introduce(session);
    // Owner and collaborators (and the customer unless private); held for any who are away.
    const seats = session.technicianSeats();
    if (!techniciansOnly && session.customerSeat !== null) seats.push(session.customerSeat);
    const sent = session.broadcast(out, seats);
    session.relayedFrames[channel]!++;
    session.relayedBytes[channel]! += out.length;
    this.#stats.outFrames[channel]! += sent;
    this.#stats.outBytes[channel]! += sent * out.length;
  }

  /** Sends the customer the profile of every technician of the session it has not met yet. */
  #introduce(session: Session): void {
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

  /**
   * SYSINFO, once the router has checked the grant: a technician's SysinfoRequest goes to the
   * customer with a ticket, the customer's SysinfoResponse back to the technician who asked.
   */
  onSysinfo(peer: RelayPeer, bytes: Uint8Array, session: Session): void {
    this.#channel = Channel.CHANNEL_SYSINFO;
    const frame = this.#decode(peer, bytes);
    if (frame === null) return;
    const channel = Channel.CHANNEL_SYSINFO;
    if (peer.role === Role.ROLE_TECHNICIAN) {
      if (frame.sysinfoRequest == null) {
        this.#fail(peer, Codes.FRAME_DECODE, 'technicians send SysinfoRequest on SYSINFO');
        return;
      }
      const sent = this.#tools.sysinfoRequest(peer, session, frame.sysinfoRequest);
      if (isRefusal(sent)) {
        this.#fail(peer, sent.entry, sent.message, frame.sysinfoRequest.requestId ?? 0);
        return;
      }
      this.#registry.noteAction(peer, session);
      this.#count(session, channel, sent.length);
      return;
    }
    if (frame.sysinfoResponse == null) {
      this.#fail(peer, Codes.FRAME_DECODE, 'customers send SysinfoResponse on SYSINFO');
      return;
    }
    const to = this.#tools.sysinfoResponse(peer, session, frame.sysinfoResponse, bytes);
    if (isRefusal(to)) {
      this.#fail(peer, to.entry, to.message);
      return;
    }
    this.#count(session, channel, bytes.length);
  }

  #count(session: Session, channel: number, length: number): void {
    session.relayedFrames[channel]!++;
    session.relayedBytes[channel]! += length;
    this.#stats.outFrames[channel]!++;
    this.#stats.outBytes[channel]! += length;
  }

  onHeartbeat(peer: RelayPeer, bytes: Uint8Array, heartbeat: PongSink): void {
    this.#channel = Channel.CHANNEL_HEARTBEAT;
    const frame = this.#decode(peer, bytes);
    if (frame === null) return;
    const pong = frame.heartbeat?.pong;
    if (pong == null) {
      this.#fail(peer, Codes.FRAME_DECODE, 'clients send Pong on the HEARTBEAT channel');
      return;
    }
    heartbeat.onPong(peer, pong.seq ?? 0);
  }
}

const MAX_COMMENT_LENGTH = 512;
const MAX_AVATAR_REF_LENGTH = 512;

/** What a Hello says about the client, bounded and printable. */
function clientRecord(info: ferry.v1.ClientInfo.$Properties | null | undefined): ClientRecord {
  return {
    version: cleanName(info?.version, ''),
    platform: cleanName(info?.platform, ''),
    avatarRef: (info?.avatarRef ?? '')
      .replace(/\p{Cc}/gu, '')
      .trim()
      .slice(0, MAX_AVATAR_REF_LENGTH),
  };
}

/** A transfer comment: printable, bounded. */
function cleanComment(raw: string | null | undefined): string {
  return (raw ?? '')
    .replace(/\p{Cc}/gu, ' ')
    .trim()
    .slice(0, MAX_COMMENT_LENGTH);
}

function codeName(code: string): keyof typeof Codes {
  return code.replace('FERRY_ERR_', '') as keyof typeof Codes;
}
