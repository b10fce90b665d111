/**
 * What the Prometheus collectors read at scrape time: a read-only view of gateway counters and
 * gauges, declared here as plain structural types so metrics never import the gateway, the
 * relay, the sessions or the transport. The gateway provides it (`Gateway.view()`); tests hand in
 * plain objects. Every value is read when a scrape runs, never copied ahead of time.
 *
 * The closed label sets that the modules owning the data define (session statuses, drop and
 * refusal reasons) come with the view as `labels`, in their owners' order.
 */

/** One open client connection: its role (0 = no Hello yet) and its link's connectivity grade. */
export interface MeteredConnection {
  readonly role: number;
  readonly link: { readonly status: number };
}

/**
 * Gateway-wide relay counters. The per-channel arrays are indexed by channel number; `dropped`
 * by `channel * labels.dropReasons.length + reason`.
 */
export interface RelayCounters {
  readonly inFrames: ArrayLike<number>;
  readonly inBytes: ArrayLike<number>;
  readonly outFrames: ArrayLike<number>;
  readonly outBytes: ArrayLike<number>;
  readonly dropped: ArrayLike<number>;
  /** Error frames sent, by FERRY_ERR_* code. */
  readonly errors: ReadonlyMap<string, number>;
  /** SCREEN and INPUT frames refused in the grace after a revoke or change: no strike, by channel. */
  readonly excused: ArrayLike<number>;
  /** Handlers that threw (caught at the dispatch point), by handler name. */
  readonly handlerErrors: ReadonlyMap<string, number>;
  /** Binary messages whose channel could not be read. */
  readonly malformed: number;
  readonly connectionsOpened: number;
  readonly connectionsClosed: number;
}

/** Session and PIN totals of the session directory; the totals only grow. */
export interface SessionTotals {
  /** Live sessions by status; statuses without a session may be absent. */
  counts(): Readonly<Record<string, number>>;
  readonly created: number;
  readonly ended: number;
  readonly openPins: number;
  readonly pinAccepted: number;
  readonly pinRejected: number;
  readonly pinRateLimited: number;
  /** Transitions the state machine refused where no caller could be told (also logged). */
  readonly refusedTransitions: number;
}

/** The gateway-wide send budget: bytes queued in every connection's send buffer, and the cap. */
export interface BudgetUse {
  readonly used: number;
  readonly limitBytes: number;
}

/** Session log text held in memory against `--retained-bytes`, and what spilled past it. */
export interface RetainedUse {
  readonly used: number;
  readonly limit: number;
  readonly spills: number;
  readonly spilledBytes: number;
}

/** Live-session journals (`--journal on`). */
export interface JournalTotals {
  readonly open: number;
  readonly errors: number;
  readonly openFailures: number;
  readonly restored: number;
  readonly notRestored: number;
  readonly corruptRecords: number;
}

/** Poor-network notifications sent to technicians (spec NS-D13). */
export interface AlertTotals {
  readonly alertsRaised: number;
  readonly alertsCleared: number;
}

/** Closed label sets, each in the order its owner defines. */
export interface MetricLabels {
  /** Every session status of docs/spec/session-states.json. */
  readonly statuses: readonly string[];
  /** Names of the drop reasons, indexed like the reason part of `RelayCounters.dropped`. */
  readonly dropReasons: readonly string[];
  /** Why a WebSocket upgrade may be refused (the keys of `MetricsSource.refused`). */
  readonly refusalReasons: readonly string[];
}

/** TLS of the gateway's ports, read at scrape time. */
export interface TlsTotals {
  /** Certificates served now: port (client, admin), server name ('' = the default one), expiry. */
  certificates(): readonly {
    readonly port: string;
    readonly name: string;
    readonly notAfterMs: number;
  }[];
  /** Certificate reloads by result. */
  reloads(result: 'ok' | 'failed' | 'unchanged'): number;
  /** TLS handshakes naming a server no certificate is registered for (they get the default one). */
  unknownServerNames(): number;
}

export interface MetricsSource {
  readonly id: string;
  /** Where uWebSockets.js was loaded from. */
  readonly uwsSource: string;
  /** The configured location region. */
  readonly region: string;
  /** Wall clock (ms) of the gateway's start. */
  readonly startedAtMs: number;
  /** True while the gateway shuts down and refuses new connections. */
  readonly draining: boolean;
  /** Open client connections, pending ones included. */
  readonly connections: ReadonlySet<MeteredConnection>;
  readonly relay: RelayCounters;
  readonly sessionTotals: SessionTotals;
  readonly sendBudget: BudgetUse;
  readonly retained: RetainedUse;
  /** Absent with `--journal off`. */
  readonly journal?: JournalTotals;
  /** The shared directory (`--directory redis://`); absent for a gateway alone. */
  readonly directory?: DirectoryTotals;
  /** WebSocket upgrades refused before a connection existed, by reason. */
  readonly refused: Readonly<Record<string, number>>;
  /** Direct paths (src/handlers/direct.ts) and the STUN port; absent in sources without them. */
  readonly direct?: DirectTotals;
  /** TLS certificates and reloads; absent in sources without TLS (tests). */
  readonly tls?: TlsTotals;
  readonly netstats: AlertTotals;
  readonly labels: MetricLabels;
}

/** What the direct-path service and the STUN server tell the metrics. */
export interface DirectTotals {
  readonly up: () => number;
  readonly connecting: () => number;
  /** Technician legs whose frames flow direct now (the P2P flag). */
  readonly flowing: () => number;
  readonly counters: {
    readonly opened: number;
    readonly up: number;
    readonly closed: ReadonlyMap<string, number>;
    readonly candidatesDropped: ReadonlyMap<string, number>;
    readonly candidatesPassed: number;
    readonly signalsRefused: number;
  };
  /** The STUN port's counters; null while it is off. */
  readonly stun: () => StunTotals | null;
}

export interface StunTotals {
  readonly answered: number;
  readonly malformed: number;
  readonly rateLimited: number;
}

/** What the shared directory tells the metrics. */
export interface DirectoryTotals {
  /** The store answers (new sessions are accepted). */
  readonly available: boolean;
  readonly counters: {
    readonly redirects: Readonly<Record<'pin' | 'resume' | 'session' | 'jump_client', number>>;
    readonly failures: number;
  };
}
