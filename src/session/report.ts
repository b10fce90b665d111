/**
 * The session report: the plain-data record a session leaves when it ends (participants, status
 * history with times, the log of chat and events, relay totals, why it ended, the summary of
 * the customer's machine and the technicians' notes; spec session-tools F1, F6). Every way a
 * session ends goes through the lifecycle's `end` (lifecycle.ts), which builds and archives it;
 * the status API serves it and the gateway writes it to the data directory. A note added after
 * the end replaces the archived report with one that has it (`withNote`).
 */
import { channelName, roleName } from '../protocol/frames.js';
import { describe } from './consent.js';
import type { FileTransferEntry } from './files.js';
import type { EndedJournal, SeatState } from './journal.js';
import type { NoteRecord, ParticipantRecord, Session, StatusRecord } from './session.js';
import { GENESIS, type LogEntry } from './session-log.js';
import type { RecordingEntry } from './shells.js';
import { buildSummary, type SummaryData } from './summary.js';

export interface ReportNote {
  readonly id: number;
  readonly author: string;
  readonly text: string;
  readonly at: string;
}

export interface SessionReport {
  readonly id: string;
  readonly status: string;
  readonly timeoutKind: string | null;
  /** Why the session left the directory when its status does not say: abandoned, shutdown. */
  readonly endReason: string | null;
  readonly createdAt: string;
  readonly endedAt: string | null;
  readonly durationMs: number;
  readonly creator: string;
  readonly owner: string;
  readonly customer: string;
  readonly participants: readonly {
    name: string;
    role: string;
    joinedAs: string;
    joinedAt: string;
  }[];
  readonly statusHistory: readonly { status: string; at: string; trigger: string; actor: string }[];
  readonly log: readonly LogEntry[];
  readonly logEntriesDropped: number;
  /**
   * Entries before `log` that only the session's journal held (the retained-bytes budget spilled
   * them); the report written to disk has them back in `log` and this is 0 there.
   */
  readonly logEntriesSpilled: number;
  /**
   * A restarted gateway rebuilt the session from its journal; `interrupted` when nobody took
   * their place back before it ended ("interrupted by a gateway restart").
   */
  readonly restart: { readonly restoredAt: string; readonly interrupted: boolean } | null;
  /**
   * Set on a report rebuilt from its journal at a start after the gateway was killed between the
   * session's end and its report being stored (`reportFromJournal`); absent otherwise.
   */
  readonly recoveredAt?: string;
  /** The hash the first entry of `log` follows (session-log.ts `verifyLog` checks the chain). */
  readonly logChainStart: string;
  readonly relayed: Record<string, { frames: number; bytes: number; dropped: number }>;
  /** spec F1: as it was when the session ended. */
  readonly summary: SummaryData;
  /** spec F4-F6: technicians' notes, during and after the session; never the customer's. */
  readonly notes: readonly ReportNote[];
  /**
   * spec E4, E5: one entry per recorded shell; `cast` and `transcript` are files of
   * `<dataDir>/recordings/<id>/`, served by the status API under
   * /api/v1/sessions/<id>/recordings/<file>.
   */
  readonly recordings: readonly RecordingEntry[];
  /** Every file transfer of the session and how it ended. */
  readonly files: readonly FileTransferEntry[];
}

export function reportNote(n: NoteRecord): ReportNote {
  return { id: n.id, author: n.author, text: n.text, at: new Date(n.timeMs).toISOString() };
}

function reportParticipant(p: ParticipantRecord): SessionReport['participants'][number] {
  return { name: p.name, role: p.role, joinedAs: p.joinedAs, joinedAt: iso(p.joinedAtMs) };
}

function reportStatus(h: StatusRecord): SessionReport['statusHistory'][number] {
  return { status: h.status, at: iso(h.atMs), trigger: h.trigger, actor: h.actor };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The archived report with one more note. */
export function withNote(report: SessionReport, note: NoteRecord): SessionReport {
  return { ...report, notes: [...report.notes, reportNote(note)] };
}

/**
 * `report` with the log entries it lacks (spilled while the session lived) taken from the same
 * session's report as stored before (`stored`, its JSON): the whole log, its chain from the
 * start. A note added after the end stores the report again this way, the journal gone.
 */
export function withStoredLog(report: SessionReport, stored: string): SessionReport {
  const before = JSON.parse(stored) as SessionReport;
  const first = report.log[0]?.seq ?? Number.POSITIVE_INFINITY;
  const older = before.log.filter((e) => e.seq < first);
  return {
    ...report,
    log: [...older, ...report.log],
    logEntriesSpilled: report.logEntriesSpilled - older.length,
    logChainStart: before.logChainStart,
  };
}

/** `summary` defaults to the session as it is now; `end` takes it before the teardown. */
export function buildReport(
  session: Session,
  summary: SummaryData = buildSummary(session),
): SessionReport {
  const relayed: SessionReport['relayed'] = {};
  for (let ch = 1; ch < session.relayedFrames.length; ch++) {
    const frames = session.relayedFrames[ch]!;
    const dropped = session.droppedFrames[ch]!;
    if (frames === 0 && dropped === 0) continue;
    relayed[channelName(ch)] = { frames, bytes: session.relayedBytes[ch]!, dropped };
  }
  const end = session.endedAtMs || Date.now();
  return {
    id: session.id,
    status: session.status,
    timeoutKind: session.machine.timeoutKind,
    endReason:
      session.endReason ||
      (session.restoredAtMs > 0 && !session.resumedSinceRestore
        ? 'interrupted by a gateway restart'
        : null),
    createdAt: new Date(session.createdAtMs).toISOString(),
    endedAt: session.endedAtMs ? new Date(session.endedAtMs).toISOString() : null,
    durationMs: end - session.createdAtMs,
    creator: session.creator.name,
    owner: session.owner.name,
    customer: session.customerInfo?.name ?? session.customerLabel,
    participants: session.participants.map(reportParticipant),
    statusHistory: session.history.map(reportStatus),
    log: [...session.log.entries],
    logEntriesDropped: session.log.dropped,
    logEntriesSpilled: session.log.spilled,
    restart:
      session.restoredAtMs > 0
        ? {
            restoredAt: new Date(session.restoredAtMs).toISOString(),
            interrupted: !session.resumedSinceRestore,
          }
        : null,
    logChainStart: session.log.chainStart,
    relayed,
    summary,
    notes: session.notes.map(reportNote),
    recordings: session.recordings.map((r) => ({ ...r })),
    files: session.fileTransfers.map((f) => ({ ...f })),
  };
}

/**
 * The report of a session that ended without one being stored (the gateway was killed before
 * its report store took it), rebuilt at the next start from the journal: its log, its state as
 * it ended, and the summary and restart its `end` record kept (journals written before the end
 * record kept them get a summary rebuilt from the state, without the customer's place). What a
 * journal does not keep is missing: relay totals and file transfers. `recoveredAt` says so.
 */
export function reportFromJournal(j: EndedJournal, nowMs: number): SessionReport {
  const st = j.state;
  const info = st.customerInfo;
  const seat = (s: SeatState, relation: string) => ({
    participantId: s.participantId,
    name: s.name,
    role: roleName(s.role),
    relation,
    version: s.client?.version ?? '',
    platform: s.client?.platform ?? '',
    connected: false,
  });
  return {
    id: j.id,
    status: st.status,
    timeoutKind: st.timeoutKind,
    endReason:
      j.endReason || (j.restart?.interrupted === true ? 'interrupted by a gateway restart' : null),
    createdAt: new Date(j.createdAtMs).toISOString(),
    endedAt: new Date(j.endedAtMs).toISOString(),
    durationMs: j.endedAtMs - j.createdAtMs,
    creator: st.participants.find((p) => p.joinedAs === 'owner')?.name ?? st.owner.name,
    owner: st.owner.name,
    customer: info?.name ?? st.customerLabel,
    participants: st.participants.map(reportParticipant),
    statusHistory: st.history.map(reportStatus),
    log: j.log,
    logEntriesDropped: 0,
    logEntriesSpilled: 0,
    restart:
      j.restart === null
        ? null
        : {
            restoredAt: new Date(j.restart.restoredAtMs).toISOString(),
            interrupted: j.restart.interrupted,
          },
    recoveredAt: new Date(nowMs).toISOString(),
    logChainStart: j.log[0]?.seq === 1 ? GENESIS : '',
    relayed: {},
    summary: j.summary ?? {
      customerName: info?.name ?? st.customerLabel,
      computerName: info?.computerName ?? '',
      platform: info?.platform ?? '',
      customerIp: st.customerAddress,
      customerVersion: info?.version ?? '',
      participants: [
        ...(st.ownerIsQueue ? [] : [seat(st.owner, 'owner')]),
        ...(st.customer === null ? [] : [seat(st.customer, 'customer')]),
      ],
      granted: describe(st.grants),
      controller: st.ownerControls ? st.owner.name : null,
      monitors: st.monitors.length,
      sysinfoCategories: st.sysinfoCategories,
    },
    notes: st.notes.map(reportNote),
    recordings: st.recordings.map((r) => ({ ...r })),
    files: [],
  };
}
