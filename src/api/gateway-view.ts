/**
 * What the admin port's status API reads of a gateway: everything the metrics read (the API's
 * status summary shows the same counters), plus live sessions, archived reports, shell
 * recordings, the gateway location, the admin token and the metrics exposition. Plain structural
 * types declared here, so the API imports neither the gateway nor its sessions, relay or
 * transport; the gateway provides the view (`Gateway.view()`), tests hand in plain objects.
 * Read-only, but for `actions`: the operator actions the admin token may take (end a session,
 * kick a participant, revoke a PIN, drain), the report search and the audit log.
 */
import type { AuditEntry, AuditRecord, AuditVerdict } from '../audit/audit-log.js';
import type { GatewayMember, TechnicianPresence } from '../directory/shared.js';
import type { MetricsSource } from '../metrics/source.js';
import type { Refusal } from '../protocol/codes.js';
import type { ferry } from '../protocol/gen/ferry.js';
import type { ReportPage, ReportQuery } from '../store/report-store.js';

/** A technician or the session's creator, as the session list names them. */
export interface SessionPerson {
  readonly id: string;
  readonly name: string;
}

/** One shell recording of a session: the file names it lists (spec E4, E5); served as listed. */
export interface RecordingView {
  readonly cast: string;
  readonly transcript: string;
}

/** A live session, as the session list and detail routes read it. */
export interface LiveSessionView {
  readonly id: string;
  readonly status: string;
  readonly createdAtMs: number;
  readonly creator: { readonly name: string };
  /** What the customer's client reported of itself, once it did. */
  readonly customerInfo: { readonly name: string } | null;
  /** The label the technician gave the customer when creating the session. */
  readonly customerLabel: string;
  /** Non-null while the customer is connected. */
  readonly customer: object | null;
  readonly technicians: readonly SessionPerson[];
  /** One of `technicians`, or null. */
  readonly controller: SessionPerson | null;
  /** Per channel number. */
  readonly relayedFrames: ArrayLike<number>;
  readonly relayedBytes: ArrayLike<number>;
  readonly droppedFrames: ArrayLike<number>;
  readonly recordings: readonly RecordingView[];
}

/** An ended session's report: served whole as JSON; the API itself reads its recordings only. */
export interface ReportView {
  readonly recordings: readonly RecordingView[];
}

/** The Prometheus text exposition. */
export interface MetricsExposition {
  readonly contentType: string;
  text(): Promise<string>;
}

/** An operator action done (with what the answer shows) or refused with a coded reason. */
export type ActionOutcome =
  | { readonly ok: true; readonly result: Readonly<Record<string, unknown>> }
  | Refusal;

/** What the operator (the admin token) may do to a running gateway, and what it may read. */
export interface OperatorActions {
  /** The technician named by a valid technician token of this gateway, or null. */
  technicianOf(token: string): string | null;
  /** Ends a live session as an operator close: the participants are told, then let go normally. */
  endSession(sessionId: string, reason: string, actor: string): ActionOutcome;
  /** Takes a collaborator (or an invited technician) out of a live session. */
  kick(sessionId: string, participantId: string, reason: string, actor: string): ActionOutcome;
  /** Revokes an open PIN: nobody can join with it, and the session waiting on it ends. */
  revokePin(pin: string, actor: string): ActionOutcome;
  /** Revokes the open PIN of a session, the same way. */
  revokeSessionPin(sessionId: string, actor: string): ActionOutcome;
  /** Starts the gateway's drain (no new sessions; live ones finish or end at the deadline). */
  drain(reason: string, deadlineMs: number | null, actor: string, move: boolean): ActionOutcome;
  /** Searches the report store; throws `CursorError` (src/store/report-store.ts) for a bad cursor. */
  searchReports(query: ReportQuery): ReportPage;
  /**
   * An ended session's report, whole, as JSON: the newest copy (in memory: the last 1000, with
   * any note added after the end) with the log entries it spilled taken from the stored copy;
   * else the stored copy (reports from before a restart, or older); null when there is none.
   */
  reportJson(sessionId: string): string | null;
  /** The report store holds a report of `sessionId`. */
  reportStored(sessionId: string): boolean;
  /** Appends an entry to the audit log. */
  audit(record: AuditRecord): void;
  /** The last `limit` audit entries, oldest first, and the verdict on the whole chain. */
  auditTail(limit: number): {
    readonly entries: readonly AuditEntry[];
    readonly verdict: AuditVerdict;
  };
}

export interface GatewayView extends MetricsSource {
  /** The live gateways of the deployment (this one alone without a shared directory). */
  gateways(): Promise<GatewayMember[]>;
  /**
   * The technicians connected to the deployment's live gateways (this one's alone without a
   * shared directory); rejects when the directory cannot be reached.
   */
  technicians(): Promise<TechnicianPresence[]>;
  /** Operator actions, report search and the audit log. */
  readonly actions: OperatorActions;
  /** Bearer token of the /api/v1 routes; '' matches nothing. */
  readonly adminToken: string;
  readonly location: ferry.v1.IGatewayLocation;
  readonly metrics: MetricsExposition;
  /** Live sessions by id. */
  readonly sessions: ReadonlyMap<string, LiveSessionView>;
  /** Reports of ended sessions by id (the most recent ones). */
  readonly reports: ReadonlyMap<string, ReportView>;
  /** The network statistics of one live session of `sessions`, as technicians receive them. */
  networkStats(session: LiveSessionView): ferry.v1.INetworkStats;
  /** Resolves once every recording written so far is on disk. */
  recordingsFlushed(): Promise<void>;
  /** The file of a session's recording; null when `file` cannot name a recording. */
  recordingPath(sessionId: string, file: string): string | null;
  /** Adds a technician token id to the deny-list and ends its live connections. */
  readonly revokeToken?: (jti: string) => void;
}
