/**
 * The direct path (docs/direct-path.md, docs/spec/network-stats.md NS-D10, NS-D11): the gateway
 * decides when the customer and the technician in control may try a WebRTC data channel for
 * SCREEN and INPUT, carries their signalling, and takes it down again.
 *
 * - Eligible: the policy is not off, the session flows (Active, Collaborating), the customer and
 *   the controller are connected and both said `Hello.direct`, and the customer granted VIEW.
 *   Every change of those (the end of the turn that made it) is re-examined; a path that is no
 *   longer eligible is closed on both ends, a revoked VIEW or CONTROL at once.
 * - An attempt has an id and a token; every signal names the id, the technician shows the token
 *   on the channel first, and the customer drops a channel without it. Candidates pass the
 *   policy (src/direct/candidates.ts), at most 32 per attempt.
 * - Up once both ends said so: the relay stops forwarding SCREEN to that technician (the
 *   customer keeps sending it on the relay while another technician watches there).
 * - A failed or stalled attempt is retried with back-off (2 s doubling to 60 s); the status
 *   event tells every participant where the frames go and, when relayed, why.
 * - The P2P flag of the statistics is true only while both ends keep reporting the channel.
 */
import type { Logger } from 'pino';
import type { CandidatePolicy } from '../direct/candidates.js';
import { DirectPath, End, type EndValue } from '../direct/path.js';
import { Codes } from '../protocol/codes.js';
import { controlFrame, eventFrame, u64 } from '../protocol/frames.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { RelayPeer } from '../relay/peer.js';
import { GRANT_CONTROL, GRANT_VIEW } from '../session/consent.js';
import { randomId } from '../session/random-ids.js';
import type { Seat } from '../session/seat.js';
import type { Session } from '../session/session.js';
import type { HandlerContext } from './context.js';
import { type ControlTable, op, Who } from './control.js';

const Cause = ferry.v1.DirectCloseCause;
const State = ferry.v1.DirectState;
const Policy = ferry.v1.DirectPolicy;

/** Candidates passed on per attempt (SDP and trickled). */
export const MAX_CANDIDATES = 32;
/** The causes a client may give for closing; each is a failure, retried after the back-off. */
const CLIENT_CAUSES: ReadonlySet<number> = new Set([
  Cause.DIRECT_CLOSE_FAILED,
  Cause.DIRECT_CLOSE_STALLED,
  Cause.DIRECT_CLOSE_CLOSED,
  Cause.DIRECT_CLOSE_BAD_TOKEN,
  Cause.DIRECT_CLOSE_REFUSED,
]);

/** The highest m-line index a candidate may name (a data-channel SDP has one m-line). */
const MAX_M_LINE_INDEX = 8;

export interface DirectOptions {
  readonly policy: ferry.v1.DirectPolicy;
  readonly candidates: CandidatePolicy;
  /** `stun:host:port` of the gateway's STUN server, or none. */
  readonly iceServers: readonly string[];
  /** Monotonic ms (the gateway's shared clock). */
  readonly now: () => number;
  readonly logger: Logger;
  readonly keepaliveMs?: number;
  readonly stallMs?: number;
  readonly reportIntervalMs?: number;
  /** An attempt not up within this is closed as failed. */
  readonly connectTimeoutMs?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

/** `--p2p` as the wire's policy. */
export function directPolicy(text: string): ferry.v1.DirectPolicy {
  if (text === 'off') return Policy.DIRECT_POLICY_OFF;
  if (text === 'lan') return Policy.DIRECT_POLICY_LAN;
  return Policy.DIRECT_POLICY_ANY;
}

/** What the gateway counts of direct paths (`ferry_direct_*`). */
export interface DirectCounters {
  opened: number;
  up: number;
  /** Closed attempts by cause (DirectCloseCause name). */
  readonly closed: Map<string, number>;
  /** Candidates not passed on, by verdict. */
  readonly candidatesDropped: Map<string, number>;
  candidatesPassed: number;
  signalsRefused: number;
}

/** One session's direct-path state. */
class SessionDirect {
  path: DirectPath | null = null;
  /** The technician and customer connections the failures were counted for. */
  pair = '';
  failures = 0;
  retryAtMs = 0;
  lastCause = '';
  /** The status last sent, to send changes only. */
  lastStatus = '';
}

export class DirectPaths {
  readonly counters: DirectCounters = {
    opened: 0,
    up: 0,
    closed: new Map(),
    candidatesDropped: new Map(),
    candidatesPassed: 0,
    signalsRefused: 0,
  };
  readonly policy: ferry.v1.DirectPolicy;
  readonly keepaliveMs: number;
  readonly stallMs: number;
  readonly reportIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly #ctx: HandlerContext;
  readonly candidates: CandidatePolicy;
  readonly #iceServers: readonly string[];
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #sessions = new Map<Session, SessionDirect>();
  /** Attempts by id (unique on this gateway), to their session. */
  readonly #paths = new Map<number, Session>();
  /** A connection's path: a client has one end of one path at a time. */
  readonly #byPeer = new WeakMap<RelayPeer, DirectPath>();
  #nextId = 1;
  readonly #due = new Set<Session>();
  #scheduled = false;

  constructor(ctx: HandlerContext, options: DirectOptions) {
    this.#ctx = ctx;
    this.policy = options.policy;
    this.candidates = options.candidates;
    this.#iceServers = options.iceServers;
    this.#now = options.now;
    this.#logger = options.logger;
    this.keepaliveMs = options.keepaliveMs ?? 250;
    this.stallMs = options.stallMs ?? 1500;
    this.reportIntervalMs = options.reportIntervalMs ?? 2000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#retryBaseMs = options.retryBaseMs ?? 2000;
    this.#retryMaxMs = options.retryMaxMs ?? 60_000;
  }

  /** Paths up now. */
  get upCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.path?.up === true) n++;
    return n;
  }

  /** Attempts signalling now. */
  get connectingCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.path !== null && !s.path.up) n++;
    return n;
  }

  /** Technician legs whose frames flow direct now (the P2P flag). */
  flowingCount(nowMs = this.#now()): number {
    let n = 0;
    for (const s of this.#sessions.values())
      if (s.path?.flowing(nowMs, this.#staleMs) === true) n++;
    return n;
  }

  get #staleMs(): number {
    return Math.round(this.reportIntervalMs * 2.5);
  }

  /**
   * The P2P figures of one participant's statistics row: whether its frames flow direct, and
   * the rate its end reports (bits/s; download for a technician, upload for the customer).
   */
  statsOf(
    peer: RelayPeer,
    sessionId: string,
    nowMs = this.#now(),
  ): { peerToPeer: boolean; bps: number } | null {
    const path = this.#byPeer.get(peer);
    if (path === undefined || path.sessionId !== sessionId) return null;
    const end = path.endOf(peer);
    if (end === null || !path.flowing(nowMs, this.#staleMs)) return null;
    const reports = path.reports[end];
    return { peerToPeer: true, bps: reports.bps(end === End.TECHNICIAN) };
  }

  /** The path of a session, for the API and tests. */
  pathOf(session: Session): DirectPath | null {
    return this.#sessions.get(session)?.path ?? null;
  }

  // --- what changes a session's eligibility -------------------------------------------------

  /** Something about `session` changed: it is examined at the end of this turn. */
  changed(session: Session): void {
    this.#due.add(session);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#examineDue());
  }

  /** The customer revoked VIEW or CONTROL: the path goes at once, before any further frame. */
  revoked(session: Session, removed: number): void {
    const state = this.#sessions.get(session);
    if ((removed & (GRANT_VIEW | GRANT_CONTROL)) !== 0 && state?.path != null) {
      const text = 'the customer revoked a permission';
      this.#close(session, state, Cause.DIRECT_CLOSE_REVOKED, text, null);
    }
    this.changed(session);
  }

  /** Somebody arrived (a collaborator, a customer, a resumed place): it hears the status. */
  arrived(session: Session): void {
    const state = this.#sessions.get(session);
    if (state !== undefined) state.lastStatus = '';
    this.changed(session);
  }

  left(session: Session, _seat: Seat): void {
    this.changed(session);
  }

  ended(session: Session): void {
    const state = this.#sessions.get(session);
    if (state?.path != null) {
      this.#close(session, state, Cause.DIRECT_CLOSE_NOT_ELIGIBLE, 'the session ended', null);
    }
    this.#sessions.delete(session);
    this.#due.delete(session);
  }

  /** Connect timeouts, retries and stale reports, on the gateway's shared clock. */
  tick(nowMs: number): void {
    for (const [session, state] of this.#sessions) {
      try {
        const path = state.path;
        if (path !== null && !path.up && nowMs - path.openedAtMs >= this.connectTimeoutMs) {
          const text = `no direct route within ${this.connectTimeoutMs / 1000} s`;
          this.#close(session, state, Cause.DIRECT_CLOSE_FAILED, text, null);
        }
        if (state.path === null && state.retryAtMs !== 0 && nowMs >= state.retryAtMs) {
          state.retryAtMs = 0;
          this.#examine(session);
        } else if (path?.up) {
          this.#status(session, state);
        }
      } catch (err) {
        this.#logger.error({ err, session: session.id }, 'direct path timer failed');
      }
    }
  }

  #examineDue(): void {
    this.#scheduled = false;
    const due = [...this.#due];
    this.#due.clear();
    for (const session of due) {
      try {
        this.#examine(session);
      } catch (err) {
        // one session's trouble never reaches the others (it is relayed, as without a path)
        this.#logger.error({ err, session: session.id }, 'direct path examination failed');
      }
    }
  }

  /** Why `session` must stay relayed now, or null when a path may be tried. */
  #whyRelayed(session: Session): string | null {
    if (this.policy === Policy.DIRECT_POLICY_OFF) {
      return 'direct paths are off on this gateway (--p2p off): every frame passes the relay';
    }
    if (session.ended || !session.flowing) return 'the session is not active';
    const customer = session.customer as RelayPeer | null;
    const tech = session.controller as RelayPeer | null;
    if (customer === null || !customer.connected) return 'the customer is not connected';
    if (tech === null || !tech.connected) return 'no technician holds control';
    if (!this.#ctx.directCapable.has(customer)) return "the customer's client cannot go direct";
    if (!this.#ctx.directCapable.has(tech)) return "the technician's client cannot go direct";
    if ((session.grants & GRANT_VIEW) === 0) return 'the customer has not granted screen view';
    const busy = this.#byPeer.get(tech);
    if (busy !== undefined && busy.sessionId !== session.id) {
      return "the technician's direct path serves another of its sessions";
    }
    return null;
  }

  #examine(session: Session): void {
    if (session.ended) {
      this.ended(session);
      return;
    }
    let state = this.#sessions.get(session);
    const why = this.#whyRelayed(session);
    if (state === undefined) {
      // nothing to try and nobody who would understand why: no state for this session at all
      if (why !== null && !this.#anyCapable(session)) return;
      if (why === 'the session is not active' || why === 'the customer is not connected') return;
      state = new SessionDirect();
      this.#sessions.set(session, state);
    }
    const path = state.path;
    if (path !== null) {
      const same =
        why === null &&
        path.technician === session.controller &&
        path.customer === session.customer;
      if (same) {
        this.#status(session, state);
        return;
      }
      this.#close(session, state, Cause.DIRECT_CLOSE_NOT_ELIGIBLE, why ?? 'control moved', null);
    }
    if (why === null) {
      // another technician in control, or a leg on a new connection: a fresh start
      const pair = `${(session.controller as RelayPeer).id}|${(session.customer as RelayPeer).id}`;
      if (pair !== state.pair) {
        state.pair = pair;
        state.failures = 0;
        state.retryAtMs = 0;
      }
    }
    if (why !== null || state.retryAtMs !== 0) {
      this.#status(session, state, why);
      return;
    }
    this.#open(session, state);
  }

  /** A participant's client said Hello.direct. */
  #anyCapable(session: Session): boolean {
    const capable = this.#ctx.directCapable;
    const customer = session.customer as RelayPeer | null;
    if (customer !== null && capable.has(customer)) return true;
    return session.technicianAudience().some((t) => capable.has(t as RelayPeer));
  }

  #open(session: Session, state: SessionDirect): void {
    const tech = session.controller as RelayPeer;
    const customer = session.customer as RelayPeer;
    const now = this.#now();
    const path = new DirectPath(
      this.#nextId++,
      session.id,
      tech,
      customer,
      randomId(18),
      session.grants,
      now,
    );
    state.path = path;
    this.#paths.set(path.id, session);
    this.#byPeer.set(tech, path);
    this.#byPeer.set(customer, path);
    this.counters.opened++;
    const base = {
      pathId: path.id,
      token: path.token,
      iceServers: [...this.#iceServers],
      policy: this.policy,
      keepaliveMs: this.keepaliveMs,
      stallMs: this.stallMs,
      reportIntervalMs: this.reportIntervalMs,
      grants: path.grants,
    };
    tech.sendFrame(
      controlFrame({
        directOpen: {
          ...base,
          offerer: true,
          peerParticipantId: customer.id,
          peerName: customer.name,
        },
      }),
    );
    customer.sendFrame(
      controlFrame({
        directOpen: { ...base, offerer: false, peerParticipantId: tech.id, peerName: tech.name },
      }),
    );
    session.logger.info({ path: path.id, technician: tech.name }, 'direct path offered');
    this.#status(session, state);
  }

  /**
   * Ends the attempt: both ends are told (but `from`, which said so), the relay forwards SCREEN
   * to the technician again and asks the customer for a key frame, and a failure sets the retry.
   */
  #close(
    session: Session,
    state: SessionDirect,
    cause: ferry.v1.DirectCloseCause,
    reason: string,
    from: RelayPeer | null,
  ): void {
    const path = state.path;
    if (path === null) return;
    state.path = null;
    this.#paths.delete(path.id);
    if (this.#byPeer.get(path.technician) === path) this.#byPeer.delete(path.technician);
    if (this.#byPeer.get(path.customer) === path) this.#byPeer.delete(path.customer);
    if (path.technician.screenDirect === session) path.technician.screenDirect = null;
    const name = Cause[cause] ?? 'DIRECT_CLOSE_UNSPECIFIED';
    this.counters.closed.set(name, (this.counters.closed.get(name) ?? 0) + 1);
    const frame = controlFrame({ directClose: { pathId: path.id, cause, reason } });
    if (from !== path.technician && path.technician.connected) path.technician.sendFrame(frame);
    if (from !== path.customer && path.customer.connected) path.customer.sendFrame(frame);
    const now = this.#now();
    if (path.up) {
      // the technician's picture goes on from the relay: a whole frame first
      if (path.customer.connected && (session.grants & GRANT_VIEW) !== 0) {
        path.customer.sendFrame(controlFrame({ keyFrameRequest: { reason: 'back on the relay' } }));
      }
      // a path that held a while earns a fresh start
      if (now - path.upAtMs >= 30_000) state.failures = 0;
    }
    const failed =
      cause === Cause.DIRECT_CLOSE_FAILED ||
      cause === Cause.DIRECT_CLOSE_STALLED ||
      cause === Cause.DIRECT_CLOSE_CLOSED ||
      cause === Cause.DIRECT_CLOSE_BAD_TOKEN ||
      cause === Cause.DIRECT_CLOSE_REFUSED;
    if (failed) {
      state.failures++;
      const wait = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (state.failures - 1));
      state.retryAtMs = now + wait;
      state.lastCause = reason;
    }
    session.log.event(
      'direct_path',
      'gateway',
      `direct path ${path.id} closed: ${reason}`,
      this.#ctx.registry.now(),
    );
    session.logger.info({ path: path.id, cause: name, reason, up: path.up }, 'direct path closed');
    this.#status(session, state);
  }

  /**
   * Sends DirectStatus to every participant whose client can go direct when where the frames go,
   * or why, changed.
   */
  #status(session: Session, state: SessionDirect, why: string | null = null): void {
    const path = state.path;
    const now = this.#now();
    let st: ferry.v1.DirectState;
    let reason = '';
    let retryInMs = 0;
    if (path?.flowing(now, this.#staleMs) === true) st = State.DIRECT_STATE_DIRECT;
    else if (path !== null) st = State.DIRECT_STATE_CONNECTING;
    else {
      st = State.DIRECT_STATE_RELAYED;
      if (why !== null) reason = why;
      else if (state.retryAtMs !== 0) {
        retryInMs = Math.max(0, state.retryAtMs - now);
        reason = `the direct path failed (${state.lastCause}); next attempt in ${Math.ceil(retryInMs / 1000)} s`;
      } else reason = this.#whyRelayed(session) ?? '';
    }
    const techId = path?.technician.id ?? '';
    // another technician watches on the relay: the customer keeps sending there too
    const relayScreen =
      st !== State.DIRECT_STATE_DIRECT || session.technicians.some((t) => t !== path?.technician);
    const key = `${st}|${reason.replace(/next attempt in \d+ s/, '')}|${techId}|${relayScreen}`;
    if (key === state.lastStatus) return;
    state.lastStatus = key;
    if (path !== null) {
      const tech = path.technician;
      if (st === State.DIRECT_STATE_DIRECT) tech.screenDirect = session;
      else if (tech.screenDirect === session) tech.screenDirect = null;
    }
    const frame = eventFrame({
      directStatus: {
        sessionId: session.id,
        state: st,
        reason,
        technicianId: techId,
        relayScreen,
        retryInMs,
        policy: this.policy,
      },
    });
    // to the clients that can go direct: the others would not know the message
    const capable = this.#ctx.directCapable;
    for (const t of session.technicianAudience())
      if (capable.has(t as RelayPeer)) t.sendFrame(frame);
    const customer = session.customer as RelayPeer | null;
    if (customer !== null && capable.has(customer)) customer.sendFrame(frame);
  }

  // --- the operations ------------------------------------------------------------------------

  /** The path `pathId` of the sender's session with the sender at one end, or null (answered). */
  #pathFor(
    peer: RelayPeer,
    pathId: number,
    requestId: number,
  ): { session: Session; state: SessionDirect; path: DirectPath; end: EndValue } | null {
    const session = this.#paths.get(pathId);
    const state = session === undefined ? undefined : this.#sessions.get(session);
    const path = state?.path ?? null;
    if (session === undefined || state === undefined || path === null || path.id !== pathId) {
      // a signal of an attempt that just closed crosses its DirectClose: dropped quietly
      if (pathId > 0 && pathId < this.#nextId) return null;
      this.counters.signalsRefused++;
      const text = `no direct path attempt ${pathId} on this gateway`;
      this.#ctx.fail(peer, Codes.WRONG_STATE, text, requestId);
      return null;
    }
    const end = path.endOf(peer);
    if (end === null) {
      this.counters.signalsRefused++;
      const text = 'only the customer and the technician in control signal a direct path';
      this.#ctx.fail(peer, Codes.WRONG_ROLE, text, requestId);
      return null;
    }
    return { session, state, path, end };
  }

  #refuse(peer: RelayPeer, text: string, requestId: number): void {
    this.counters.signalsRefused++;
    this.#ctx.fail(peer, Codes.SIGNAL_INVALID, text, requestId);
  }

  #dropped(verdict: string): void {
    this.counters.candidatesDropped.set(
      verdict,
      (this.counters.candidatesDropped.get(verdict) ?? 0) + 1,
    );
  }

  #signal(peer: RelayPeer, body: ferry.v1.DirectSignal, requestId: number): void {
    const found = this.#pathFor(peer, body.pathId ?? 0, requestId);
    if (found === null) return;
    const { path, end } = found;
    const to = path.other(end);
    if (body.description != null) {
      const d = body.description;
      const type = d.type ?? '';
      const expected = end === End.TECHNICIAN ? 'offer' : 'answer';
      if (type !== expected) {
        this.#refuse(
          peer,
          `the ${end === End.TECHNICIAN ? 'offerer' : 'answerer'} sends an ${expected}, not "${type}"`,
          requestId,
        );
        return;
      }
      if (
        (end === End.TECHNICIAN && path.offered) ||
        (end === End.CUSTOMER && (path.answered || !path.offered))
      ) {
        this.#refuse(
          peer,
          path.offered ? `a second ${type} for attempt ${path.id}` : 'an answer before the offer',
          requestId,
        );
        return;
      }
      // candidates past the cap are cut from the SDP; the description itself goes on
      const filtered = this.candidates.filterSdp(d.sdp ?? '', MAX_CANDIDATES - path.candidates);
      if (filtered === null) {
        this.#refuse(peer, 'the SDP is not a data-channel session description', requestId);
        return;
      }
      if (filtered.dropped > 0) this.#dropped('sdp');
      if (filtered.overLimit > 0) this.#capped(peer, path, requestId);
      path.candidates += filtered.kept;
      this.counters.candidatesPassed += filtered.kept;
      if (end === End.TECHNICIAN) path.offered = true;
      else path.answered = true;
      to.sendFrame(
        controlFrame({
          directSignal: { pathId: path.id, description: { type, sdp: filtered.sdp } },
        }),
      );
      return;
    }
    if (body.candidate != null) {
      const c = body.candidate;
      const line = c.candidate ?? '';
      const mid = c.sdpMid ?? '';
      const index = c.sdpMLineIndex ?? 0;
      if (!/^[\x21-\x7e]{0,32}$/.test(mid) || index > MAX_M_LINE_INDEX) {
        this.#refuse(peer, 'the candidate names an m-line that no data-channel SDP has', requestId);
        return;
      }
      if (line === '') {
        // end of candidates: passed on once per end
        if ((path.candidatesEnded & (1 << end)) !== 0) return;
        path.candidatesEnded |= 1 << end;
        to.sendFrame(
          controlFrame({
            directSignal: {
              pathId: path.id,
              candidate: { candidate: '', sdpMid: mid, sdpMLineIndex: index },
            },
          }),
        );
        return;
      }
      const verdict = this.candidates.judge(line);
      if (verdict === 'malformed') {
        this.#refuse(peer, 'the ICE candidate line does not parse', requestId);
        return;
      }
      if (verdict !== 'ok') {
        this.#dropped(verdict);
        return;
      }
      if (path.candidates >= MAX_CANDIDATES) {
        this.#capped(peer, path, requestId);
        return;
      }
      path.candidates++;
      this.counters.candidatesPassed++;
      to.sendFrame(
        controlFrame({
          directSignal: {
            pathId: path.id,
            candidate: { candidate: line, sdpMid: mid, sdpMLineIndex: index },
          },
        }),
      );
      return;
    }
    this.#refuse(peer, 'a DirectSignal carries a description or a candidate', requestId);
  }

  #capped(peer: RelayPeer, path: DirectPath, requestId: number): void {
    this.#dropped('limit');
    if (path.capped) return;
    path.capped = true;
    this.counters.signalsRefused++;
    const text = `attempt ${path.id} already carried ${MAX_CANDIDATES} candidates; later ones are dropped`;
    this.#ctx.fail(peer, Codes.CANDIDATE_LIMIT, text, requestId);
  }

  #up(peer: RelayPeer, body: ferry.v1.DirectUp, requestId: number): void {
    const found = this.#pathFor(peer, body.pathId ?? 0, requestId);
    if (found === null) return;
    const { session, state, path, end } = found;
    path.upBy |= 1 << end;
    if (path.upBy !== 3 || path.up) return;
    path.upAtMs = this.#now();
    this.counters.up++;
    session.log.event(
      'direct_path',
      'gateway',
      `direct path ${path.id} up between ${path.technician.name} and the customer`,
      this.#ctx.registry.now(),
    );
    session.logger.info({ path: path.id, technician: path.technician.name }, 'direct path up');
    this.#status(session, state);
  }

  #report(peer: RelayPeer, body: ferry.v1.DirectReport, requestId: number): void {
    const found = this.#pathFor(peer, body.pathId ?? 0, requestId);
    if (found === null) return;
    const { session, state, path, end } = found;
    if (!path.up && (path.upBy & (1 << end)) === 0) {
      this.#ctx.fail(
        peer,
        Codes.WRONG_STATE,
        `direct path ${path.id} is not up at your end`,
        requestId,
      );
      return;
    }
    const rtt = Number(body.rttMs ?? 0);
    const reports = path.reports[end];
    const inputBefore = reports.framesReceived;
    const ok = reports.record(
      this.#now(),
      u64(body.bytesSent),
      u64(body.bytesReceived),
      u64(body.framesSent),
      u64(body.framesReceived),
      Number.isFinite(rtt) && rtt >= 0 ? rtt : 0,
    );
    if (!ok) {
      this.#ctx.fail(
        peer,
        Codes.INVALID_ARGUMENT,
        'DirectReport counters are cumulative: one went backwards',
        requestId,
      );
      return;
    }
    // input applied through the path is the session's activity, as it is on the relay
    if (end === End.CUSTOMER) session.activityFrames += reports.framesReceived - inputBefore;
    this.#status(session, state);
  }

  #closeOp(peer: RelayPeer, body: ferry.v1.DirectClose, requestId: number): void {
    const found = this.#pathFor(peer, body.pathId ?? 0, requestId);
    if (found === null) return;
    const { session, state, end } = found;
    const cause = body.cause ?? Cause.DIRECT_CLOSE_UNSPECIFIED;
    const who = end === End.TECHNICIAN ? "the technician's end" : "the customer's end";
    // the end's own words, printable and short
    const said = (body.reason ?? '').replace(/[^\x20-\x7e]/g, '').slice(0, 200);
    // what an end may say; anything else is a closed channel, a failure with its back-off, so an
    // end cannot make the gateway open attempt after attempt
    const known = CLIENT_CAUSES.has(cause) ? cause : Cause.DIRECT_CLOSE_CLOSED;
    this.#close(session, state, known, `${who}: ${said || 'closed'}`, peer);
    if (state.retryAtMs === 0) this.changed(session);
  }

  ops(): ControlTable {
    return {
      directSignal: op(Who.ANY, ({ peer, body, requestId }) =>
        this.#signal(peer, body as ferry.v1.DirectSignal, requestId),
      ),
      directUp: op(Who.ANY, ({ peer, body, requestId }) =>
        this.#up(peer, body as ferry.v1.DirectUp, requestId),
      ),
      directReport: op(Who.ANY, ({ peer, body, requestId }) =>
        this.#report(peer, body as ferry.v1.DirectReport, requestId),
      ),
      directClose: op(Who.ANY, ({ peer, body, requestId }) =>
        this.#closeOp(peer, body as ferry.v1.DirectClose, requestId),
      ),
    };
  }
}
