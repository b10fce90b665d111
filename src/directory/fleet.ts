/**
 * A gateway's part in a deployment of several (`--directory redis://`): it tells the shared
 * directory what it owns as things happen (sessions, their PINs and resume tokens), asks it who
 * owns what a Hello names when it does not hold it itself, and reserves PINs so that no two
 * gateways ever hand out the same one.
 *
 * What it tells is fire-and-forget: a publish that fails (the store is down) is logged once per
 * outage and costs the session nothing but its findability from other gateways; the store's
 * availability is what `/readyz` and the refusal of new sessions follow. What it asks is awaited,
 * on cold paths only (a Hello for a PIN or token this gateway does not hold, a new session's PIN).
 */
import type { Logger } from '../log.js';
import type { SessionListener } from '../session/listeners.js';
import { randomPin } from '../session/pins.js';
import { type Seat, tokenKey } from '../session/seat.js';
import type { Session } from '../session/session.js';
import type {
  GatewayMember,
  JumpClientPresence,
  JumpClientWhere,
  Ownership,
  SharedDirectory,
  TechnicianPresence,
} from './shared.js';

/** Draws before a PIN reservation gives up (each collides only with a PIN in use somewhere). */
const MAX_PIN_DRAWS = 16;

/** What a redirect says: where to go, and why. */
export interface RedirectTarget {
  readonly member: GatewayMember;
  /** What the gateway at `member` holds: a PIN, a place, a session, or a jump client's connection. */
  readonly reason: 'pin' | 'resume' | 'session' | 'jump_client';
}

/**
 * A session whose owner stopped beating (died), or that another gateway moved to this one:
 * this gateway takes it over from the journal copy.
 */
export interface Orphan {
  readonly sessionId: string;
  /** The dead owner's id (the compare-and-set of the takeover names it). */
  readonly from: string;
}

/** How often the list of live members (a Welcome's alternates) is read again. */
const MEMBERS_REFRESH_MS = 2000;

export interface FleetCounters {
  /** Clients sent to the gateway that owns what they named, by what they named. */
  readonly redirects: Record<RedirectTarget['reason'], number>;
  /** Lookups and publishes that failed because the store could not be reached. */
  failures: number;
  /** Sessions this gateway took over from a dead owner. */
  takeovers: number;
}

export class Fleet implements SessionListener {
  readonly shared: SharedDirectory;
  readonly counters: FleetCounters = {
    redirects: { pin: 0, resume: 0, session: 0, jump_client: 0 },
    failures: 0,
    takeovers: 0,
  };
  /** The other live members' URLs as last read (for a Welcome's alternates). */
  #alternates: string[] = [];
  #refresh: NodeJS.Timeout | null = null;
  /** Sessions another gateway took over while this one was down (see `disown`). */
  readonly #disowned = new Set<string>();
  /** Ended sessions whose removal from the store failed, to try again (`sweep`). */
  readonly #unremoved = new Set<string>();
  readonly #logger: Logger;
  readonly #pinLength: number;
  /** A failure was logged since the store was last available (one warning per outage). */
  #warned = false;

  constructor(shared: SharedDirectory, options: { logger: Logger; pinLength: number }) {
    this.shared = shared;
    this.#logger = options.logger;
    this.#pinLength = options.pinLength;
    let lost = false;
    shared.onAvailability((up) => {
      if (up) this.#warned = false;
      if (up && !lost) return; // the first connection: nothing to say
      lost = !up;
      this.#logger[up ? 'info' : 'warn'](
        { directory: up ? 'up' : 'down' },
        up
          ? 'shared directory reachable again: new sessions are accepted'
          : 'shared directory unreachable: new sessions are refused, live ones go on',
      );
    });
  }

  get available(): boolean {
    return this.shared.available;
  }

  /** Another live gateway holding `pin`, or null (nobody, a dead owner, or this gateway). */
  async ownerOfPin(pin: string): Promise<RedirectTarget | null> {
    return this.#elsewhere(await this.shared.pinOwner(pin), 'pin');
  }

  /** Another live gateway holding the place of resume token `token`, or null. */
  async ownerOfResume(token: string): Promise<RedirectTarget | null> {
    return this.#elsewhere(await this.shared.resumeOwner(tokenKey(token)), 'resume');
  }

  /**
   * Where the place of resume token `token` is: another live gateway (a redirect), a session
   * whose owner died (an orphan to take over), or nowhere (null).
   */
  async findResume(token: string): Promise<RedirectTarget | Orphan | null> {
    const owner = await this.shared.resumeOwner(tokenKey(token));
    if (owner === null || owner.sessionId === '') return null;
    // a dead owner's, or this gateway's without its being here (moved here by another): taken
    // over from the journal copy
    if (owner.member === null || owner.gatewayId === this.shared.selfId) {
      return { sessionId: owner.sessionId, from: owner.gatewayId };
    }
    return this.#elsewhere(owner, 'resume');
  }

  /** Joins the deployment (shared.start) and keeps the list of the other members fresh. */
  async start(
    self: { url: string; region: string },
    load: Parameters<SharedDirectory['start']>[1],
  ): Promise<void> {
    await this.shared.start(self, load);
    await this.#readMembers();
    this.#refresh = setInterval(() => void this.#readMembers(), MEMBERS_REFRESH_MS);
    this.#refresh.unref();
  }

  async stop(): Promise<void> {
    if (this.#refresh !== null) clearInterval(this.#refresh);
    this.#refresh = null;
    await this.shared.stop();
  }

  /** The other live members' URLs (not draining): where a client may resume if this one dies. */
  alternates(): string[] {
    return this.#alternates;
  }

  async #readMembers(): Promise<void> {
    let members: GatewayMember[];
    try {
      members = await this.shared.members();
    } catch {
      return; // unreachable now: the last list stands
    }
    const urls = members
      .filter((m) => m.id !== this.shared.selfId && !m.draining)
      .map((m) => m.url);
    if (urls.join('\n') === this.#alternates.join('\n')) return;
    this.#alternates = urls;
    this.onAlternates(urls);
  }

  /** Called when the other live members changed (the gateway tells its clients). */
  onAlternates: (urls: readonly string[]) => void = () => undefined;

  /** Replaces the store's copy of a session's journal (it may have lost or missed lines). */
  recopyJournal(sessionId: string, lines: readonly Buffer[]): void {
    if (lines.length === 0) return;
    this.#tell(this.shared.replaceJournal(sessionId, lines), "copy a session's journal");
  }

  /**
   * Forgets again the sessions whose removal failed (the store was down, or the connection
   * dropped with the command unanswered: it is not sent again), unless this gateway holds them
   * again. Without this their records, resume tokens and journal copy (chat text included) would
   * stay in the store for ever. Only removals this process saw fail are retried: a session
   * listed as this gateway's that it does not hold may be one moved here and not picked up yet.
   * Never rejects; returns how many were removed.
   */
  async sweep(holds: (sessionId: string) => boolean): Promise<number> {
    let removed = 0;
    for (const id of [...this.#unremoved]) {
      if (holds(id)) {
        this.#unremoved.delete(id);
        continue;
      }
      try {
        if (await this.shared.removeSession(id)) removed++;
        this.#unremoved.delete(id);
      } catch (err) {
        this.#failed(err, 'forget an ended session');
      }
    }
    return removed;
  }

  /** How many ended sessions wait for their removal from the store to be tried again. */
  get unremoved(): number {
    return this.#unremoved.size;
  }

  /**
   * Keeps a copy of a journal line in the store; never rejects (a failure is counted). While
   * the session is being moved the store refuses the line (it names the target as owner), so
   * the copy is kept only by the move's last copy of the whole journal: the promise waits for
   * that too, and what acknowledges the line (a chat's echo) with it.
   */
  mirrorJournal(sessionId: string, line: Buffer): Promise<void> {
    // a session that went to another gateway: what this one still writes of it (its end here)
    // must not reach the copy the new owner goes on from
    if (this.#disowned.has(sessionId)) return Promise.resolve();
    const copied = this.shared.appendJournal(sessionId, line).catch((err: unknown) => {
      this.#failed(err, 'copy a journal line');
    });
    const move = this.#moving.get(sessionId);
    return move === undefined ? copied : copied.then(() => move.done);
  }

  /**
   * Moves under way: settled once the session's last journal copy was sent and answered, by
   * every move that started (a drain and an operator's move of one session may overlap).
   */
  readonly #moving = new Map<string, { done: Promise<void>; settle: () => void; moves: number }>();

  /** `sessionId` is being moved to another gateway: each call is ended by one `moved`. */
  moving(sessionId: string): void {
    const move = this.#moving.get(sessionId);
    if (move !== undefined) {
      move.moves++;
      return;
    }
    let settle: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#moving.set(sessionId, { done, settle, moves: 1 });
  }

  /** One move of `sessionId` is over (its last copy answered, or it was not moved). */
  moved(sessionId: string): void {
    const move = this.#moving.get(sessionId);
    if (move === undefined || --move.moves > 0) return;
    this.#moving.delete(sessionId);
    move.settle();
  }

  /**
   * A PIN nobody in the deployment holds, reserved for this gateway until `expiresAtMs`.
   * Rejects when the store cannot be reached (the session is then refused).
   */
  async reservePin(expiresAtMs: number): Promise<string> {
    for (let i = 0; i < MAX_PIN_DRAWS; i++) {
      const pin = randomPin(this.#pinLength);
      if (await this.shared.publishPin(pin, '', expiresAtMs)) return pin;
    }
    throw new Error(`no free PIN of ${this.#pinLength} digits after ${MAX_PIN_DRAWS} draws`);
  }

  /** A PIN this gateway held was taken by its customer (single use): others forget it too. */
  pinTaken(pin: string): void {
    this.#tell(this.shared.releasePin(pin), 'release a PIN');
  }

  /** The live members of the deployment (GET /api/v1/gateways). */
  members(): Promise<GatewayMember[]> {
    return this.shared.members();
  }

  // --- presence: the connections this gateway holds, told as they come and go ----------------

  /** A technician said Hello here (GET /api/v1/technicians on any gateway lists it). */
  technicianHere(presence: Omit<TechnicianPresence, 'gatewayId'>): void {
    this.#tell(this.shared.technicianHere(presence), 'announce a technician');
  }

  technicianLeft(participantId: string): void {
    this.#tell(this.shared.technicianLeft(participantId), 'forget a technician');
  }

  /** A jump client connected here (idle), or went into a session here (`inSession`). */
  jumpClientHere(id: string, presence: Omit<JumpClientPresence, 'gatewayId'>): void {
    this.#tell(this.shared.jumpClientHere(id, presence), 'announce a jump client');
  }

  jumpClientLeft(id: string, participantId: string): void {
    this.#tell(this.shared.jumpClientLeft(id, participantId), 'forget a jump client');
  }

  /**
   * A redirect to the live gateway other than this one that holds jump client `presence`'s
   * connection (counted), or null when it is this gateway.
   */
  toJumpClient(presence: JumpClientWhere): RedirectTarget | null {
    if (presence.gatewayId === this.shared.selfId) return null;
    this.counters.redirects.jump_client++;
    return { member: presence.member, reason: 'jump_client' };
  }

  // --- SessionListener: what this gateway owns ---------------------------------------------

  created(session: Session): void {
    this.#publish(session);
    if (!session.ownerIsQueue) this.#resumable(session, session.owner);
  }

  restored(session: Session): void {
    // after a restart on the same data directory, the sessions are this gateway's again
    this.#publish(session);
    for (const seat of seatsOf(session)) this.#resumable(session, seat);
  }

  joined(session: Session, seat: Seat): void {
    this.#publish(session);
    this.#resumable(session, seat);
  }

  attached(session: Session, seat: Seat): void {
    this.#publish(session);
    this.#resumable(session, seat);
  }

  /** A session another gateway took over: its records in the directory are not this one's. */
  disown(sessionId: string): void {
    this.#disowned.add(sessionId);
  }

  ended(session: Session): void {
    if (this.#disowned.delete(session.id)) return;
    // record, resume tokens and journal copy in one script; a failure is tried again (sweep)
    const id = session.id;
    this.shared.removeSession(id).catch((err: unknown) => {
      this.#unremoved.add(id);
      this.#failed(err, 'remove an ended session');
    });
    if (session.pin !== '') this.pinTaken(session.pin);
  }

  #publish(session: Session): void {
    const customer = session.customerSeat;
    const summary = {
      id: session.id,
      status: session.statusName(),
      technician: session.ownerIsQueue ? '' : session.owner.name,
      customer: customer?.name ?? '',
      participants: seatsOf(session).length,
    };
    this.#tell(this.shared.publishSession(summary), 'publish a session');
  }

  #resumable(session: Session, seat: Seat): void {
    this.#tell(this.shared.publishResume(seat.tokenKey, session.id), 'publish a resume token');
  }

  #elsewhere(owner: Ownership | null, reason: RedirectTarget['reason']): RedirectTarget | null {
    if (owner === null || owner.member === null || owner.gatewayId === this.shared.selfId) {
      return null;
    }
    this.counters.redirects[reason]++;
    return { member: owner.member, reason };
  }

  #tell(work: Promise<unknown>, what: string): void {
    work.catch((err: unknown) => this.#failed(err, what));
  }

  #failed(err: unknown, what: string): void {
    this.counters.failures++;
    if (this.#warned) return;
    this.#warned = true;
    this.#logger.warn({ err }, `shared directory: could not ${what}`);
  }
}

/** The places of a session's participants: owner, collaborators and customer. */
function seatsOf(session: Session): Seat[] {
  const seats: Seat[] = session.ownerIsQueue ? [] : [session.owner];
  if (session.collaboratorCount > 0)
    for (const seat of session.collaborators.keys()) seats.push(seat);
  if (session.customerSeat !== null) seats.push(session.customerSeat);
  return seats;
}
