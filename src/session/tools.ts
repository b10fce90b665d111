/**
 * The session tools of docs/spec/session-tools.md B, C, D and F, as session operations: consent
 * (request, answer, revoke), control hand-over, the chat history, the screen tools (sharing,
 * monitors, quality), SYSINFO request routing, the summary, the notes and the technicians'
 * pictures. Each operation checks who asks (role, place in the session, grant, permission) and
 * answers with a coded `Refusal` or does the change; nothing here throws on client input.
 *
 * Rules kept here (the gateway enforces them; a client hiding a button is never the check):
 * - only the customer grants and revokes; every grant, denial and revocation is logged (B7) and
 *   announced to every participant (ConsentChanged); revocation takes effect before the next
 *   frame is routed, because the relay reads `Session.grants` per frame;
 * - a technician asks only in a session it works (owner or collaborator); the answer goes back
 *   to the technician who asked (consent_result), SYSINFO answers likewise (by ticket);
 * - system information also needs the technician's `sysinfo` permission (its token, or the gateway's defaults), on every
 *   request and to ask for the grant (D1);
 * - control moves only by the owner or the technician holding it (HandOverControl);
 * - notes and technicians-only events never reach the customer; notes are accepted for an
 *   ended session from technicians who were on it, and land in its report.
 */
import { Codes, type Refusal, refuse } from '../protocol/codes.js';
import {
  Channel,
  controlFrame,
  encodeFrame,
  errorFrame,
  eventFrame,
  pb,
  Role,
} from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import { AvatarStore } from './avatars.js';
import {
  afterRevoke,
  describe,
  GRANT_SYSINFO,
  GRANT_VIEW,
  Permission,
  permissionName,
  RESERVED,
  toList,
  toMask,
  withImplied,
} from './consent.js';
import type { Participant } from './participant.js';
import { type SessionReport, withNote } from './report.js';
import type { Seat } from './seat.js';
import {
  MAX_NOTES,
  type MonitorRecord,
  type NoteRecord,
  Relation,
  type Session,
} from './session.js';
import { buildSummary, type SummaryData } from './summary.js';
import type { SessionToolsHost as SessionRegistry } from './types.js';

export const MAX_NOTE_LENGTH = 4096;
export const MAX_MONITORS = 16;
export const MAX_CATEGORIES = 32;
const MAX_CATEGORY_LENGTH = 64;
const MAX_REASON_LENGTH = 256;
const MAX_MONITOR_NAME = 64;
const MAX_FPS = 120;
const MAX_TILE_BYTES = 1024 * 1024;

interface Working {
  readonly ok: true;
  readonly session: Session;
  readonly seat: Seat;
}

/** Printable, bounded text: control characters become spaces (newlines kept for notes). */
function clean(raw: string | null | undefined, max: number, keepNewlines = false): string {
  const pattern = keepNewlines ? /[^\P{Cc}\n]/gu : /\p{Cc}/gu;
  return (raw ?? '').replace(pattern, ' ').trim().slice(0, max);
}

export class SessionTools {
  readonly #registry: SessionRegistry;
  /** Technicians' pictures (B2). */
  readonly avatars = new AvatarStore();

  constructor(registry: SessionRegistry) {
    this.#registry = registry;
  }

  // -------------------------------------------------------------------------------------------
  // Who asks

  /** The owner or a collaborator of the session named (or of the connection's session). */
  #working(p: Participant, sessionId: string): Working | Refusal {
    const id = sessionId || p.session?.id || '';
    const session = this.#registry.get(id);
    if (session === undefined) return refuse(Codes.SESSION_NOT_FOUND, `no session ${id}`);
    const seat = this.#registry.seatOf(p);
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR) {
      return refuse(Codes.NOT_IN_SESSION, 'only the owner or a collaborator of the session may');
    }
    return { ok: true, session, seat };
  }

  /** The customer's own session. */
  #customer(p: Participant): Working | Refusal {
    if (p.role !== Role.ROLE_CUSTOMER) {
      return refuse(Codes.WRONG_ROLE, 'only the customer may do this');
    }
    const session = p.session;
    const seat = this.#registry.placeOf(p);
    if (session === null || session.ended || seat === undefined || session.customerSeat !== seat) {
      return refuse(Codes.NOT_IN_SESSION, 'the customer is in no live session');
    }
    return { ok: true, session, seat };
  }

  /** Owner, collaborator or customer: anyone who works the session. */
  #participant(p: Participant, sessionId: string): Working | Refusal {
    return p.role === Role.ROLE_CUSTOMER ? this.#customer(p) : this.#working(p, sessionId);
  }

  /** Technicians who receive what concerns the session, and the customer unless `technicians`. */
  #audience(session: Session, technicians = false): Seat[] {
    const seats = session.technicianSeats();
    if (!technicians && session.customerSeat !== null) seats.push(session.customerSeat);
    return seats;
  }

  /**
   * spec B4: a technician who joins later (collaborator, transfer target) gets the whole log,
   * then the state the others already know: grants, who controls, the customer's monitors.
   */
  brief(session: Session, seat: Seat): void {
    session.deliver(seat, controlFrame({ chatHistory: session.chatHistory(true) }));
    session.deliver(
      seat,
      eventFrame({
        consentChanged: { sessionId: session.id, granted: session.grantedList(), actor: '' },
      }),
    );
    const controller = session.controllerSeat;
    if (controller !== null) {
      session.deliver(
        seat,
        eventFrame({
          controlChanged: {
            sessionId: session.id,
            participantId: controller.participantId,
            displayName: controller.name,
            actor: '',
          },
        }),
      );
    }
    if (session.monitors.length > 0) {
      session.deliver(seat, controlFrame({ monitorList: this.#monitorList(session) }));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Avatars (B2)

  /** A technician's picture: kept by the gateway, its ref goes into the profiles from now on. */
  setAvatar(
    p: Participant,
    op: ferry.v1.SetAvatar.$Properties,
  ): ferry.v1.Avatar.$Properties | Refusal {
    if (p.role !== Role.ROLE_TECHNICIAN) {
      return refuse(Codes.WRONG_ROLE, 'only technicians set a picture');
    }
    const mimeType = op.mimeType ?? '';
    const ref = this.avatars.put(p.name, op.image ?? new Uint8Array(0), mimeType);
    if (typeof ref !== 'string') return refuse(Codes.INVALID_ARGUMENT, ref.refused);
    const seat = this.#registry.seatOf(p);
    seat.client = { version: '', platform: '', ...seat.client, avatarRef: ref };
    // a customer who met this technician with its former picture meets it again
    for (const session of seat.sessions) session.profiled.delete(seat);
    return { avatarRef: ref, mimeType };
  }

  /** The picture behind a ref: a customer gets only those of its session's technicians. */
  avatar(
    p: Participant,
    op: ferry.v1.AvatarRequest.$Properties,
  ): ferry.v1.Avatar.$Properties | Refusal {
    const ref = op.avatarRef ?? '';
    if (p.role === Role.ROLE_CUSTOMER) {
      const found = this.#customer(p);
      if ('entry' in found) return found;
      if (!found.session.technicianSeats().some((s) => s.client?.avatarRef === ref)) {
        return refuse(Codes.NOT_IN_SESSION, 'no technician of your session shows this picture');
      }
    }
    const stored = this.avatars.get(ref);
    if (stored === undefined) {
      return refuse(Codes.INVALID_ARGUMENT, 'the gateway keeps no such picture');
    }
    return { avatarRef: ref, mimeType: stored.mimeType, image: stored.image };
  }

  // -------------------------------------------------------------------------------------------
  // Consent (C1, C2, D1)

  /** A technician asks; the customer is asked (ConsentRequest with the gateway's consent id). */
  requestConsent(
    p: Participant,
    op: ferry.v1.ConsentRequest.$Properties,
    requestId: number,
  ): Session | Refusal {
    const found = this.#working(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    const { session, seat } = found;
    const { mask, unavailable } = toMask(op.permissions ?? []);
    if (unavailable !== -1) return unavailableRefusal(unavailable);
    if (mask === 0) return refuse(Codes.PERMISSION_UNAVAILABLE, 'ask for at least one permission');
    // D1: a technician who may not read system information may not ask the customer for it
    if ((mask & GRANT_SYSINFO) !== 0 && !seat.permissions.has('sysinfo')) {
      return refuse(Codes.PERMISSION_DENIED, 'you lack the sysinfo permission');
    }
    const customer = session.customerSeat;
    if (customer === null || customer.conn === null) {
      return refuse(Codes.WRONG_STATE, 'no customer is connected to ask');
    }
    if (session.terminal || session.status === 'CLOSED' || session.status === 'TIMED_OUT') {
      return refuse(Codes.WRONG_STATE, `no consent can be asked while ${session.status}`);
    }
    const consentId = session.nextRequestId();
    session.pending.add(consentId, { kind: 'consent', seat, requestId, mask });
    const reason = clean(op.reason, MAX_REASON_LENGTH);
    session.log.event('consent', seat.name, `${seat.name} asked for ${describe(mask)}`);
    session.deliver(
      customer,
      controlFrame({
        consentRequest: {
          sessionId: session.id,
          permissions: toList(mask),
          reason,
          consentId,
          requestedBy: seat.name,
          requesterId: seat.participantId,
        },
      }),
    );
    return session;
  }

  /** The customer answers a request (or, with consent id 0, offers permissions by itself). */
  answerConsent(p: Participant, op: ferry.v1.ConsentResponse.$Properties): Session | Refusal {
    const found = this.#customer(p);
    if ('entry' in found) return found;
    const { session, seat } = found;
    const { mask: given, unavailable } = toMask(op.granted ?? []);
    if (unavailable !== -1) return unavailableRefusal(unavailable);
    const consentId = op.consentId ?? 0;
    const pending = consentId === 0 ? null : session.pending.take(consentId, 'consent');
    if (consentId !== 0 && pending === null) {
      return refuse(Codes.UNKNOWN_REQUEST, `no consent request ${consentId} is waiting`);
    }
    const granted = withImplied(given);
    const added = granted & ~session.grants;
    const denied = pending === null ? 0 : (pending.mask ?? 0) & ~granted;
    session.grants |= granted;
    if (added !== 0) session.directs?.changed(session);
    const to = pending === null ? '' : ` (asked by ${pending.seat.name})`;
    if (added !== 0) session.log.event('consent', seat.name, `granted ${describe(added)}${to}`);
    if (denied !== 0) session.log.event('consent', seat.name, `denied ${describe(denied)}${to}`);
    session.logger.info({ granted: describe(session.grants), denied }, 'consent answered');
    const changed: ferry.v1.ConsentChanged.$Properties = {
      sessionId: session.id,
      granted: session.grantedList(),
      added: toList(added),
      denied: toList(denied),
      actor: seat.name,
      consentId,
      requestedBy: pending?.seat.name ?? '',
    };
    const audience = this.#audience(session);
    session.acknowledge(() => {
      session.broadcast(eventFrame({ consentChanged: changed }), audience);
      // only to an asker that still works the session (not one removed or gone since it asked)
      if (pending !== null && pending.requestId !== 0) {
        session.answer(
          pending,
          controlFrame({ requestId: pending.requestId, consentResult: changed }),
        );
      }
    });
    return session;
  }

  /**
   * SYSINFO revoked while requests wait: the customer's late answers will be refused, so each
   * asker hears it now (Error naming its request id) instead of waiting for its timeout.
   */
  #refusePendingSysinfo(session: Session): void {
    for (const pending of session.pending.takeAll('sysinfo')) {
      session.answer(
        pending,
        errorFrame(
          Codes.NOT_GRANTED,
          'the customer revoked system information before answering',
          pending.requestId,
          Channel.CHANNEL_SYSINFO,
        ),
      );
    }
  }

  /** The customer takes permissions back (none named: all); relaying stops at once. */
  revokeConsent(p: Participant, op: ferry.v1.RevokeConsent.$Properties): Session | Refusal {
    const found = this.#customer(p);
    if ('entry' in found) return found;
    const { session, seat } = found;
    const named = op.permissions ?? [];
    const { mask, unavailable } = toMask(named);
    if (unavailable !== -1) return unavailableRefusal(unavailable);
    const before = session.grants;
    // the next frame routed reads the new mask: nothing more of a revoked channel is relayed
    session.grants = afterRevoke(before, named.length === 0 ? before : mask);
    const removed = before & ~session.grants;
    if (removed === 0) return session;
    session.changedAtMs = this.#registry.now();
    session.changedBy = seat.name;
    session.log.event('consent', seat.name, `revoked ${describe(removed)}`);
    if ((removed & GRANT_SYSINFO) !== 0) this.#refusePendingSysinfo(session);
    this.#registry.listeners.revoked(session, removed, seat.name);
    if ((removed & GRANT_VIEW) !== 0 && session.screenSharing) {
      session.screenSharing = false;
      session.log.event('screen', seat.name, 'screen sharing stopped: view revoked');
    }
    const changed: ferry.v1.ConsentChanged.$Properties = {
      sessionId: session.id,
      granted: session.grantedList(),
      removed: toList(removed),
      actor: seat.name,
    };
    const audience = this.#audience(session);
    session.acknowledge(() => session.broadcast(eventFrame({ consentChanged: changed }), audience));
    return session;
  }

  /** The owner, or the technician holding control, gives control to a technician of the session. */
  handOverControl(
    p: Participant,
    op: ferry.v1.HandOverControl.$Properties,
    nowMs: number,
  ): Session | Refusal {
    const found = this.#working(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    const { session, seat } = found;
    if (seat !== session.owner && seat !== session.controllerSeat) {
      return refuse(
        Codes.NOT_OWNER,
        'only the owner or the technician holding control may hand control over',
      );
    }
    const who = op.technician ?? '';
    let to: Seat | null = null;
    for (const s of session.technicianSeats()) {
      if (s.name === who || s.participantId === who) to = s;
    }
    if (to === null) {
      return refuse(
        Codes.TECHNICIAN_NOT_FOUND,
        `no technician '${who}' works this session (invite first)`,
      );
    }
    session.setController(to, seat.name, nowMs);
    return session;
  }

  // -------------------------------------------------------------------------------------------
  // Chat history (B4)

  /** The log as the asker may see it: the customer's excludes technicians-only entries. */
  chatHistory(
    p: Participant,
    op: ferry.v1.ChatHistoryRequest.$Properties,
  ): ferry.v1.ChatHistory.$Properties | Refusal {
    const found = this.#participant(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    return found.session.chatHistory(p.role === Role.ROLE_TECHNICIAN, Number(op.afterSeq ?? 0));
  }

  // -------------------------------------------------------------------------------------------
  // Screen tools (C4.1, C4.8, C4.9)

  /** Either side starts sharing (needs VIEW); the other side is told. */
  startSharing(p: Participant, op: ferry.v1.ScreenShareStart.$Properties): Session | Refusal {
    const found = this.#participant(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    const { session, seat } = found;
    if ((session.grants & GRANT_VIEW) === 0) {
      return refuse(Codes.NOT_GRANTED, 'the customer has not granted screen view');
    }
    if (session.screenSharing) return session;
    session.screenSharing = true;
    session.log.event('screen', seat.name, `${seat.name} started screen sharing`);
    const frame = controlFrame({ screenShareStart: { sessionId: session.id, by: seat.name } });
    session.broadcast(frame, this.#audience(session), seat);
    return session;
  }

  /** Either side stops sharing; the other side is told. */
  stopSharing(p: Participant, op: ferry.v1.ScreenShareStop.$Properties): Session | Refusal {
    const found = this.#participant(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    const { session, seat } = found;
    if (!session.screenSharing) return session;
    session.screenSharing = false;
    const reason = clean(op.reason, MAX_REASON_LENGTH);
    session.log.event(
      'screen',
      seat.name,
      `${seat.name} stopped screen sharing${reason ? `: ${reason}` : ''}`,
    );
    const frame = controlFrame({
      screenShareStop: { sessionId: session.id, reason, by: seat.name },
    });
    session.broadcast(frame, this.#audience(session), seat);
    return session;
  }

  #monitorList(session: Session): ferry.v1.MonitorList.$Properties {
    return {
      monitors: session.monitors.map((m) => ({ ...m })),
      selected: Math.max(0, session.selectedMonitor),
      all: session.selectedMonitor < 0,
    };
  }

  /** The customer reports its monitors; kept for the summary and joiners, sent to technicians. */
  reportMonitors(p: Participant, op: ferry.v1.MonitorList.$Properties): Session | Refusal {
    const found = this.#customer(p);
    if ('entry' in found) return found;
    const { session } = found;
    const list = op.monitors ?? [];
    if (list.length > MAX_MONITORS) {
      return refuse(Codes.INVALID_ARGUMENT, `at most ${MAX_MONITORS} monitors`);
    }
    const monitors: MonitorRecord[] = list.map((m) => ({
      id: m.id ?? 0,
      x: m.x ?? 0,
      y: m.y ?? 0,
      width: m.width ?? 0,
      height: m.height ?? 0,
      primary: m.primary === true,
      name: clean(m.name, MAX_MONITOR_NAME),
      ...(m.captureSource ? { captureSource: clean(m.captureSource, MAX_MONITOR_NAME) } : {}),
    }));
    session.monitors = monitors;
    session.selectedMonitor = op.all === true ? -1 : (op.selected ?? 0);
    const frame = controlFrame({ monitorList: this.#monitorList(session) });
    session.broadcast(frame, session.technicianSeats());
    return session;
  }

  /** A technician picks the monitor to see (needs VIEW); the customer switches capture. */
  selectMonitor(p: Participant, op: ferry.v1.SelectMonitor.$Properties): Session | Refusal {
    const found = this.#working(p, '');
    if ('entry' in found) return found;
    const { session, seat } = found;
    if ((session.grants & GRANT_VIEW) === 0) {
      return refuse(Codes.NOT_GRANTED, 'the customer has not granted screen view');
    }
    const all = op.all === true;
    const monitor = op.monitor ?? 0;
    if (!all && session.monitors.length > 0 && !session.monitors.some((m) => m.id === monitor)) {
      return refuse(Codes.INVALID_ARGUMENT, `the customer has no monitor ${monitor}`);
    }
    session.selectedMonitor = all ? -1 : monitor;
    const which = all ? 'all monitors' : `monitor ${monitor}`;
    session.log.event('screen', seat.name, `${seat.name} selected ${which}`);
    const frame = controlFrame({ selectMonitor: { monitor, all, by: seat.name } });
    if (session.customerSeat !== null) session.deliver(session.customerSeat, frame);
    return session;
  }

  /** A technician sets the stream quality (needs VIEW); the customer's encoder honours it. */
  setQuality(p: Participant, op: ferry.v1.SetStreamQuality.$Properties): Session | Refusal {
    const found = this.#working(p, '');
    if ('entry' in found) return found;
    const { session, seat } = found;
    if ((session.grants & GRANT_VIEW) === 0) {
      return refuse(Codes.NOT_GRANTED, 'the customer has not granted screen view');
    }
    const preset = op.preset ?? 0;
    const maxFps = op.maxFps ?? 0;
    const tileBytes = op.tileBytes ?? 0;
    if (pb.QualityPreset[preset] === undefined || maxFps > MAX_FPS || tileBytes > MAX_TILE_BYTES) {
      return refuse(
        Codes.INVALID_ARGUMENT,
        `a known preset, at most ${MAX_FPS} fps and ${MAX_TILE_BYTES} bytes a tile`,
      );
    }
    const name = (pb.QualityPreset[preset] ?? '').replace('QUALITY_PRESET_', '').toLowerCase();
    const extra = [maxFps ? `${maxFps} fps` : '', tileBytes ? `${tileBytes} B tiles` : '']
      .filter(Boolean)
      .join(', ');
    session.log.event(
      'screen',
      seat.name,
      `${seat.name} set quality ${name}${extra ? ` (${extra})` : ''}`,
    );
    const frame = controlFrame({ setStreamQuality: { preset, maxFps, tileBytes, by: seat.name } });
    if (session.customerSeat !== null) session.deliver(session.customerSeat, frame);
    return session;
  }

  // -------------------------------------------------------------------------------------------
  // System information (D1-D3): the router checked the SYSINFO grant before the decode.

  /** A technician's request goes to the customer with a ticket that routes the answer back. */
  sysinfoRequest(
    p: Participant,
    session: Session,
    request: ferry.v1.SysinfoRequest.$Properties,
  ): Uint8Array | Refusal {
    const seat = this.#registry.seatOf(p);
    const relation = session.relationOf(seat);
    if (relation !== Relation.OWNER && relation !== Relation.COLLABORATOR) {
      return refuse(Codes.NOT_IN_SESSION, 'only the owner or a collaborator may ask');
    }
    // D1: the operator's permission, checked on every request (the grant is the customer's)
    if (!seat.permissions.has('sysinfo')) {
      return refuse(Codes.PERMISSION_DENIED, 'you lack the sysinfo permission');
    }
    // like INPUT: nothing is read from the customer's machine while the session is on hold,
    // offered to another technician or back in the queue
    if (!session.flowing) {
      return refuse(
        Codes.WRONG_STATE,
        `${session.statusName()}: system information needs a live session`,
      );
    }
    const customer = session.customerSeat;
    if (customer === null || customer.conn === null) {
      return refuse(Codes.WRONG_STATE, 'the customer is not connected');
    }
    const categories = request.categories ?? [];
    if (
      categories.length > MAX_CATEGORIES ||
      categories.some((c) => c.length > MAX_CATEGORY_LENGTH)
    ) {
      return refuse(
        Codes.INVALID_ARGUMENT,
        `at most ${MAX_CATEGORIES} categories of ${MAX_CATEGORY_LENGTH} characters`,
      );
    }
    const ticket = session.nextRequestId();
    session.pending.add(ticket, { kind: 'sysinfo', seat, requestId: request.requestId ?? 0 });
    const names = categories.map((c) => clean(c, MAX_CATEGORY_LENGTH));
    const refresh = request.refresh === true;
    session.log.event(
      'sysinfo',
      seat.name,
      `${seat.name} ${refresh ? 'refreshed' : 'viewed'} system information: ${names.length > 0 ? names.join(', ') : 'all'}`,
    );
    const frame = encodeFrame({
      channel: Channel.CHANNEL_SYSINFO,
      sysinfoRequest: {
        requestId: request.requestId ?? 0,
        categories: names,
        refresh,
        ticket,
        requestedBy: seat.name,
      },
    });
    session.deliver(customer, frame);
    return frame;
  }

  /** The customer's answer goes to the technician who asked, as sent. */
  sysinfoResponse(
    p: Participant,
    session: Session,
    response: ferry.v1.SysinfoResponse.$Properties,
    bytes: Uint8Array,
  ): Seat | Refusal {
    const ticket = response.ticket ?? 0;
    if (session.customerSeat !== this.#registry.placeOf(p)) {
      return refuse(Codes.UNKNOWN_REQUEST, `no system information request ${ticket} is waiting`);
    }
    const pending = session.pending.take(ticket, 'sysinfo');
    if (pending === null) {
      return refuse(Codes.UNKNOWN_REQUEST, `no system information request ${ticket} is waiting`);
    }
    session.answer(pending, bytes);
    return pending.seat;
  }

  // -------------------------------------------------------------------------------------------
  // Summary and notes (F1, F4-F6)

  /**
   * A technician who is or was on the session: the live session, or the ended one's report.
   * Technicians are known by name (their token's subject).
   */
  #onRecord(
    p: Participant,
    sessionId: string,
  ): { ok: true; session: Session | null; report: SessionReport | null } | Refusal {
    if (p.role !== Role.ROLE_TECHNICIAN) {
      return refuse(Codes.WRONG_ROLE, 'only technicians see summaries and notes');
    }
    const id = sessionId || p.session?.id || '';
    const session = this.#registry.get(id) ?? null;
    const report = session === null ? (this.#registry.reports.get(id) ?? null) : null;
    if (session === null && report === null) {
      return refuse(Codes.SESSION_NOT_FOUND, `no session or report ${id}`);
    }
    const participants = session?.participants ?? report!.participants;
    const was = participants.some((r) => r.role === 'technician' && r.name === p.name);
    const relation =
      session === null ? Relation.NONE : session.relationOf(this.#registry.seatOf(p));
    const now =
      relation === Relation.OWNER ||
      relation === Relation.COLLABORATOR ||
      relation === Relation.TRANSFER_TARGET;
    if (!was && !now) {
      return refuse(Codes.NOT_IN_SESSION, 'only technicians who are or were on the session');
    }
    return { ok: true, session, report };
  }

  summary(
    p: Participant,
    op: ferry.v1.SummaryRequest.$Properties,
  ): ferry.v1.SessionSummary.$Properties | Refusal {
    const found = this.#onRecord(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    const { session, report } = found;
    if (session !== null) {
      return summaryToWire(session.id, buildSummary(session), {
        status: session.status,
        createdMs: session.createdAtMs,
        granted: session.grantedList(),
        monitors: session.monitors,
        ended: false,
      });
    }
    const r = report!;
    return summaryToWire(r.id, r.summary, {
      status: r.status,
      createdMs: Date.parse(r.createdAt),
      granted: [],
      monitors: [],
      ended: true,
    });
  }

  /** Adds a note (live or ended session); resolves with every note of the session. */
  addNote(
    p: Participant,
    op: ferry.v1.AddNote.$Properties,
    nowMs: number,
  ): ferry.v1.Notes.$Properties | Refusal {
    const found = this.#onRecord(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    const text = clean(op.text, MAX_NOTE_LENGTH + 1, true);
    if (text.length === 0 || text.length > MAX_NOTE_LENGTH) {
      return refuse(Codes.INVALID_ARGUMENT, `a note has 1 to ${MAX_NOTE_LENGTH} characters`);
    }
    const { session, report } = found;
    const notes = session?.notes ?? report!.notes;
    if (notes.length >= MAX_NOTES) {
      return refuse(Codes.INVALID_ARGUMENT, `a session keeps at most ${MAX_NOTES} notes`);
    }
    const note: NoteRecord = { id: notes.length + 1, author: p.name, text, timeMs: nowMs };
    if (session !== null) {
      session.notes.push(note);
      session.log.event('note', p.name, `${p.name} added note ${note.id}`, nowMs);
      const author = this.#registry.seatOf(p);
      const added = eventFrame({ noteAdded: { sessionId: session.id, note: noteToWire(note) } });
      // F5: technicians only, never the customer
      session.broadcast(added, session.technicianSeats(), author);
      return { sessionId: session.id, notes: session.notes.map(noteToWire) };
    }
    const updated = withNote(report!, note);
    this.#registry.rearchive(updated);
    return {
      sessionId: updated.id,
      notes: updated.notes.map((n) => ({
        id: n.id,
        author: n.author,
        text: n.text,
        timeUnixMs: Date.parse(n.at),
      })),
    };
  }

  listNotes(
    p: Participant,
    op: ferry.v1.ListNotes.$Properties,
  ): ferry.v1.Notes.$Properties | Refusal {
    const found = this.#onRecord(p, op.sessionId ?? '');
    if ('entry' in found) return found;
    const { session, report } = found;
    if (session !== null) return { sessionId: session.id, notes: session.notes.map(noteToWire) };
    return {
      sessionId: report!.id,
      notes: report!.notes.map((n) => ({
        id: n.id,
        author: n.author,
        text: n.text,
        timeUnixMs: Date.parse(n.at),
      })),
    };
  }
}

function unavailableRefusal(permission: number): Refusal {
  const reserved = RESERVED.includes(permission);
  return refuse(
    Codes.PERMISSION_UNAVAILABLE,
    reserved
      ? `${permissionName(permission)} is not offered by this gateway yet`
      : `${permission === Permission.PERMISSION_UNSPECIFIED ? 'an unspecified permission' : permissionName(permission)} is not a permission`,
  );
}

function noteToWire(n: NoteRecord): ferry.v1.Note.$Properties {
  return { id: n.id, author: n.author, text: n.text, timeUnixMs: n.timeMs };
}

function summaryToWire(
  sessionId: string,
  s: SummaryData,
  extra: {
    status: string;
    createdMs: number;
    granted: number[];
    monitors: readonly MonitorRecord[];
    ended: boolean;
  },
): ferry.v1.SessionSummary.$Properties {
  const statuses = pb.SessionStatus as unknown as Record<string, number>;
  return {
    sessionId,
    customerName: s.customerName,
    computerName: s.computerName,
    platform: s.platform,
    customerIp: s.customerIp,
    customerVersion: s.customerVersion,
    participants: s.participants.map((x) => ({
      participantId: x.participantId,
      name: x.name,
      role: x.role === 'technician' ? Role.ROLE_TECHNICIAN : Role.ROLE_CUSTOMER,
      version: x.version,
      platform: x.platform,
      relation: x.relation,
      connected: x.connected,
    })),
    status: statuses[`SESSION_STATUS_${extra.status}`] ?? 0,
    createdUnixMs: extra.createdMs,
    granted: extra.granted,
    monitors: extra.monitors.map((m) => ({ ...m })),
    sysinfoCategories: [...s.sysinfoCategories],
    controller: s.controller ?? '',
    ended: extra.ended,
  };
}
