/**
 * Command shells at the gateway (spec session-tools E1-E5): the SHELL channel's ShellMessages,
 * once the router has checked the customer's SHELL grant. A technician of the session (owner or
 * collaborator) opens shells on the customer's machine, types into them, resizes and closes
 * them; the customer's output and exit go back to the technician who opened the shell only.
 *
 * Shell ids are allocated here, small integers a person can type: the n-th shell a session opens
 * is shell n (never reused within the session, at most `MAX_SHELLS_EVER`), so two technicians
 * never collide. A ShellOpen's Frame.stream is the technician's open reference (above
 * `MAX_SHELLS_EVER`); until the customer has opened the shell, what its opener hears of it
 * (refusals, a ShellExit, the ShellOpened naming the id) goes out under that reference
 * (proto/ferry/v1/shell.proto).
 *
 * Rules kept here (the gateway enforces them; the clients are not trusted):
 * - at most `maxShellsPerSession` shells are open in a session (FERRY_ERR_SHELL_LIMIT); an id in
 *   use is FERRY_ERR_SHELL_EXISTS; input, resize and close come from the opener only;
 * - direction is by role: technicians send open/input/resize/close, the customer
 *   opened/output/exit (anything else is FERRY_ERR_WRONG_ROLE);
 * - with `recordShells` on, every shell is recorded here, from the relayed stream, as an
 *   asciicast v2 file plus a timestamped transcript of input and output (E4, E5), so a client
 *   cannot skip it; a recording that cannot be started refuses the shell
 *   (FERRY_ERR_SHELL_RECORDING_FAILED). Recordings are closed on exit, close, revocation of the
 *   grant and the end of the session, and listed in the report;
 * - every open, close and exit is an entry of the session log (B7: tool use).
 * The bytes relayed are the frame as received, except ShellOpened (and a ShellExit before it),
 * which the gateway re-encodes under the opener's reference with the shell id set.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { type CodeEntry, Codes } from '../protocol/codes.js';
import { Channel, encodeFrame, Role } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import { AsciicastRecorder, type RecordingStats } from '../tools/asciicast.js';
import type { Participant } from './participant.js';
import type { Seat } from './seat.js';
import { Relation, type Session } from './session.js';

/** A refusal naming the shell or file it concerns (EVENT Error with Frame.stream set). */
export type StreamFail = (
  p: Participant,
  entry: CodeEntry,
  message: string,
  channel: number,
  stream: number,
) => void;

/** Counts a relayed frame in the gateway's per-channel statistics. */
export type RelayCount = (session: Session, channel: number, length: number) => void;

export interface ToolRelayOptions {
  readonly config: Config;
  readonly now: () => number;
  readonly fail: StreamFail;
  readonly count?: RelayCount;
  readonly logger?: Logger;
}

/** One shell recording, as the report and the status API list it. */
export interface RecordingEntry {
  readonly shellId: number;
  readonly name: string;
  readonly openedBy: string;
  readonly startedAt: string;
  endedAt: string | null;
  /** File names in `<dataDir>/recordings/<session id>/`. */
  readonly cast: string;
  readonly transcript: string;
  stats: RecordingStats | null;
}

/** An open shell of a session. */
export interface ShellState {
  /** The shell id (Frame.stream between the gateway and the customer, and once opened the opener). */
  readonly id: number;
  /** The opener's open reference (Frame.stream of its ShellOpen), used until `opened`. */
  readonly ref: number;
  /** The customer's ShellOpened has come (and gone to the opener). */
  opened: boolean;
  /** The technician who opened it: output and exit go there only. */
  readonly seat: Seat;
  readonly name: string;
  closing: boolean;
  recorder: AsciicastRecorder | null;
  recording: RecordingEntry | null;
}

const MAX_SIZE = 10_000;
/** Shells one session may open in all (bounds the report and the recordings on disk). */
export const MAX_SHELLS_EVER = 1000;
const MAX_NAME = 64;
const MAX_KIND = 64;
const MAX_REASON = 256;

/** Recording files are named `shell-<id>-<n>.cast` / `.txt`; the status API serves only these. */
export const RECORDING_FILE = /^shell-\d{1,10}-\d{1,6}\.(cast|txt)$/;

/** The directory of a session's recordings. */
export function recordingsDir(dataDir: string, sessionId: string): string {
  return path.join(dataDir, 'recordings', sessionId);
}

function printable(raw: string | null | undefined, max: number): string {
  return (raw ?? '')
    .replace(/\p{Cc}/gu, ' ')
    .trim()
    .slice(0, max);
}

function shellFrame(id: number, shell: ferry.v1.ShellMessage.$Properties): Uint8Array {
  return encodeFrame({ channel: Channel.CHANNEL_SHELL, stream: id, shell });
}

/** The Frame.stream under which a shell's opener hears of it: its reference until opened. */
function openerStream(shell: ShellState): number {
  return shell.opened ? shell.id : shell.ref;
}

export class ShellRelay {
  readonly #config: Config;
  readonly #now: () => number;
  readonly #fail: StreamFail;
  readonly #count: RelayCount | null;
  readonly #logger: Logger | null;
  /** Recorders still flushing their files. */
  readonly #closing = new Set<Promise<void>>();

  constructor(options: ToolRelayOptions) {
    this.#config = options.config;
    this.#now = options.now;
    this.#fail = options.fail;
    this.#count = options.count ?? null;
    this.#logger = options.logger ?? null;
  }

  /**
   * A decoded SHELL message (stream `id`) from `p` in `session`, whose SHELL grant the router has
   * checked; `bytes` is the frame as received (forwarded as is where it can be).
   */
  onMessage(
    p: Participant,
    id: number,
    msg: ferry.v1.ShellMessage,
    bytes: Uint8Array,
    session: Session,
  ): void {
    if (p.role === Role.ROLE_TECHNICIAN) this.#fromTechnician(p, msg, id, bytes, session);
    else this.#fromCustomer(p, msg, id, bytes, session);
  }

  #refuse(p: Participant, entry: CodeEntry, message: string, id: number): void {
    this.#fail(p, entry, message, Channel.CHANNEL_SHELL, id);
  }

  #fromTechnician(
    p: Participant,
    msg: ferry.v1.ShellMessage,
    id: number,
    bytes: Uint8Array,
    session: Session,
  ): void {
    const seat = session.seatOf(p);
    const relation = seat === null ? Relation.NONE : session.relationOf(seat);
    if (seat === null || (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR)) {
      this.#refuse(p, Codes.NOT_IN_SESSION, 'only the owner or a collaborator opens shells', id);
      return;
    }
    if (msg.kind === 'open') {
      this.#open(p, seat, msg.open as ferry.v1.ShellOpen, id, session);
      return;
    }
    if (msg.kind !== 'input' && msg.kind !== 'resize' && msg.kind !== 'close') {
      this.#refuse(p, Codes.WRONG_ROLE, `technicians do not send shell ${msg.kind}`, id);
      return;
    }
    const shell = session.shells.get(id);
    if (shell === undefined || shell.seat !== seat || shell.closing) {
      this.#refuse(p, Codes.SHELL_NOT_FOUND, `you have no open shell ${id}`, id);
      return;
    }
    const customer = session.customerSeat;
    if (customer === null) {
      this.#refuse(p, Codes.WRONG_STATE, 'the customer is not in the session', id);
      return;
    }
    // typing into the customer's machine follows the rules of INPUT: only while the session is live
    if (msg.kind !== 'close' && !session.flowing) {
      this.#refuse(
        p,
        Codes.WRONG_STATE,
        `no shell input while the session is ${session.status}`,
        id,
      );
      return;
    }
    const now = this.#now();
    if (msg.kind === 'input') {
      shell.recorder?.input(msg.input?.data ?? new Uint8Array(0), now);
      session.deliver(customer, bytes);
      this.#counted(session, bytes.length);
      return;
    }
    if (msg.kind === 'resize') {
      const cols = msg.resize?.cols ?? 0;
      const rows = msg.resize?.rows ?? 0;
      if (!validSize(cols) || !validSize(rows)) {
        this.#refuse(p, Codes.SHELL_BAD_SIZE, `${cols}x${rows}`, id);
        return;
      }
      shell.recorder?.resize(cols, rows, now);
      session.deliver(customer, bytes);
      this.#counted(session, bytes.length);
      return;
    }
    // close: the customer ends the process; its ShellExit ends the shell here
    shell.closing = true;
    const reason = printable(msg.close?.reason, MAX_REASON);
    session.log.event(
      'shell',
      seat.name,
      `${seat.name} closed shell ${id} "${shell.name}"${reason ? `: ${reason}` : ''}`,
      now,
    );
    this.#stopRecording(shell, now);
    session.deliver(customer, shellFrame(id, { close: { reason } }));
  }

  /** `ref`: the opener's open reference (the frame's stream); the shell id is allocated here. */
  #open(p: Participant, seat: Seat, op: ferry.v1.ShellOpen, ref: number, session: Session): void {
    if (ref <= MAX_SHELLS_EVER) {
      this.#refuse(
        p,
        Codes.INVALID_ARGUMENT,
        `a ShellOpen's Frame.stream is an open reference above ${MAX_SHELLS_EVER}: shell ids are allocated by the gateway`,
        ref,
      );
      return;
    }
    if (!session.flowing) {
      this.#refuse(p, Codes.WRONG_STATE, `no shells while the session is ${session.status}`, ref);
      return;
    }
    const customer = session.customerSeat;
    if (customer === null || customer.conn === null) {
      this.#refuse(p, Codes.WRONG_STATE, 'the customer is not connected', ref);
      return;
    }
    for (const other of session.shells.values()) {
      if (other.seat === seat && !other.opened && other.ref === ref) {
        this.#refuse(p, Codes.SHELL_EXISTS, `your open ${ref} is still pending`, ref);
        return;
      }
    }
    const max = this.#config.maxShellsPerSession;
    if (session.shells.size >= max) {
      this.#refuse(p, Codes.SHELL_LIMIT, `${max} shells are open in this session`, ref);
      return;
    }
    if (session.shellsOpened >= MAX_SHELLS_EVER) {
      this.#refuse(p, Codes.SHELL_LIMIT, `this session opened ${MAX_SHELLS_EVER} shells`, ref);
      return;
    }
    const cols = op.cols || 80;
    const rows = op.rows || 24;
    if (!validSize(cols) || !validSize(rows)) {
      this.#refuse(p, Codes.SHELL_BAD_SIZE, `${cols}x${rows}`, ref);
      return;
    }
    const shellId = session.shellsOpened + 1;
    const name = printable(op.name, MAX_NAME) || `shell ${shellId}`;
    const kind = printable(op.kind, MAX_KIND);
    const now = this.#now();
    const shell: ShellState = {
      id: shellId,
      ref,
      opened: false,
      seat,
      name,
      closing: false,
      recorder: null,
      recording: null,
    };
    if (this.#config.recordShells === 1) {
      const failed = this.#startRecording(session, shell, seat, cols, rows, kind, now);
      if (failed !== null) {
        this.#refuse(p, Codes.SHELL_RECORDING_FAILED, failed, ref);
        return;
      }
    }
    session.shells.set(shellId, shell);
    session.shellsOpened++;
    session.log.event(
      'shell',
      seat.name,
      `${seat.name} opened shell ${shellId} "${name}"${kind ? ` (${kind})` : ''}${shell.recording ? ', recorded' : ''}`,
      now,
    );
    session.deliver(
      customer,
      shellFrame(shellId, { open: { kind, name, cols, rows, by: seat.name } }),
    );
  }

  /** Creates the recorder; a message when it cannot be (the shell is then refused). */
  #startRecording(
    session: Session,
    shell: ShellState,
    seat: Seat,
    cols: number,
    rows: number,
    kind: string,
    now: number,
  ): string | null {
    const dir = recordingsDir(this.#config.dataDir, session.id);
    const base = `shell-${shell.id}-${session.shellsOpened + 1}`;
    const entry: RecordingEntry = {
      shellId: shell.id,
      name: shell.name,
      openedBy: seat.name,
      startedAt: new Date(now).toISOString(),
      endedAt: null,
      cast: `${base}.cast`,
      transcript: `${base}.txt`,
      stats: null,
    };
    try {
      // cold path, once per shell: recordings hold what the customer's machine printed (0700)
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      shell.recorder = new AsciicastRecorder({
        width: cols,
        height: rows,
        startedAtMs: now,
        title: `${shell.name} (session ${session.id}, ${seat.name})`,
        // the terminal the customer is asked for (its ShellOpened says if it ran on pipes instead)
        env: { TERM: 'xterm-256color', SHELL: kind || 'default' },
        maxBytes: this.#config.shellRecordingMaxBytes,
        file: path.join(dir, entry.cast),
        transcriptFile: path.join(dir, entry.transcript),
        transcript: { input: true, timestamps: true },
      });
    } catch (err) {
      this.#logger?.error({ err, sessionId: session.id }, 'cannot start a shell recording');
      return `cannot record: ${(err as Error).message}`;
    }
    shell.recording = entry;
    session.recordings.push(entry);
    return null;
  }

  #stopRecording(shell: ShellState, now: number): void {
    const rec = shell.recorder;
    if (rec === null) return;
    shell.recorder = null;
    // close() flushes synchronously before its first await: the stats are final now
    const closed = rec.close(now).catch((err: unknown) => {
      this.#logger?.error({ err, file: shell.recording?.cast }, 'shell recording failed');
    });
    if (shell.recording !== null) {
      shell.recording.endedAt = new Date(now).toISOString();
      shell.recording.stats = rec.stats();
    }
    this.#closing.add(closed);
    void closed.finally(() => this.#closing.delete(closed));
  }

  #fromCustomer(
    p: Participant,
    msg: ferry.v1.ShellMessage,
    id: number,
    bytes: Uint8Array,
    session: Session,
  ): void {
    if (session.customerSeat?.conn !== p) {
      this.#refuse(p, Codes.NOT_IN_SESSION, 'the customer is in no live session', id);
      return;
    }
    if (msg.kind !== 'opened' && msg.kind !== 'output' && msg.kind !== 'exit') {
      this.#refuse(p, Codes.WRONG_ROLE, `the customer does not send shell ${msg.kind}`, id);
      return;
    }
    const shell = session.shells.get(id);
    if (shell === undefined) {
      this.#refuse(p, Codes.SHELL_NOT_FOUND, `no open shell ${id}`, id);
      return;
    }
    const now = this.#now();
    if (msg.kind === 'output') {
      // after a close, the customer's host drops late output; whatever still comes is not relayed
      if (shell.closing) return;
      shell.recorder?.output(msg.output?.data ?? new Uint8Array(0), now);
      session.deliver(shell.seat, bytes);
      this.#counted(session, bytes.length);
      return;
    }
    if (msg.kind === 'opened') {
      if (shell.opened) {
        this.#refuse(p, Codes.WRONG_STATE, `shell ${id} is already open`, id);
        return;
      }
      shell.opened = true;
      const o = msg.opened as ferry.v1.ShellOpened;
      // to the opener under its reference, naming the shell id it uses from now on
      const opened: ferry.v1.ShellOpened.$Properties = {
        name: shell.name,
        shell: o.shell,
        pid: o.pid,
        id,
        pty: o.pty,
        note: o.note,
      };
      session.deliver(shell.seat, shellFrame(shell.ref, { opened }));
      return;
    }
    const exit = msg.exit as ferry.v1.ShellExit;
    session.shells.delete(id);
    this.#stopRecording(shell, now);
    if (!shell.closing) {
      const how = exit.errorCode
        ? `could not run: ${printable(exit.errorCode, 64)}`
        : exit.signal
          ? `ended by ${printable(exit.signal, 16)}`
          : `exited with code ${exit.code}`;
      session.log.event('shell', p.name, `shell ${id} "${shell.name}" ${how}`, now);
    }
    session.deliver(
      shell.seat,
      shell.opened
        ? bytes
        : shellFrame(shell.ref, {
            exit: {
              code: exit.code,
              signal: exit.signal,
              errorCode: exit.errorCode,
              message: exit.message,
            },
          }),
    );
  }

  #counted(session: Session, length: number): void {
    session.relayedFrames[Channel.CHANNEL_SHELL]!++;
    session.relayedBytes[Channel.CHANNEL_SHELL]! += length;
    this.#count?.(session, Channel.CHANNEL_SHELL, length);
  }

  /**
   * The customer revoked SHELL: every shell ends now. The customer is told to close each one,
   * its opener gets its ShellExit with FERRY_ERR_NOT_GRANTED.
   */
  revoked(session: Session, actor: string): void {
    if (session.shells.size === 0) return;
    const now = this.#now();
    for (const shell of [...session.shells.values()]) {
      session.shells.delete(shell.id);
      this.#stopRecording(shell, now);
      if (session.customerSeat !== null) {
        session.deliver(
          session.customerSeat,
          shellFrame(shell.id, { close: { reason: 'shell permission revoked' } }),
        );
      }
      session.deliver(
        shell.seat,
        shellFrame(openerStream(shell), {
          exit: {
            code: -1,
            errorCode: Codes.NOT_GRANTED.code,
            message: 'the customer revoked the shell permission',
          },
        }),
      );
      session.log.event('shell', actor, `shell ${shell.id} "${shell.name}" ended: revoked`, now);
    }
  }

  /**
   * `seat` has no part in the session any more (removed, left, gone, or the session was
   * transferred away from it, spec A2.3): its shells end now, so nothing more the customer's
   * machine prints reaches it. The customer is told to close each one.
   */
  left(session: Session, seat: Seat, actor: string): void {
    const now = this.#now();
    for (const shell of [...session.shells.values()]) {
      if (shell.seat !== seat) continue;
      session.shells.delete(shell.id);
      this.#stopRecording(shell, now);
      if (session.customerSeat !== null) {
        session.deliver(
          session.customerSeat,
          shellFrame(shell.id, { close: { reason: `${seat.name} left the session` } }),
        );
      }
      session.log.event(
        'shell',
        actor,
        `shell ${shell.id} "${shell.name}" ended: ${seat.name} left`,
        now,
      );
    }
  }

  /** The session ends: every recording is closed (before its report is built). */
  ended(session: Session): void {
    if (session.openShells === 0) return;
    const now = session.endedAtMs || this.#now();
    for (const shell of session.shells.values()) this.#stopRecording(shell, now);
    session.shells.clear();
  }

  /** Resolves once every recording closed so far is on disk. */
  async flushed(): Promise<void> {
    await Promise.all([...this.#closing]);
  }
}

function validSize(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_SIZE;
}
