/**
 * What the admin port's status API reads of a gateway: everything the metrics read (the API's
 * status summary shows the same counters), plus live sessions, archived reports, shell
 * recordings, the gateway location, the admin token and the metrics exposition. Plain structural
 * types declared here, so the API imports neither the gateway nor its sessions, relay or
 * transport; the gateway provides the view (`Gateway.view()`), tests hand in plain objects.
 * Read-only: nothing here writes to a session or a socket.
 */
import type { MetricsSource } from '../metrics/source.js';
import type { ferry } from '../protocol/gen/ferry.js';

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

export interface GatewayView extends MetricsSource {
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
}
