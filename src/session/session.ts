/**
 * One support session: its places (owner, collaborators, invitees, a transfer target, the
 * customer), its status (changed only through `apply`, which runs the spec's state machine),
 * its running log and its relay counters. Knows participants through `Seat` and the
 * `Participant` interface only.
 *
 * Each technician sees the session through its own view (spec D-TRANSFER-PROJECTION): the
 * session's status for the owner, collaborators and customer; Incoming for a transfer target
 * while the session is Outgoing; its own entry (Invitation) for an invitee. `apply` and `alter`
 * snapshot every view, make the change, and tell each place whose view changed with a
 * StatusChanged event (a place that lost its view hears Removed from TC queue).
 *
 * Derived fields the relay reads on the hot path (`customer`, `technicians`, `controller`,
 * `flowing`) are recomputed by `refresh` after every change of status or membership.
 */
import type { Logger } from 'pino';
import { CHANNEL_COUNT, eventFrame, pb, Role, roleName } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import { toList } from './consent.js';
import { doubles } from './doubles.js';
import type { FileTransferEntry, TransferState } from './files.js';
import type { Participant } from './participant.js';
import { type PendingRequest, PendingRequests } from './pending.js';
import { Delivery, type Seat } from './seat.js';
import { type LogEntry, type LogRecord, type RetainedBudget, SessionLog } from './session-log.js';
import type { RecordingEntry, ShellState } from './shells.js';
import {
  create as createMachine,
  type Machine,
  type TransitionContext,
  transition,
} from './state-machine.js';
import { type EntryTrigger, isTerminal, STATUS_NAMES, Status, type Trigger } from './states.js';

/** Actor name of changes the gateway makes by itself (timers, lost connections). */
export const GATEWAY = 'gateway';

export interface StatusRecord {
  readonly status: Status;
  readonly atMs: number;
  readonly trigger: Trigger | 'created';
  readonly actor: string;
}

export interface ClientSummary {
  name: string;
  version: string;
  platform: string;
  computerName: string;
}

/** An accepted invitation: the collaborator's queue entry (spec scope: per-technician entry). */
export interface Collaborator {
  readonly seat: Seat;
  readonly entry: Machine;
  /** The collaborator's own last action (chat, operation); spec D-ADMIN-IDLE-CLOCK. */
  lastActionMs: number;
}

export interface Invitation {
  readonly seat: Seat;
  readonly entry: Machine;
  readonly invitedBy: string;
  readonly sinceMs: number;
}

/** spec D-TRANSFER-PROJECTION: one record, two views (Outgoing for `from`, Incoming for `to`). */
export interface PendingTransfer {
  readonly from: Seat;
  readonly to: Seat;
  readonly comment: string;
}

export interface MonitorRecord {
  readonly id: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly primary: boolean;
  readonly name: string;
  /** Monitor.capture_source ("x11", "test-pattern", ...), when the customer said it. */
  readonly captureSource?: string;
}

/** A technician's note (spec session-tools F4): technicians only, kept in the report. */
export interface NoteRecord {
  readonly id: number;
  readonly author: string;
  readonly text: string;
  readonly timeMs: number;
}

/** Notes kept per session. */
export const MAX_NOTES = 1000;

/** Someone who took part in the session, for the report. */
export interface ParticipantRecord {
  readonly name: string;
  readonly role: string;
  /** How it first took part: owner, customer, collaborator, transfer target. */
  readonly joinedAs: string;
  readonly joinedAtMs: number;
}

/** What a session needs of its journal (src/session/journal.ts). */
export interface JournalPort {
  /** Status, membership, consent or control changed: a new snapshot is due (end of turn). */
  changed(): void;
  /**
   * The snapshot due is written now (a change is about to be acknowledged); the copy of the
   * journal's newest line in the directory, or undefined when there is none to wait for.
   */
  keep(): Promise<void> | undefined;
  /** The log entries before `beforeSeq` that only the journal holds (spilled), oldest first. */
  spilledEntries(beforeSeq: number): LogEntry[];
}

/** How a session starts: a new one, or one a journal rebuilds (no creation entries again). */
export interface SessionInit {
  readonly entry?: EntryTrigger;
  /** The gateway-wide budget its log counts against. */
  readonly budget?: RetainedBudget | null;
  /** Rebuilt from a journal: the log, history and participants come from it. */
  readonly restoring?: boolean;
}

export type ApplyResult = { ok: true; from: Status; to: Status } | { ok: false; message: string };

export const Relation = {
  NONE: 0,
  OWNER: 1,
  COLLABORATOR: 2,
  INVITED: 3,
  TRANSFER_TARGET: 4,
  CUSTOMER: 5,
} as const;
export type Relation = (typeof Relation)[keyof typeof Relation];

const isDisruption = (s: Status): boolean =>
  s === Status.REBOOTING || s === Status.RECONNECTING || s === Status.OFFLINE;

/**
 * The status lines of session logs, one string for each (from, to, trigger): every session's log
 * shares it rather than holding a copy. The state table bounds how many there are.
 */
const STATUS_LINES = new Map<string, string>();

function statusLine(from: string, to: string, trigger: string): string {
  const line = `${from} -> ${to} (${trigger})`;
  const kept = STATUS_LINES.get(line);
  if (kept !== undefined) return kept;
  STATUS_LINES.set(line, line);
  return line;
}

/** The empty value of the read-only lists a session replaces whole: one shared array. */
const NONE: readonly never[] = Object.freeze([]);

/**
 * No technician connected: an empty array of the same shape as `[conn]` (V8's object elements,
 * which `[]` does not have), so that the relay's loop over `Session.technicians` sees one.
 */
const NO_PARTICIPANTS: readonly Participant[] = [null as unknown as Participant].slice(0, 0);

export class Session {
  readonly id: string;
  readonly createdAtMs: number;
  /** Connection of the technician who opened the session with a PIN (for reports). */
  readonly creator: Participant;
  readonly machine: Machine;
  readonly log: SessionLog;
  readonly logger: Logger;
  /**
   * The small lists below are replaced on each change (`concat`, which sizes the new array
   * exactly), not pushed to: a pushed or spread array keeps room for 16 more (V8 grows by half
   * plus 16), and a session holds a handful of entries in each.
   */
  history: readonly StatusRecord[] = NONE;
  pin = '';
  /** When the PIN stops working (0 without one). */
  pinExpiresAtMs = 0;
  customerLabel: string;
  customerInfo: ClientSummary | null = null;
  /** The technician place that owns the session. */
  owner: Seat;
  /** The owner is a team queue's stand-in (a support button session nobody adopted yet). */
  ownerIsQueue = false;
  customerSeat: Seat | null = null;
  // Maps and Sets most sessions never fill are made on first use (an empty Map costs ~180 B,
  // per idle session: docs/benchmarks.md); inside this class they are read through the private
  // fields, so reading never makes one.
  #collaborators: Map<Seat, Collaborator> | null = null;
  #invitations: Map<Seat, Invitation> | null = null;
  /** Accepted invitations by seat. */
  get collaborators(): Map<Seat, Collaborator> {
    this.#collaborators ??= new Map();
    return this.#collaborators;
  }
  /** The collaborator entry of `seat`, without making the map (every operation reads it). */
  collaboratorOf(seat: Seat): Collaborator | undefined {
    return this.#collaborators?.get(seat);
  }
  /** `collaborators.size`, without making the map (timers read it for every session). */
  get collaboratorCount(): number {
    return this.#collaborators?.size ?? 0;
  }
  /** Open invitations by seat. */
  get invitations(): Map<Seat, Invitation> {
    this.#invitations ??= new Map();
    return this.#invitations;
  }
  /** The places invited now, without making the map (a session's end reads them). */
  invitedSeats(): Seat[] {
    return this.#invitations === null ? [] : [...this.#invitations.keys()];
  }
  /** Nobody collaborates any more, without making the map (a session's end). */
  dropCollaborators(): void {
    this.#collaborators?.clear();
  }
  transfer: PendingTransfer | null = null;
  /** Place whose INPUT reaches the customer. */
  controllerSeat: Seat | null = null;
  /** The owner has picked the session up: it is attached and receives the screen. */
  attached = false;
  /** The customer was asked to restart and has not dropped its connection yet. */
  awaitingRebootDrop = false;
  statusSinceMs: number;
  /** Last user action by any participant (chat, input, operation); spec D-ADMIN-IDLE-CLOCK. */
  lastActionMs: number;
  /**
   * Frames accepted on channels whose row counts as user activity (input, chat, tools: the
   * channel table's `activity` column); the router bumps it, the idle timers sample it.
   */
  activityFrames = 0;
  /** `activityFrames` when `lastActionMs` was last sampled (idle timers). */
  activitySeen = 0;
  endedAtMs = 0;
  endReason = '';
  /** Its journal, or null (journaling off, or the file could not be opened). */
  journal: JournalPort | null = null;
  /** The direct-path service (src/handlers/direct.ts): told when eligibility may have changed. */
  directs: { changed(session: Session): void } | null = null;
  /** When a restarted gateway rebuilt it from its journal (0: never). */
  restoredAtMs = 0;
  /** Somebody took its place back after that restart. */
  resumedSinceRestore = false;
  /** Everyone who took part, in order of arrival (for the report). */
  participants: readonly ParticipantRecord[] = NONE;
  /** Seats already in `participants` (a handful: an array, not a Set). */
  #recorded: readonly Seat[] = NONE;

  // Session tools (docs/spec/session-tools.md B, C, D, F).
  /**
   * What the customer granted: bits of consent.ts (`1 << Permission`). The relay reads it per
   * SCREEN, INPUT and SYSINFO frame; only the consent operations of the registry write it.
   */
  grants = 0;
  /**
   * When a change that turns SCREEN or INPUT away last happened (session clock): a revoke,
   * control leaving a technician, a status change while media flowed. The relay excuses SCREEN and
   * INPUT refused soon after it (`--input-grace-ms`): their senders had not seen it yet.
   */
  changedAtMs = 0;
  /** Who made that change (its actor name): it has seen it, so its own frames are not excused. */
  changedBy = '';
  /** Requests forwarded to the customer, waiting for its answer (src/session/pending.ts). */
  readonly pending = new PendingRequests();
  #nextRequest = 1;
  /** The customer shares its screen (logged and announced; the VIEW grant is the enforcement). */
  screenSharing = false;
  monitors: readonly MonitorRecord[] = NONE;
  /** The monitor shared, or -1 for all. */
  selectedMonitor = -1;
  /** Address the gateway sees on the customer's connection (the summary's public IP). */
  customerAddress = '';
  /** System information categories the customer client offers (its Hello). */
  sysinfoCategories: readonly string[] = NONE;
  readonly notes: NoteRecord[] = [];
  #profiled: Set<Seat> | null = null;
  /** Technician places whose profile the customer has received (B2). */
  get profiled(): Set<Seat> {
    this.#profiled ??= new Set();
    return this.#profiled;
  }

  // Session tools II (command shells, file transfer): owned by shells.ts and files.ts.
  #shells: Map<number, ShellState> | null = null;
  #transfers: Map<number, TransferState> | null = null;
  /** Open shells by id (Frame.stream). */
  get shells(): Map<number, ShellState> {
    this.#shells ??= new Map();
    return this.#shells;
  }
  /** How many shells are open, without making the map (most sessions open none). */
  get openShells(): number {
    return this.#shells?.size ?? 0;
  }
  /** Shells opened so far (numbers the recording files). */
  shellsOpened = 0;
  /**
   * The jump client this unattended session reaches ('' for any other session): journaled, so
   * that after a restart or a move its device is still this session's, and closing with
   * uninstall still revokes its key.
   */
  jumpClientId = '';
  /** Shell recordings of this session (E4, E5), for the report and the status API. */
  readonly recordings: RecordingEntry[] = [];
  /** Open transfers and download requests by id (Frame.stream). */
  get transfers(): Map<number, TransferState> {
    this.#transfers ??= new Map();
    return this.#transfers;
  }
  /** How many transfers are open, without making the map (most sessions have none). */
  get openTransfers(): number {
    return this.#transfers?.size ?? 0;
  }
  /** Every transfer offered in this session, for the report. */
  readonly fileTransfers: FileTransferEntry[] = [];

  // Derived, read by the relay per frame: recomputed by `refresh`.
  /** The customer's live connection. */
  customer: Participant | null = null;
  /** Live connections of the attached technicians (owner once picked up, collaborators). */
  technicians: readonly Participant[] = NO_PARTICIPANTS;
  /** Live connection of the controlling technician. */
  controller: Participant | null = null;
  /** Screen, input and chat flow (Active, Collaborating, or Reconnecting from one of them). */
  flowing = false;

  /**
   * Frames and bytes relayed in this session, indexed by channel number: arrays of doubles, not
   * typed arrays (src/session/doubles.ts says why).
   */
  readonly relayedFrames = doubles(CHANNEL_COUNT);
  readonly relayedBytes = doubles(CHANNEL_COUNT);
  readonly droppedFrames = doubles(CHANNEL_COUNT);

  constructor(
    id: string,
    owner: Seat,
    creator: Participant,
    customerLabel: string,
    logger: Logger,
    nowMs: number,
    init: EntryTrigger | SessionInit = {},
  ) {
    const {
      entry = 'pin_code_generated',
      budget = null,
      restoring = false,
    } = typeof init === 'string' ? { entry: init } : init;
    this.id = id;
    this.owner = owner;
    this.creator = creator;
    this.customerLabel = customerLabel;
    this.createdAtMs = nowMs;
    this.statusSinceMs = nowMs;
    this.lastActionMs = nowMs;
    this.logger = logger.child({ sessionId: id });
    this.log = new SessionLog(undefined, undefined, budget);
    this.machine = createMachine(entry);
    this.log.onAppend = (e) => this.#publish(e);
    this.log.onPublishFailed = (err, e) =>
      this.logger.error({ err, seq: e.seq }, 'session log entry not published');
    owner.sessions.add(this);
    if (restoring) return;
    this.history = [
      { status: this.machine.status, atMs: nowMs, trigger: 'created', actor: owner.name },
    ];
    this.log.event('status', owner.name, this.machine.status, nowMs);
    this.record(owner, 'owner', nowMs);
  }

  /** A new id for a consent or SYSINFO request (unique in the session, never 0). */
  /**
   * Delivers the customer's answer to the technician who asked, only while it still works the
   * session (owner or collaborator). False: the asker has no part in the session any more.
   */
  answer(request: PendingRequest, frame: ArrayBuffer | Uint8Array): boolean {
    const relation = this.relationOf(request.seat);
    if (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR) return false;
    this.deliver(request.seat, frame);
    return true;
  }

  nextRequestId(): number {
    const id = this.#nextRequest;
    this.#nextRequest = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  /**
   * spec B7: every event of the log goes out as it happens (chat messages are sent by the chat
   * handler itself), to the technicians and, unless private, to the customer. Only to those
   * connected: the resume buffer of an absent participant keeps its chat, input and status
   * changes, and the log itself is there for it on return (ChatHistoryRequest).
   */
  #publish(entry: LogEntry): void {
    if (entry.kind !== 'event' || this.ended) return;
    const frame = eventFrame({ sessionEvent: toWireEvent(this.id, entry) });
    for (const seat of this.technicianSeats()) seat.conn?.sendFrame(frame);
    if (entry.audience === 'all') this.customerSeat?.conn?.sendFrame(frame);
  }

  /**
   * Gives control (the one technician whose INPUT reaches the customer) to `seat`; when it
   * changes, logs it and tells everyone (ControlChanged).
   */
  setController(seat: Seat | null, actor: string, nowMs: number): void {
    if (this.controllerSeat === seat) return;
    if (this.controllerSeat !== null) {
      this.changedAtMs = nowMs; // its input may be on the wire
      this.changedBy = actor;
    }
    this.controllerSeat = seat;
    this.refresh();
    this.log.event(
      'control',
      actor,
      seat === null ? 'nobody has control' : `${seat.name} has control`,
      nowMs,
    );
    const frame = eventFrame({
      controlChanged: {
        sessionId: this.id,
        participantId: seat?.participantId ?? '',
        displayName: seat?.name ?? '',
        actor,
      },
    });
    const seats = this.seats();
    this.acknowledge(() => this.broadcast(frame, seats));
  }

  /**
   * Sends what acknowledges a change (StatusChanged, ConsentChanged, ControlChanged, Done) once
   * the change is kept: the journal's snapshot is written now, not at the end of the turn, and
   * with a copy of the journal in a deployment's directory the send waits for that copy (and
   * for the log entries held before it, so acknowledgements keep their order). A gateway that
   * takes the session over after a crash then has every change a participant saw acknowledged.
   * A copy that fails does not hold the session back (the journal is copied again when the store
   * returns). Without a directory, `send` runs at once.
   */
  acknowledge(send: () => void): void {
    const kept = this.journal?.keep();
    const held = this.log.held;
    const before = this.#acknowledging;
    if (kept === undefined && held === null && before === null) {
      send();
      return;
    }
    // each waits for the one before it too: a close sent this way follows the last StatusChanged
    const acknowledged: Promise<void> = Promise.all([before, held, kept?.catch(() => undefined)])
      .then(() => {
        if (this.#acknowledging === acknowledged) this.#acknowledging = null;
        send();
      })
      .catch((err: unknown) => this.logger.error({ err }, 'acknowledgement not sent'));
    this.#acknowledging = acknowledged;
  }

  /** The newest acknowledgement still waiting (null when none is). */
  #acknowledging: Promise<void> | null = null;

  /**
   * The session log as `technician` (or the customer) may see it, ready for ChatHistory: the
   * window in memory, preceded by what the journal holds of the entries spilled before it, up
   * to the log's own bounds (newest kept); `dropped` counts the entries not in it. With
   * `afterSeq`, only the entries after it: read from memory alone when the window reaches back.
   */
  chatHistory(technician: boolean, afterSeq = 0): ferry.v1.ChatHistory.$Properties {
    const log = this.log;
    let entries: readonly LogRecord[] = log.visibleTo(technician);
    if (afterSeq > 0) entries = entries.filter((e) => e.seq > afterSeq);
    const first = log.firstSeq;
    // dropped entries come first: those after `afterSeq` are the ones the asker lacks
    let dropped =
      afterSeq > 0
        ? Math.min(log.dropped, Math.max(0, first - 1 - afterSeq - log.spilled))
        : log.dropped;
    if (log.spilled > 0 && afterSeq + 1 < first) {
      const read = (this.journal?.spilledEntries(first) ?? []).filter((e) => e.seq > afterSeq);
      // what the journal should hold after `afterSeq`, and did not give back
      dropped += Math.min(log.spilled, first - 1 - afterSeq) - read.length;
      const older = technician ? read : read.filter((e) => e.audience === 'all');
      entries = [...older, ...entries];
      const keep = log.fitting(entries);
      dropped += entries.length - keep.length;
      entries = keep;
    }
    return {
      sessionId: this.id,
      entries: entries.map((e) =>
        e.kind === 'chat' ? { chat: toWireChat(e) } : { event: toWireEvent(this.id, e) },
      ),
      dropped,
    };
  }

  /** The permissions in force, for ConsentChanged and summaries. */
  grantedList(): number[] {
    return toList(this.grants);
  }

  /** Notes `seat` as a participant of the report (once). */
  record(seat: Seat, joinedAs: string, nowMs: number): void {
    if (this.#recorded.includes(seat)) return;
    this.#recorded = this.#recorded.concat([seat]);
    // the participants are part of the journal's snapshot (a restart's report lists them)
    this.journal?.changed();
    this.participants = this.participants.concat([
      { name: seat.name, role: roleName(seat.role), joinedAs, joinedAtMs: nowMs },
    ]);
  }

  get status(): Status {
    return this.machine.status;
  }

  /** No trigger can leave the current status. */
  get terminal(): boolean {
    return isTerminal(this.machine.status, this.machine.timeoutKind);
  }

  get ended(): boolean {
    return this.endedAtMs !== 0;
  }

  /** Recomputes the fields the relay reads per frame. */
  refresh(): void {
    this.journal?.changed();
    this.directs?.changed(this);
    this.customer = this.customerSeat?.conn ?? null;
    const owner = this.attached ? this.owner.conn : null;
    if (this.#collaborators === null) {
      this.technicians = owner === null ? NO_PARTICIPANTS : [owner];
    } else {
      const techs = owner === null ? [] : [owner];
      for (const seat of this.#collaborators.keys()) if (seat.conn !== null) techs.push(seat.conn);
      // a copy without the room push leaves
      this.technicians = techs.length === 0 ? NO_PARTICIPANTS : techs.slice();
    }
    this.controller = this.controllerSeat?.conn ?? null;
    const s = this.machine.status;
    const before = this.machine.statusBeforeDisruption;
    this.flowing =
      s === Status.ACTIVE ||
      s === Status.COLLABORATING ||
      (s === Status.RECONNECTING && (before === Status.ACTIVE || before === Status.COLLABORATING));
  }

  relationOf(seat: Seat): Relation {
    if (seat === this.owner) return Relation.OWNER;
    if (seat === this.customerSeat) return Relation.CUSTOMER;
    if (this.#collaborators?.has(seat) === true) return Relation.COLLABORATOR;
    if (this.transfer?.to === seat) return Relation.TRANSFER_TARGET;
    if (this.#invitations?.has(seat) === true) return Relation.INVITED;
    return Relation.NONE;
  }

  /** The status `seat` sees when the session is in `status`, or null when it has no view. */
  viewOf(seat: Seat, status: Status = this.machine.status): Status | null {
    switch (this.relationOf(seat)) {
      case Relation.OWNER:
      case Relation.CUSTOMER:
      case Relation.COLLABORATOR:
        return status;
      case Relation.TRANSFER_TARGET:
        // spec D-TRANSFER-PROJECTION: the target's view of the one pending transfer
        if (status === Status.OUTGOING) return Status.INCOMING;
        return isDisruption(status) ? status : null;
      case Relation.INVITED:
        return this.#invitations!.get(seat)!.entry.status;
      default:
        return null;
    }
  }

  /** Every place with a part in the session, each once. */
  seats(): Seat[] {
    const all: Seat[] = [this.owner];
    if (this.#collaborators !== null) for (const seat of this.#collaborators.keys()) all.push(seat);
    if (this.transfer !== null && !all.includes(this.transfer.to)) all.push(this.transfer.to);
    if (this.#invitations !== null)
      for (const seat of this.#invitations.keys()) if (!all.includes(seat)) all.push(seat);
    if (this.customerSeat !== null) all.push(this.customerSeat);
    return all;
  }

  /** Places that work the session: owner and collaborators. */
  technicianSeats(): Seat[] {
    const all: Seat[] = [this.owner];
    if (this.#collaborators !== null) for (const seat of this.#collaborators.keys()) all.push(seat);
    return all;
  }

  /** Live connections of the owner and collaborators (statistics and alerts go to them). */
  technicianAudience(): Participant[] {
    const all: Participant[] = [];
    for (const seat of this.technicianSeats()) if (seat.conn !== null) all.push(seat.conn);
    return all;
  }

  /** The connection works this session: owner, collaborator or customer. */
  isParticipant(p: Participant): boolean {
    if (p === this.customerSeat?.conn) return true;
    if (p === this.owner.conn) return true;
    if (this.#collaborators !== null)
      for (const seat of this.#collaborators.keys()) if (seat.conn === p) return true;
    return false;
  }

  /** The place of a connection in this session, if any. */
  seatOf(p: Participant): Seat | null {
    for (const seat of this.seats()) if (seat.conn === p) return seat;
    return null;
  }

  /**
   * Runs `trigger` through the state machine; on success records and logs it, runs `after`
   * (membership changes that belong to the same step), and tells every place whose view changed.
   */
  apply(
    trigger: Trigger,
    actor: string,
    nowMs: number,
    ctx?: TransitionContext,
    after?: () => void,
  ): ApplyResult {
    const before = this.#views();
    const result = transition(this.machine, trigger, ctx);
    if (!result.ok) return { ok: false, message: result.message };
    this.statusSinceMs = nowMs;
    if (this.flowing) {
      this.changedAtMs = nowMs; // media may have been on the wire
      this.changedBy = actor;
    }
    if (actor !== GATEWAY) this.lastActionMs = nowMs;
    this.history = this.history.concat([{ status: result.to, atMs: nowMs, trigger, actor }]);
    this.log.event('status', actor, statusLine(result.from, result.to, trigger), nowMs);
    this.logger.info({ from: result.from, to: result.to, trigger, actor }, 'session status');
    // spec D-TRANSFER-PROJECTION: the pending transfer lives while the session is Outgoing, or
    // disrupted on its way back to Outgoing
    const to = result.to;
    let endedTransfer: Seat | null = null;
    if (
      this.transfer !== null &&
      to !== Status.OUTGOING &&
      !(isDisruption(to) && this.machine.statusBeforeDisruption === Status.OUTGOING)
    ) {
      // The target sees its Incoming entry end the way the session went (Incoming -> Timed out,
      // Closed, On Hold), unless the session was picked up (then its entry is dropped).
      if (trigger !== 'pickup') endedTransfer = this.transfer.to;
      this.transfer = null;
    }
    if (to === Status.REBOOTING && trigger === 'reboot') this.awaitingRebootDrop = true;
    else if (to !== Status.REBOOTING && to !== Status.OFFLINE) this.awaitingRebootDrop = false;
    after?.();
    this.refresh();
    this.#relink(before);
    this.#announce(before, trigger, actor, endedTransfer, result.from);
    return { ok: true, from: result.from, to };
  }

  /**
   * A change of membership or of one place's entry (invitation, removal) that leaves the
   * session's own status alone: logged, then announced to every place whose view changed.
   */
  alter(label: string, actor: string, detail: string, nowMs: number, change: () => void): void {
    const before = this.#views();
    change();
    if (actor !== GATEWAY) this.lastActionMs = nowMs;
    this.log.event('entry', actor, `${detail} (${label})`, nowMs);
    this.logger.info({ label, actor, detail }, 'session entry');
    this.refresh();
    this.#relink(before);
    this.#announce(before, label, actor);
  }

  /** Keeps `Seat.sessions` equal to the places with a part in this session. */
  #relink(before: Map<Seat, Status | null>): void {
    for (const seat of before.keys())
      if (this.relationOf(seat) === Relation.NONE) this.unlink(seat);
    for (const seat of this.seats()) seat.sessions.add(this);
  }

  /** `seat` has no part in this session any more. */
  unlink(seat: Seat): void {
    seat.sessions.delete(this);
    if (seat.focus === this) seat.focus = null;
    if (seat.conn !== null && seat.conn.session === this) seat.conn.session = null;
  }

  #views(): Map<Seat, Status | null> {
    const views = new Map<Seat, Status | null>();
    for (const seat of this.seats()) views.set(seat, this.viewOf(seat));
    return views;
  }

  #announce(
    before: Map<Seat, Status | null>,
    trigger: string,
    actor: string,
    endedTransfer: Seat | null = null,
    from: Status | null = null,
  ): void {
    const seats = new Set<Seat>(before.keys());
    for (const seat of this.seats()) seats.add(seat);
    const announcements: [Seat, Uint8Array][] = [];
    // most places see the same change (the owner and the customer alike): it is encoded once
    let last: { status: number; previous: number; comment: string; frame: Uint8Array } | null =
      null;
    for (const seat of seats) {
      const was = before.get(seat) ?? null;
      const now = seat === endedTransfer ? this.machine.status : this.viewOf(seat);
      if (was === now) continue;
      // A place that gains its view in a status change (the transfer target) saw it from the
      // session's previous status (spec: Active -> Incoming on transfer).
      const prior = was ?? from;
      // spec D-REMOVED-FROM-QUEUE: a place that lost its view saw its entry leave the queue
      const status = statusToWire(now ?? Status.REMOVED_FROM_TC_QUEUE);
      const previous = prior === null ? 0 : statusToWire(prior);
      // the comment is for the technicians (a technicians-only event), never the customer
      const comment =
        this.transfer !== null &&
        seat !== this.customerSeat &&
        (now === Status.INCOMING || now === Status.OUTGOING)
          ? this.transfer.comment
          : '';
      if (
        last === null ||
        last.status !== status ||
        last.previous !== previous ||
        last.comment !== comment
      ) {
        const frame = eventFrame({
          statusChanged: {
            sessionId: this.id,
            status,
            previous,
            trigger,
            actor,
            timeoutKind: now === Status.TIMED_OUT ? (this.machine.timeoutKind ?? '') : '',
            comment,
          },
        });
        last = { status, previous, comment, frame };
      }
      announcements.push([seat, last.frame]);
    }
    if (announcements.length === 0) return;
    this.acknowledge(() => {
      for (const [seat, frame] of announcements) this.deliver(seat, frame);
    });
  }

  /**
   * Sends a gateway frame to one place; while it is away the frame is held for its resume.
   * The first frame given up for an absent place is reported to the others (FramesLost).
   */
  deliver(seat: Seat, frame: Uint8Array | ArrayBuffer): Delivery {
    const result = seat.deliver(frame);
    if (result === Delivery.STARTED_LOSING) this.reportLoss(seat);
    return result;
  }

  /**
   * Sends `frame` to every place of `seats` (default: everyone with a part in the session);
   * returns how many were written now (the others are held or counted as lost).
   */
  broadcast(frame: Uint8Array, seats: Seat[] = this.seats(), except: Seat | null = null): number {
    let sent = 0;
    for (const seat of seats) {
      if (seat === except) continue;
      if (this.deliver(seat, frame) === Delivery.SENT) sent++;
    }
    return sent;
  }

  /** Tells the present places that frames for the absent `seat` are being given up. */
  reportLoss(seat: Seat): void {
    const frame = eventFrame({
      framesLost: {
        code: 'FERRY_ERR_FRAMES_LOST',
        sessionId: this.id,
        participantId: seat.participantId,
        frames: seat.lostFrames,
        bytes: seat.lostBytes,
        reason: seat.lossReason,
      },
    });
    this.log.event(
      'frames_lost',
      GATEWAY,
      `${seat.name}: ${seat.lostFrames} frames (${seat.lostBytes} bytes) given up, ${seat.lossReason}`,
    );
    for (const other of this.seats())
      if (other !== seat && other.conn !== null) other.deliver(frame);
  }

  describe(p: Participant): { participantId: string; role: number; displayName: string } {
    return { participantId: p.id, role: p.role, displayName: p.name };
  }

  /** Plain-data summary for logs, the status API and reports. */
  summary(): Record<string, unknown> {
    return {
      id: this.id,
      status: this.status,
      createdAt: new Date(this.createdAtMs).toISOString(),
      endedAt: this.ended ? new Date(this.endedAtMs).toISOString() : null,
      customer: this.customer === null ? null : { id: this.customer.id, name: this.customer.name },
      customerLabel: this.customerLabel,
      owner: this.owner.name,
      technicians: this.technicians.map((t) => ({
        id: t.id,
        name: t.name,
        controller: t === this.controller,
      })),
      creator: { id: this.creator.id, name: this.creator.name },
    };
  }

  statusName(): string {
    return STATUS_NAMES[this.machine.status];
  }
}

/** A log event as the wire's SessionEvent. */
export function toWireEvent(
  sessionId: string,
  e: Extract<LogRecord, { kind: 'event' }>,
): ferry.v1.SessionEvent.$Properties {
  return {
    sessionId,
    seq: e.seq,
    serverTimeUnixMs: e.timeMs,
    type: e.type,
    actor: e.actor,
    detail: e.detail,
    audience:
      e.audience === 'technicians'
        ? pb.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY
        : pb.ChatAudience.CHAT_AUDIENCE_ALL,
  };
}

/** A logged chat message as the wire's ChatMessage (as it was relayed). */
export function toWireChat(
  e: Extract<LogRecord, { kind: 'chat' }>,
): ferry.v1.ChatMessage.$Properties {
  return {
    text: e.text,
    audience:
      e.audience === 'technicians'
        ? pb.ChatAudience.CHAT_AUDIENCE_TECHNICIANS_ONLY
        : pb.ChatAudience.CHAT_AUDIENCE_ALL,
    seq: e.seq,
    serverTimeUnixMs: e.timeMs,
    senderId: e.senderId,
    senderName: e.senderName,
    senderRole: e.senderRole === 'technician' ? Role.ROLE_TECHNICIAN : Role.ROLE_CUSTOMER,
  };
}

/**
 * Each status's wire value, looked up once: building the enum's key per call (a template string,
 * then a lookup by a string V8 has not seen) was 1% of a churn profile.
 */
const STATUS_WIRE: ReadonlyMap<string, number> = new Map(
  Object.values(Status).map((status) => [
    status,
    (pb.SessionStatus as unknown as Record<string, number>)[`SESSION_STATUS_${status}`] ?? 0,
  ]),
);

export function statusToWire(status: Status): number {
  return STATUS_WIRE.get(status) ?? 0;
}

export function participantRole(p: Participant): string {
  return roleName(p.role);
}

export { Role };
