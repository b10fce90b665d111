/**
 * File transfer at the gateway (issue 8 item 2): the FILE channel's FileMessages, once the router
 * has checked the customer's FILE grant. Files go both ways between a technician of the session
 * and the customer, under a file id the technician chooses (Frame.stream):
 * - upload: the technician offers (name, size, SHA-256), the customer accepts at an offset;
 * - download: the technician requests a path, the customer offers that file on the same id.
 * Then chunks flow sender -> receiver and acks (byte offsets) back; the receiver ends it with
 * FileDone once the SHA-256 matched, or either side with FileCancel.
 *
 * Rules kept here (the clients are not trusted):
 * - every offer is checked against `fileTransferMaxBytes` (FERRY_ERR_FILE_TOO_LARGE,
 *   FERRY_ERR_FILE_SIZE_INVALID) and every chunk against the size announced
 *   (FERRY_ERR_FILE_BEYOND_SIZE, not relayed), with `TransferGuard`; offsets may go back (a
 *   resume), never past the size;
 * - each message must come from its side: offers and chunks from the sender, accepts, acks and
 *   FileDone from the receiver (FERRY_ERR_FILE_UNKNOWN otherwise, as for an unknown id);
 * - a repeated offer for a live transfer (same sender, size and digest) is a resume: it is
 *   relayed again so the receiver answers with its offset;
 * - every transfer is logged (B7) and listed in the report with how it ended; revoking FILE
 *   cancels every transfer at once (FileCancel with FERRY_ERR_NOT_GRANTED to both sides).
 * Chunks are relayed as received: nothing is re-encoded.
 */
import { type CodeEntry, Codes } from '../protocol/codes.js';
import { Channel, encodeFrame, Role, u64 } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import { TransferGuard } from '../tools/file-transfer.js';
import type { Participant } from './participant.js';
import type { Seat } from './seat.js';
import { Relation, type Session } from './session.js';
import type { RelayCount, StreamFail, ToolRelayOptions } from './shells.js';

/** One transfer of the session, as the report lists it. */
export interface FileTransferEntry {
  readonly id: number;
  /** `to-customer` (upload) or `from-customer` (download). */
  readonly direction: 'to-customer' | 'from-customer';
  readonly technician: string;
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
  readonly startedAt: string;
  endedAt: string | null;
  /** Highest offset the receiver acknowledged. */
  bytesAcked: number;
  status: 'active' | 'done' | 'cancelled' | 'incomplete';
  /** Why it was cancelled (a FERRY_ERR_* code), or ''. */
  code: string;
}

/** A transfer (or a download request the customer has not answered yet) of a session. */
export interface TransferState {
  readonly id: number;
  /** Technician -> customer. */
  readonly upload: boolean;
  readonly technician: Seat;
  /** Null while a download request waits for the customer's offer. */
  guard: TransferGuard | null;
  sha256: string;
  entry: FileTransferEntry | null;
}

/** Open transfers and requests per session. */
export const MAX_TRANSFERS = 32;
/** Transfers one session may start in all (bounds the report). */
export const MAX_TRANSFERS_EVER = 1000;
const MAX_NAME = 255;
const MAX_PATH = 4096;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function fileFrame(id: number, file: ferry.v1.FileMessage.$Properties): Uint8Array {
  return encodeFrame({ channel: Channel.CHANNEL_FILE, stream: id, file });
}

/** A base name: no directories, no control characters, bounded; '' when nothing is left. */
export function cleanFileName(raw: string | null | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const name = base
    .replace(/\p{Cc}/gu, '')
    .trim()
    .slice(0, MAX_NAME);
  return name === '.' || name === '..' ? '' : name;
}

export class FileRelay {
  readonly #limit: () => number;
  readonly #now: () => number;
  readonly #fail: StreamFail;
  readonly #count: RelayCount | null;

  constructor(options: ToolRelayOptions) {
    const config = options.config;
    this.#limit = () => config.fileTransferMaxBytes;
    this.#now = options.now;
    this.#fail = options.fail;
    this.#count = options.count ?? null;
  }

  /** A FILE frame from `p` in `session`, whose FILE grant the router has checked. */
  onMessage(
    p: Participant,
    id: number,
    msg: ferry.v1.FileMessage,
    bytes: Uint8Array,
    session: Session,
  ): void {
    const technician = p.role === Role.ROLE_TECHNICIAN;
    let seat: Seat | null;
    if (technician) {
      seat = session.seatOf(p);
      const relation = seat === null ? Relation.NONE : session.relationOf(seat);
      if (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR) {
        this.#refuse(p, Codes.NOT_IN_SESSION, 'only the owner or a collaborator sends files', id);
        return;
      }
    } else {
      seat = session.customerSeat;
      if (seat === null || seat.conn !== p) {
        this.#refuse(p, Codes.NOT_IN_SESSION, 'the customer is in no live session', id);
        return;
      }
    }
    const t = session.transfers.get(id);
    if (msg.kind === 'request' || (msg.kind === 'offer' && technician && t === undefined)) {
      if (!technician) {
        this.#refuse(p, Codes.WRONG_ROLE, 'only technicians request files', id);
        return;
      }
      this.#start(p, seat!, msg, id, session);
      return;
    }
    // the transfer's parties only; anyone else hears of no such transfer
    if (t === undefined || (technician && t.technician !== seat)) {
      this.#refuse(p, Codes.FILE_UNKNOWN, `no open transfer ${id}`, id);
      return;
    }
    const sender = t.upload === technician;
    const other = technician ? session.customerSeat : t.technician;
    if (msg.kind === 'cancel') {
      this.#cancel(session, t, msg.cancel as ferry.v1.FileCancel, p.name, bytes, other);
      return;
    }
    if (msg.kind === 'offer') {
      this.#offer(p, t, msg.offer as ferry.v1.FileOffer, sender, bytes, session);
      return;
    }
    // as INPUT: nothing more goes to or comes from the customer's machine while the session is
    // not live (on hold, transferred, back in the queue); a cancel still ends the transfer
    if (!session.flowing) {
      this.#refuse(p, Codes.WRONG_STATE, `no transfers while the session is ${session.status}`, id);
      return;
    }
    const guard = t.guard;
    const entry = t.entry;
    const fromSender = msg.kind === 'chunk';
    if (guard === null || entry === null || fromSender !== sender || other === null) {
      this.#refuse(p, Codes.FILE_UNKNOWN, `transfer ${id} takes no ${msg.kind} from you now`, id);
      return;
    }
    switch (msg.kind) {
      case 'chunk': {
        const chunk = msg.chunk as ferry.v1.FileChunk;
        const code = guard.onChunk(u64(chunk.offset), chunk.data.length);
        if (code !== null) {
          this.#refuse(
            p,
            Codes.FILE_BEYOND_SIZE,
            `chunk ${u64(chunk.offset)}+${chunk.data.length} of ${guard.size}`,
            id,
          );
          return;
        }
        session.deliver(other, bytes);
        this.#counted(session, bytes.length);
        return;
      }
      case 'accept':
      case 'ack': {
        const offset = u64(msg.accept?.offset ?? msg.ack?.offset);
        if (offset > guard.size) {
          this.#refuse(p, Codes.INVALID_ARGUMENT, `offset ${offset} past ${guard.size}`, id);
          return;
        }
        // an accept says as much as an ack: the receiver has every byte before it (a resume)
        if (offset > entry.bytesAcked) entry.bytesAcked = offset;
        session.deliver(other, bytes);
        return;
      }
      case 'done': {
        const done = msg.done as ferry.v1.FileDone;
        if (done.sha256 !== t.sha256 || entry.bytesAcked !== guard.size) {
          this.#refuse(
            p,
            Codes.FILE_DIGEST_MISMATCH,
            'FileDone must name the offered digest after every byte was acknowledged',
            id,
          );
          return;
        }
        const now = this.#now();
        session.transfers.delete(id);
        entry.status = 'done';
        entry.endedAt = new Date(now).toISOString();
        const what = t.upload ? 'sent to the customer' : 'received from the customer';
        session.log.event(
          'file',
          t.technician.name,
          `file ${id} "${entry.name}" (${entry.size} bytes, sha256 ${entry.sha256.slice(0, 16)}) ${what}`,
          now,
        );
        session.deliver(other, bytes);
        return;
      }
      default:
        this.#refuse(p, Codes.WRONG_ROLE, `no such file message ${msg.kind}`, id);
    }
  }

  #refuse(p: Participant, entry: CodeEntry, message: string, id: number): void {
    this.#fail(p, entry, message, Channel.CHANNEL_FILE, id);
  }

  /** A technician's upload offer or download request opens transfer `id`. */
  #start(
    p: Participant,
    seat: Seat,
    msg: ferry.v1.FileMessage,
    id: number,
    session: Session,
  ): void {
    if (session.transfers.has(id)) {
      this.#refuse(p, Codes.INVALID_ARGUMENT, `file id ${id} is in use`, id);
      return;
    }
    if (session.transfers.size >= MAX_TRANSFERS) {
      this.#refuse(p, Codes.INVALID_ARGUMENT, `at most ${MAX_TRANSFERS} open transfers`, id);
      return;
    }
    if (session.fileTransfers.length >= MAX_TRANSFERS_EVER) {
      this.#refuse(
        p,
        Codes.INVALID_ARGUMENT,
        `this session had ${MAX_TRANSFERS_EVER} transfers`,
        id,
      );
      return;
    }
    if (!session.flowing) {
      this.#refuse(p, Codes.WRONG_STATE, `no transfers while the session is ${session.status}`, id);
      return;
    }
    const customer = session.customerSeat;
    if (customer === null || customer.conn === null) {
      this.#refuse(p, Codes.WRONG_STATE, 'the customer is not connected', id);
      return;
    }
    const now = this.#now();
    if (msg.kind === 'request') {
      const where = (msg.request?.path ?? '').replace(/\p{Cc}/gu, '');
      if (where === '' || where.length > MAX_PATH) {
        this.#refuse(p, Codes.INVALID_ARGUMENT, `a path of 1 to ${MAX_PATH} characters`, id);
        return;
      }
      session.transfers.set(id, {
        id,
        upload: false,
        technician: seat,
        guard: null,
        sha256: '',
        entry: null,
      });
      session.log.event('file', seat.name, `${seat.name} asked for file ${id} "${where}"`, now);
      session.deliver(customer, fileFrame(id, { request: { path: where, by: seat.name } }));
      return;
    }
    const offer = msg.offer as ferry.v1.FileOffer;
    const t: TransferState = {
      id,
      upload: true,
      technician: seat,
      guard: null,
      sha256: '',
      entry: null,
    };
    const refused = this.#accept(p, session, t, offer, now);
    if (refused !== null) {
      this.#refuse(p, refused.entry, refused.message, id);
      return;
    }
    session.transfers.set(id, t);
    session.deliver(customer, this.#relayedOffer(id, t, seat.name));
  }

  /**
   * Checks an offer and fills in `t` (guard, digest, report entry, log); the refusal when it may
   * not go ahead.
   */
  #accept(
    p: Participant,
    session: Session,
    t: TransferState,
    offer: ferry.v1.FileOffer,
    now: number,
  ): { entry: CodeEntry; message: string } | null {
    const size = u64(offer.size);
    const limit = this.#limit();
    const guard = new TransferGuard(size, limit);
    const code = guard.checkOffer();
    if (code === Codes.FILE_TOO_LARGE.code) {
      return { entry: Codes.FILE_TOO_LARGE, message: `${size} bytes (limit ${limit})` };
    }
    if (code !== null) return { entry: Codes.FILE_SIZE_INVALID, message: `${size} bytes` };
    if (!SHA256_HEX.test(offer.sha256)) {
      return { entry: Codes.FILE_DIGEST_INVALID, message: 'sha256: 64 lowercase hex characters' };
    }
    const name = cleanFileName(offer.name);
    if (name === '') return { entry: Codes.INVALID_ARGUMENT, message: 'a file name is needed' };
    t.guard = guard;
    t.sha256 = offer.sha256;
    t.entry = {
      id: t.id,
      direction: t.upload ? 'to-customer' : 'from-customer',
      technician: t.technician.name,
      name,
      size,
      sha256: offer.sha256,
      startedAt: new Date(now).toISOString(),
      endedAt: null,
      bytesAcked: 0,
      status: 'active',
      code: '',
    };
    session.fileTransfers.push(t.entry);
    const what = t.upload
      ? `${t.technician.name} sends file ${t.id} "${name}" (${size} bytes) to the customer`
      : `the customer sends file ${t.id} "${name}" (${size} bytes) to ${t.technician.name}`;
    session.log.event('file', p.name, what, now);
    return null;
  }

  #relayedOffer(id: number, t: TransferState, by: string): Uint8Array {
    const entry = t.entry!;
    return fileFrame(id, { offer: { name: entry.name, size: entry.size, sha256: t.sha256, by } });
  }

  /** An offer for a known id: the customer's answer to a request, or a sender's resume. */
  #offer(
    p: Participant,
    t: TransferState,
    offer: ferry.v1.FileOffer,
    sender: boolean,
    bytes: Uint8Array,
    session: Session,
  ): void {
    const to = t.upload ? session.customerSeat : t.technician;
    if (!sender || to === null) {
      this.#refuse(p, Codes.FILE_UNKNOWN, `transfer ${t.id} takes no offer from you`, t.id);
      return;
    }
    if (t.guard === null) {
      // the customer answers a download request
      const refused = this.#accept(p, session, t, offer, this.#now());
      if (refused !== null) {
        // both sides learn why: the customer as a refusal, the technician as a cancel
        session.transfers.delete(t.id);
        this.#refuse(p, refused.entry, refused.message, t.id);
        const cancel = { code: refused.entry.code, message: refused.message };
        session.deliver(t.technician, fileFrame(t.id, { cancel }));
        return;
      }
      session.deliver(to, this.#relayedOffer(t.id, t, p.name));
      return;
    }
    if (u64(offer.size) !== t.guard.size || offer.sha256 !== t.sha256) {
      this.#refuse(p, Codes.INVALID_ARGUMENT, `transfer ${t.id} was offered otherwise`, t.id);
      return;
    }
    session.deliver(to, bytes);
  }

  #cancel(
    session: Session,
    t: TransferState,
    cancel: ferry.v1.FileCancel,
    actor: string,
    bytes: Uint8Array,
    other: Seat | null,
  ): void {
    const now = this.#now();
    session.transfers.delete(t.id);
    const code = (cancel.code ?? '').replace(/[^A-Z0-9_]/g, '').slice(0, 64);
    if (t.entry !== null) {
      t.entry.status = 'cancelled';
      t.entry.code = code;
      t.entry.endedAt = new Date(now).toISOString();
    }
    const name = t.entry === null ? '' : ` "${t.entry.name}"`;
    session.log.event(
      'file',
      actor,
      `file ${t.id}${name} cancelled by ${actor}${code ? ` (${code})` : ''}`,
      now,
    );
    if (other !== null) session.deliver(other, bytes);
  }

  #counted(session: Session, length: number): void {
    session.relayedFrames[Channel.CHANNEL_FILE]!++;
    session.relayedBytes[Channel.CHANNEL_FILE]! += length;
    this.#count?.(session, Channel.CHANNEL_FILE, length);
  }

  /** The customer revoked FILE: every transfer and request ends, both sides are told. */
  revoked(session: Session, actor: string): void {
    if (session.openTransfers === 0) return;
    const now = this.#now();
    const cancel = {
      code: Codes.NOT_GRANTED.code,
      message: 'the customer revoked the file permission',
    };
    for (const t of [...session.transfers.values()]) {
      session.transfers.delete(t.id);
      if (t.entry !== null) {
        t.entry.status = 'cancelled';
        t.entry.code = Codes.NOT_GRANTED.code;
        t.entry.endedAt = new Date(now).toISOString();
      }
      const frame = fileFrame(t.id, { cancel });
      session.deliver(t.technician, frame);
      if (session.customerSeat !== null) session.deliver(session.customerSeat, frame);
    }
    session.log.event('file', actor, 'file transfers cancelled: permission revoked', now);
  }

  /**
   * `seat` has no part in the session any more (spec A2.3): its transfers and download requests
   * end now (FileCancel to the customer), so no more of the customer's files reach it.
   */
  left(session: Session, seat: Seat, actor: string): void {
    if (session.openTransfers === 0) return;
    const now = this.#now();
    const cancel = { code: Codes.NOT_IN_SESSION.code, message: `${seat.name} left the session` };
    for (const t of [...session.transfers.values()]) {
      if (t.technician !== seat) continue;
      session.transfers.delete(t.id);
      if (t.entry !== null) {
        t.entry.status = 'cancelled';
        t.entry.code = Codes.NOT_IN_SESSION.code;
        t.entry.endedAt = new Date(now).toISOString();
      }
      if (session.customerSeat !== null) {
        session.deliver(session.customerSeat, fileFrame(t.id, { cancel }));
      }
      session.log.event('file', actor, `file ${t.id} cancelled: ${seat.name} left`, now);
    }
  }

  /** The session ends: unfinished transfers are reported incomplete. */
  ended(session: Session): void {
    // most sessions transfer nothing: no map is made and no date formatted for them
    if (session.openTransfers === 0) return;
    const at = new Date(session.endedAtMs || this.#now()).toISOString();
    for (const t of session.transfers.values()) {
      if (t.entry !== null && t.entry.status === 'active') {
        t.entry.status = 'incomplete';
        t.entry.endedAt = at;
      }
    }
    session.transfers.clear();
  }
}
