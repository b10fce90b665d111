/**
 * The composition root of a running gateway: config, secrets, session directory, router,
 * heartbeat and the two listening sockets, plus the one shared clock that drives hello
 * deadlines, PIN expiry, heartbeats and statistics pushes (no timer per connection or session).
 * `close()` stops listening, tells clients, ends every session (archiving its report) and
 * closes every connection.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createAdminHandler } from './api/admin.js';
import type { GatewayView, OperatorActions } from './api/gateway-view.js';
import { AuditLog } from './audit/audit-log.js';
import { operatorActions } from './audit/operator-actions.js';
import { ConfigError } from './config/config.js';
import type { Config } from './config/schema.js';
import { loadOrCreateSecret } from './config/secrets.js';
import { Fleet } from './directory/fleet.js';
import type { GatewayMember } from './directory/shared.js';
import { PepperMismatchError, SharedUnattendedRegistry } from './directory/unattended.js';
import { buildRelay, type Relay } from './handlers/index.js';
import { parseFsyncPolicy } from './journal/fsync-policy.js';
import { JournalStore } from './journal/store.js';
import type { Logger } from './log.js';
import { GatewayMetrics } from './metrics/metrics.js';
import { Heartbeat } from './netstats/heartbeat.js';
import { rateSnapshotsFor } from './netstats/link-stats.js';
import { NetworkStatsService, type StatsSession } from './netstats/network-stats.js';
import { Codes } from './protocol/codes.js';
import { eventFrame } from './protocol/frames.js';
import { PeerState } from './relay/peer.js';
import type { Router } from './relay/router.js';
import type { ChannelRow } from './relay/routes.js';
import { dropReasonNames, type RefusalReason, RefusalReasons } from './relay/stats.js';
import { CannedScriptLibrary } from './session/canned-scripts.js';
import { applyHeapGrowth } from './session/heap-growth.js';
import { type EndedJournal, SessionJournals } from './session/journal.js';
import { DenyList } from './session/jwt.js';
import type { Participant } from './session/participant.js';
import { SessionRegistry } from './session/registry.js';
import { reportFromJournal, type SessionReport, withStoredLog } from './session/report.js';
import type { RelayRtt } from './session/seat.js';
import type { Session } from './session/session.js';
import { RECORDING_FILE, recordingsDir } from './session/shells.js';
import { Status } from './session/states.js';
import { lifecycleOptions } from './session/timers.js';
import { ReportStore } from './store/report-store.js';
import {
  JumpClientRegistry,
  REGISTRY_FILE,
  type UnattendedRegistry,
} from './tools/jump-clients.js';
import { Connection } from './transport/connection.js';
import { TrustedProxies } from './transport/forwarded.js';
import { type Listening, listenClients, listenHttp } from './transport/server.js';
import { isSameOrigin } from './transport/static.js';
import { StunServer } from './transport/stun.js';
import {
  openTlsSites,
  type ReloadOutcome,
  TlsError,
  type TlsSite,
  type TlsSites,
  watchFiles,
} from './transport/tls.js';
import { loadUws } from './transport/uws.js';
import { VERSION } from './version.js';

/** Resolution of the shared clock; hello deadlines and session timers are enforced to within this. */
const CLOCK_MS = 250;
/**
 * The clock beats this often; every CLOCK_MS / BEAT_MS beats make a tick. Heartbeat pings and
 * NetworkStats pushes go out a slice per beat, so each beat's share is small: a beat's pings and
 * pushes are frames the relayed ones wait behind (docs/benchmarks.md, Fleet of 1000 pairs; at
 * 50 ms, fleet-1000's frame p99 was 4.4 ms, and 2.2-3.2 with both turned off).
 */
export const BEAT_MS = 10;
const BEATS_PER_TICK = CLOCK_MS / BEAT_MS;
/**
 * Ended sessions' reports are stored every this many beats (50 ms), in one transaction: a commit
 * costs more than a report's rows, and more often cost churn more than it saved (docs/benchmarks.md,
 * churn finding 14).
 */
const BEATS_PER_REPORT_PASS = 50 / BEAT_MS;
/** Report retention runs this often on the gateway's wall clock. */
const PRUNE_INTERVAL_MS = 3_600_000;
const RATE_WINDOW_MS = 1000;
const STRIKE_WINDOW_MS = 60_000;
/** A certificate renewal writes several files: reload once they have been quiet this long. */
const TLS_WATCH_DEBOUNCE_MS = 500;
/** A failed opening of the shared registry of unattended access is tried again after this. */
const ACCESS_RETRY_MS = 30_000;

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

export interface GatewayHooks {
  /** Wall clock (ms) of the session lifecycle: history times and timers. Tests inject one. */
  clock?: () => number;
  /** Called on every shared-clock tick after the gateway's own work (statistics, tests). */
  onTick?: (nowMs: number) => void;
  /** Called for every RTT sample (metrics). */
  onRttSample?: (conn: Connection, rttMs: number, censored: boolean) => void;
  /** Monotonic clock (ms) of connection limits: hello deadline, rate windows, idle. Tests inject one. */
  monotonic?: () => number;
  /** More channel rows, beside the built-in ones (tests: a toy channel, a handler that throws). */
  channels?: readonly ChannelRow[];
}

/** The stores unattended access and special actions need, loaded before the gateway exists. */
interface AccessStores {
  /** The data directory's `unattended.json`, or in a deployment the shared directory's. */
  readonly jumpClients: UnattendedRegistry;
  readonly scripts: CannedScriptLibrary;
  /**
   * In a deployment: the shared registry, opened once the gateway joined, and the registrations
   * of the data directory it copies first (null when there is no `unattended.json`).
   */
  readonly shared: {
    readonly registry: SharedUnattendedRegistry;
    readonly file: JumpClientRegistry | null;
  } | null;
}

/** The operator audit log and the report store, both in the data directory. */
interface RecordStores {
  readonly audit: AuditLog;
  readonly reportStore: ReportStore;
}

/** Statuses whose technicians receive periodic NetworkStats. */
const STATS_STATUSES = new Set(['ACTIVE', 'COLLABORATING', 'ON_HOLD', 'RECONNECTING', 'REBOOTING']);

/** Every participant of a gateway session is a transport Connection. */
const statsView = (session: Session) => session as unknown as StatsSession;

export class Gateway {
  readonly config: Config;
  readonly logger: Logger;
  readonly id: string;
  readonly registry: SessionRegistry;
  readonly router: Router;
  /** The handlers and the two tables behind the router (src/handlers/index.ts). */
  readonly relay: Relay;
  readonly heartbeat: Heartbeat<Connection>;
  readonly netstats: NetworkStatsService;
  readonly metrics: GatewayMetrics;
  readonly connections = new Set<Connection>();
  readonly startedAtMs = Date.now();
  /** Open connections per remote address (the per-address cap). */
  readonly #perAddress = new Map<string, number>();
  readonly #allowedOrigins: ReadonlySet<string>;
  /** Upgrades refused, by reason. */
  readonly refused: Record<RefusalReason, number> = { address_limit: 0, origin: 0, draining: 0 };
  #lastRateWindowMs = 0;
  #lastStrikeWindowMs = 0;
  #drained: (() => void) | null = null;
  /** The EVENT Closing went out (drain or close): every client is told once. */
  #closingSent = false;
  readonly adminToken: string;
  readonly uwsSource: string;
  draining = false;
  #client: Listening | null = null;
  #admin: Listening | null = null;
  /** The STUN port (`--stun-port`), or null when off. */
  #stun: StunServer | null = null;
  #clock: NodeJS.Timeout | null = null;
  /** TLS of the two ports (null = plain), and the watch of their files. */
  #tls: TlsSites = { client: null, admin: null };
  #stopWatch: (() => void) | null = null;
  readonly #proxies: TrustedProxies;
  #pendingHello = new Set<Connection>();
  #nextConnId = 1;
  /**
   * Heartbeats and NetworkStats pushes are spread over the clock's beats: with a 2 s interval
   * and a 10 ms beat, each beat pings one two-hundredth of the connections (by `Connection.slot`)
   * and pushes to one two-hundredth of the sessions, so no beat sends to many at once and relayed
   * frames do not queue behind the pings (fleet-1000 frame p99: 3.8x bare uWS with one burst
   * every 2 s; 2.5-3.0x with an eighth every 250 ms; 1.5-3.2x with a fortieth every 50 ms, 1.9x
   * now). Each slice keeps its own last time, so every connection is still pinged once per
   * interval.
   */
  #beatCount = 0;
  readonly #lastHeartbeatMs: number[];
  /**
   * The connections of each heartbeat slice (slot modulo the slices): a beat pings one slice
   * without walking every connection, and allocates nothing to do it.
   */
  readonly #pingSlices: Set<Connection>[];
  /** The ready connections of the slice a beat pings (reused). */
  readonly #pinging: Connection[] = [];
  readonly #lastStatsPushMs: number[];
  /**
   * The sessions of each statistics slice (slot modulo the slices), like `#pingSlices`: a beat
   * pushes one slice's without walking every session. A session is placed at the first tick
   * that sees it (`#placeSessions`) and taken out when it ends, or, if it left this gateway
   * without ending, when its slice comes round.
   */
  readonly #statsSlices: Set<Session>[];
  readonly #sessionSlots = new WeakMap<Session, number>();
  #nextSessionSlot = 0;
  #closed: Promise<void> | null = null;
  /**
   * Reports waiting to be stored, by session id (a newer report of a session, a late note,
   * replaces its queued one), and the loop storing them (null when idle).
   */
  #reportQueue = new Map<string, SessionReport>();
  #reportDrain: Promise<void> | null = null;
  /** After the store refused reports: no pass before this (monotonic ms); refusals in a row. */
  #reportRetryAtMs = 0;
  #reportFailures = 0;
  /** Queued reports the store refused: tried again once `#reportRetryAtMs` has passed. */
  readonly #refused = new Set<string>();
  /** Live sessions' journals (`--journal on`), or null. */
  readonly journals: SessionJournals | null;
  /** The operator audit log (`<dataDir>/audit.log`) and the report store (`<dataDir>/reports.db`). */
  readonly audit: AuditLog;
  readonly reportStore: ReportStore;
  readonly #actions: OperatorActions;
  /** The shared registry of unattended access, opened once this gateway joined (or null). */
  readonly #sharedAccess: AccessStores['shared'];
  /** An attempt at opening it is in flight; the next one after a failure. */
  #accessOpening = false;
  #accessRetry: NodeJS.Timeout | undefined;
  #drainRequested = false;
  #lastPruneMs = Number.NEGATIVE_INFINITY;
  #markStopped: () => void = () => undefined;
  readonly #stopped = new Promise<void>((resolve) => {
    this.#markStopped = resolve;
  });
  readonly hooks: GatewayHooks;
  /** This gateway's part in a deployment sharing a directory (`--directory redis://`), or null. */
  readonly fleet: Fleet | null;
  /** CPU time and bytes relayed at the last directory heartbeat (the load it reports). */
  #lastLoad = { atMs: 0, cpuUs: 0, bytes: 0 };
  /** Wall clock of the session lifecycle (`Date.now` unless a test injects one). */
  readonly clock: () => number;
  readonly monotonic: () => number;

  private constructor(
    config: Config,
    logger: Logger,
    adminToken: string,
    uwsSource: string,
    hooks: GatewayHooks,
    stores: AccessStores & RecordStores,
    fleet: Fleet | null,
  ) {
    this.config = config;
    this.fleet = fleet;
    this.#sharedAccess = stores.shared;
    this.logger = logger;
    this.adminToken = adminToken;
    this.uwsSource = uwsSource;
    this.hooks = hooks;
    this.id = gatewayIdOf(config);
    this.clock = hooks.clock ?? Date.now;
    this.monotonic = hooks.monotonic ?? (() => performance.now());
    const slices = (intervalMs: number) => Math.max(1, Math.ceil(intervalMs / BEAT_MS));
    this.#lastHeartbeatMs = new Array<number>(slices(config.heartbeatIntervalMs)).fill(0);
    this.#pingSlices = this.#lastHeartbeatMs.map(() => new Set<Connection>());
    this.#lastStatsPushMs = new Array<number>(slices(config.statsIntervalMs)).fill(0);
    this.#statsSlices = this.#lastStatsPushMs.map(() => new Set<Session>());
    this.#proxies = new TrustedProxies(config.trustedProxies);
    this.#allowedOrigins = new Set(
      config.allowedOrigins
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o !== ''),
    );
    this.registry = new SessionRegistry({
      pinLength: config.pinLength,
      pinTtlMs: config.pinTtlSeconds * 1000,
      logger,
      now: this.clock,
      lifecycle: lifecycleOptions(config),
      onReport: (report) => this.#writeReport(report),
      retainedBytes: config.retainedBytes,
    });
    const fsync = parseFsyncPolicy(config.journalFsync);
    this.journals =
      config.journal === 'on' && typeof fsync !== 'string'
        ? new SessionJournals({
            store: new JournalStore(path.join(config.dataDir, 'journal')),
            fsync,
            logger,
            // in a deployment, a copy in the shared directory: a survivor takes sessions over
            mirror: fleet === null ? null : (id, line) => fleet.mirrorJournal(id, line),
          })
        : null;
    // first of the listeners: a session is journaled before any tool hears of it
    if (this.journals !== null) this.registry.listeners.add(this.journals);
    // an ended session leaves its statistics slice at once, not when the slice comes round: a
    // burst of short sessions would otherwise stay reachable for up to an interval
    this.registry.listeners.add({ ended: (session) => this.#unplace(session) });
    // a turn's due snapshots go to the store with the turn's other journal lines
    const journals = this.journals;
    if (fleet !== null && journals !== null) {
      fleet.shared.beforeTurnWrites?.(() => journals.writeDueSnapshots());
    }
    this.netstats = new NetworkStatsService(
      {
        name: config.locationName,
        region: config.locationRegion,
        latitude: config.locationLatitude === '' ? null : Number(config.locationLatitude),
        longitude: config.locationLongitude === '' ? null : Number(config.locationLongitude),
      },
      () => performance.now(),
    );
    this.heartbeat = new Heartbeat<Connection>({
      intervalMs: config.heartbeatIntervalMs,
      stallMs: config.heartbeatStallMs,
      now: () => performance.now(),
      onSample: (conn, rttMs, censored) => {
        this.metrics.observeRtt(conn, rttMs, censored);
        this.hooks.onRttSample?.(conn, rttMs, censored);
        this.netstats.evaluate(conn, this.#sessionsOf(conn));
      },
    });
    this.relay = buildRelay({
      config,
      registry: this.registry,
      jumpClients: stores.jumpClients,
      scripts: stores.scripts,
      pongs: { onPong: (peer, seq) => this.heartbeat.onPong(peer as Connection, seq) },
      pushStats: (peer, session) => this.netstats.push(statsView(session), peer as Connection),
      gatewayId: this.id,
      version: VERSION,
      logger,
      fleet,
      adopt: (sessionId, from) => this.#adopt(sessionId, from),
      place: (session, customer) => this.#place(session, customer),
      moveTo: (session, gatewayId, reason) => this.#moveOne(session, gatewayId, reason),
      ...(hooks.channels ? { extraChannels: hooks.channels } : {}),
      ownAddresses: ownAddresses(),
      stunHost: stunHostOf(config),
    });
    this.netstats.directOf = (s, p) => this.relay.direct.statsOf(p as Connection, s.id);
    this.router = this.relay.router;
    this.audit = stores.audit;
    this.reportStore = stores.reportStore;
    this.#actions = operatorActions({
      registry: this.registry,
      secret: config.secret,
      audit: this.audit,
      reports: this.reportStore,
      logger,
      draining: () => this.draining || this.#drainRequested,
      startDrain: (reason, deadlineMs, move) => {
        this.#drainRequested = true;
        // after the answer is written: the drain may close the admin port at once
        setImmediate(() => {
          this.drain(reason, deadlineMs ?? undefined, move).catch((err: unknown) =>
            this.logger.error({ err }, 'drain failed'),
          );
        });
      },
      drainTimeoutMs: config.drainTimeoutSeconds * 1000,
    });
    this.metrics = new GatewayMetrics(this.view());
  }

  /** Sessions `conn` takes part in, for alerts (consumed only when an alert fires). */
  *#sessionsOf(conn: Connection): Iterable<StatsSession> {
    if (conn.session !== null && conn.session.customer === conn) {
      yield statsView(conn.session);
      return;
    }
    for (const session of this.registry.sessions.values()) {
      if (session.technicians.includes(conn)) yield statsView(session);
    }
  }

  /** Loads uWS (failing clearly if the native binary cannot load), prepares secrets, listens. */
  static async start(config: Config, logger: Logger, hooks: GatewayHooks = {}): Promise<Gateway> {
    const binding = loadUws();
    applyHeapGrowth(config.heapGrowthPercent);
    const secret = loadOrCreateSecret(config.dataDir, 'secret', config.secret);
    if (secret.created) logger.info({ file: secret.file }, 'created token-signing secret');
    const admin = loadOrCreateSecret(config.dataDir, 'admin-token', config.adminToken);
    if (admin.file !== '') logger.info({ file: admin.file }, 'admin API bearer token file');
    const withSecret = { ...config, secret: secret.value };
    // the Redis client is loaded only by a gateway that uses it (it is a quarter of the
    // process's start-up memory: docs/benchmarks.md, Idle memory per session)
    const fleet =
      config.directory === 'memory'
        ? null
        : new Fleet(
            new (await import('./directory/redis.js')).RedisDirectory({
              url: config.directory,
              selfId: gatewayIdOf(config),
              ...(config.directoryTlsCa !== '' ? { tlsCaFile: config.directoryTlsCa } : {}),
              logger,
            }),
            { logger, pinLength: config.pinLength },
          );
    // Before the ports open: a jump client or support button Hello is never refused for want
    // of its registry (a deployment's answers once the gateway joined it).
    const access = await openAccess(withSecret, fleet);
    let tls: TlsSites;
    try {
      tls = openTlsSites(binding.uws, config, path.join(config.dataDir, 'tls'), (port, name) =>
        logger.debug({ port, name }, 'TLS handshake for a server name without a certificate'),
      );
    } catch (err) {
      if (err instanceof TlsError) throw new ConfigError(err.message);
      throw err;
    }
    // after every setting checked: a refused start leaves no index or audit log open
    const stores = { ...access, ...openRecords(withSecret, logger) };
    let gateway: Gateway;
    try {
      gateway = new Gateway(withSecret, logger, admin.value, binding.source, hooks, stores, fleet);
    } catch (err) {
      // the operator's default permissions or team are not valid
      if (err instanceof RangeError) throw new ConfigError(err.message);
      throw err;
    }
    gateway.#tls = tls;
    // before the port opens: clients that reconnect find their sessions
    await gateway.#restoreSessions();
    await gateway.#listen();
    if (fleet !== null) await gateway.#joinFleet(fleet);
    logger.info(
      {
        id: gateway.id,
        port: gateway.port,
        adminPort: gateway.adminPort,
        uws: binding.source,
        version: VERSION,
        tls: tls.client !== null,
        adminTls: tls.admin !== null,
      },
      'gateway listening',
    );
    gateway.#warnPlainText();
    return gateway;
  }

  get port(): number {
    return this.#client?.port ?? 0;
  }

  /** The WebSocket URL clients reach this gateway at, where other gateways redirect them. */
  get publicUrl(): string {
    if (this.config.publicUrl !== '') return this.config.publicUrl;
    const host = this.config.host;
    const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const scheme = this.#tls.client !== null ? 'wss' : 'ws';
    // a worker is reached alone on its own port; the shared one may land on any worker
    const port = this.#client?.ownPort || this.port;
    return `${scheme}://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/v1/ws`;
  }

  /**
   * Joins the deployment once the port is open (the URL it announces is known): registers with
   * the shared directory and publishes what this gateway holds (the sessions a restart took
   * back), again whenever the store comes back after an outage. A store unreachable at start
   * stops the start with a clear message.
   */
  async #joinFleet(fleet: Fleet): Promise<void> {
    this.registry.listeners.add(fleet);
    // a client resumes at one of these if this gateway dies: each is told as the list changes
    fleet.onAlternates = (urls) => {
      const frame = eventFrame({ alternates: { urls: [...urls] } });
      for (const conn of this.connections)
        if (conn.state === PeerState.READY) conn.sendFrame(frame);
    };
    fleet.shared.onAvailability((up) => {
      if (up) this.#publishAll(fleet);
    });
    try {
      await fleet.start({ url: this.publicUrl, region: this.config.region }, () => this.#load());
    } catch (err) {
      await this.close('the shared directory cannot be reached');
      throw new ConfigError(`--directory: ${(err as Error).message}`);
    }
    await this.#reconcile(fleet);
    this.#publishAll(fleet);
    await this.#openSharedAccess(fleet);
    this.logger.info(
      { url: this.publicUrl, directory: redacted(this.config.directory) },
      'joined the deployment',
    );
  }

  /**
   * Opens the deployment's registry of jump clients and support buttons, once this gateway's
   * secret is checked against the deployment's and what it kept alone in its data directory is
   * copied into it (each registration only if its id is not there yet, so nothing revoked comes
   * back, and a copy that stopped partway is safely done again). Until then the registry answers
   * FERRY_ERR_DIRECTORY_UNAVAILABLE (the device tries again), never AUTH_FAILED for a device
   * whose registration is not copied yet: a failed attempt is tried again when the store comes
   * back, and every ACCESS_RETRY_MS meanwhile. The file is renamed `unattended.json.imported`
   * once copied, so it is copied once.
   */
  async #openSharedAccess(fleet: Fleet): Promise<void> {
    const access = this.#sharedAccess;
    if (access === null) return;
    fleet.shared.onAvailability((up) => {
      if (up) void this.#tryOpenSharedAccess(access);
    });
    await this.#tryOpenSharedAccess(access);
  }

  /** One attempt at opening the shared registry (none while one is in flight); never throws. */
  async #tryOpenSharedAccess(access: NonNullable<AccessStores['shared']>): Promise<void> {
    if (access.registry.isOpen || this.#accessOpening || this.#closed !== null) return;
    this.#accessOpening = true;
    clearTimeout(this.#accessRetry);
    const file = access.file;
    let copied: number;
    try {
      copied = await access.registry.open(file);
    } catch (err) {
      if (err instanceof PepperMismatchError) {
        this.logger.error({ err }, err.message);
      } else {
        this.logger.error(
          { err, file: file?.file ?? null },
          'cannot open the shared registry of jump clients and support buttons (copying those of the data directory, if any, into the shared directory failed or stopped partway): their Hellos get FERRY_ERR_DIRECTORY_UNAVAILABLE until a retry succeeds',
        );
      }
      this.#accessRetry = setTimeout(() => void this.#tryOpenSharedAccess(access), ACCESS_RETRY_MS);
      this.#accessRetry.unref();
      return;
    } finally {
      this.#accessOpening = false;
    }
    if (file === null) return;
    const renamed = `${file.file}.imported`;
    try {
      await fs.rename(file.file, renamed);
    } catch (err) {
      // the copy is done: the next start copies the file again, which adds nothing (ids exist)
      this.logger.error(
        { err, file: file.file, copied },
        `jump clients and support buttons of the data directory copied into the shared directory, but the file could not be renamed ${renamed}; it is copied again (adding nothing) at the next start`,
      );
      return;
    }
    this.logger.info(
      { file: file.file, copied, renamed },
      'jump clients and support buttons of the data directory copied into the shared directory',
    );
  }

  /**
   * Tells the directory everything this gateway holds: each live session, its resume tokens
   * and a fresh copy of its journal (the store may have lost them, or missed lines while it
   * was down), and removes the ended sessions whose removal failed. At start and whenever the
   * store comes back.
   */
  #publishAll(fleet: Fleet): void {
    for (const session of this.registry.sessions.values()) {
      fleet.restored(session);
      if (this.journals !== null) fleet.recopyJournal(session.id, this.journals.linesOf(session));
    }
    // and removes again the ended sessions whose removal failed (cut off by the outage)
    void fleet
      .sweep((id) => this.registry.sessions.has(id))
      .then((removed) => {
        if (removed > 0) {
          this.logger.info(
            { removed },
            'shared directory: ended sessions whose removal had failed removed',
          );
        }
      });
  }

  /**
   * Sessions this gateway took back from its journals that another live gateway took over
   * while it was down are that gateway's now: ended here, their reports saying where they went
   * on (the new owner writes the whole one), the directory's records left to the new owner.
   */
  async #reconcile(fleet: Fleet): Promise<void> {
    for (const session of [...this.registry.sessions.values()]) {
      const owner = await fleet.shared.sessionOwner(session.id).catch(() => null);
      if (owner === null || owner.gatewayId === this.id || owner.member === null) continue;
      this.logger.info(
        { session: session.id, owner: owner.gatewayId },
        'session taken over by another gateway while this one was down: dropped here',
      );
      // its report here says where it went on; the directory's records are the new owner's
      fleet.disown(session.id);
      session.endReason = `taken over by gateway ${owner.gatewayId}`;
      this.registry.end(session);
    }
  }

  /**
   * A live move (drain with move): every journaled live session goes to the least loaded other
   * gateway of the deployment. Its journal is written out and copied, ownership moves in the
   * directory, each participant is told to resume there (Closing.resume_url, then 1001), and
   * the session ends here, its report saying where it went on. The target takes each over from
   * the copy when the first leg arrives (as after a failover, without waiting for a TTL).
   * All go to one gateway, so a technician working several sessions follows them all.
   */
  async #moveAll(fleet: Fleet, reason: string): Promise<void> {
    const journals = this.journals;
    if (journals === null || this.registry.sessions.size === 0) return;
    let target: GatewayMember | undefined;
    try {
      for (const m of await fleet.members()) {
        if (m.id === this.id || m.draining) continue;
        if (target === undefined || m.sessions < target.sessions) target = m;
      }
    } catch (err) {
      this.logger.error({ err }, 'cannot move sessions: the shared directory cannot be reached');
      return;
    }
    if (target === undefined) {
      this.logger.warn({}, 'cannot move sessions: no other live gateway in the deployment');
      return;
    }
    await this.#moveSessions(fleet, [...this.registry.sessions.values()], target, reason);
  }

  /**
   * Moves `sessions` to live gateway `target`: journals written out and copied, ownership moved
   * in the directory, each participant told to resume there (Closing.resume_url, then 1001),
   * the sessions ended here with reports saying where they went on. The target takes each over
   * from the copy when its first leg arrives.
   */
  async #moveSessions(
    fleet: Fleet,
    sessions: readonly Session[],
    target: GatewayMember,
    reason: string,
  ): Promise<void> {
    const journals = this.journals;
    if (journals === null) return;
    // from the move in the store on, its lines are refused there: what acknowledges one (a chat's
    // echo) waits for the last copy below
    for (const session of sessions) fleet.moving(session.id);
    // each move ends once (moves of one session may overlap): as soon as its outcome is known
    const ended = new Set<string>();
    const over = (id: string): void => {
      if (ended.has(id)) return;
      ended.add(id);
      fleet.moved(id);
    };
    try {
      await this.#moveJournaled(fleet, journals, sessions, target, reason, over);
    } finally {
      for (const session of sessions) over(session.id);
    }
  }

  async #moveJournaled(
    fleet: Fleet,
    journals: SessionJournals,
    sessions: readonly Session[],
    target: GatewayMember,
    reason: string,
    over: (sessionId: string) => void,
  ): Promise<void> {
    // the snapshots due and the queued lines reach the file (and the copy) first
    await journals.flushAll();
    const moved: Session[] = [];
    for (const session of sessions) {
      if (session.journal === null || session.ended) continue;
      try {
        await fleet.shared.replaceJournal(session.id, journals.linesOf(session));
        if (await fleet.shared.moveTo(session.id, target.id)) moved.push(session);
        else over(session.id);
      } catch (err) {
        over(session.id);
        this.logger.warn({ err, session: session.id }, 'session not moved: it stays here');
      }
    }
    // A moved session lived on here until now: what it wrote since its copy (a chat echoed, a
    // snapshot) was refused by the store, which names the target as owner. In this one
    // synchronous stretch, so that no frame of a participant comes between, each moved session's
    // journal is copied again whole, and its participants are told; the copies are on the
    // connection to the store before any participant can reach the target.
    const synced = journals.flushAll(); // its synchronous part writes the snapshots due
    // unless the target took a session over meanwhile (a participant reached it early): its
    // copy stands then
    const copies = moved.map((session) =>
      fleet.shared.replaceMovedJournal(session.id, journals.linesOf(session)).then(
        (replaced) => {
          over(session.id);
          if (!replaced) {
            this.logger.warn(
              { session: session.id, to: target.id },
              'moved session: the target took it over first; its journal copy stands',
            );
          }
        },
        (err: unknown) => {
          this.logger.warn({ err, session: session.id }, 'moved session: last journal copy failed');
        },
      ),
    );
    const told = new Set<Participant>();
    for (const session of moved) {
      // from here on nothing this gateway writes of it reaches the copy the target goes on from
      fleet.disown(session.id);
      for (const seat of session.seats()) if (seat.conn !== null) told.add(seat.conn);
    }
    const closing = eventFrame({
      closing: { reason, deadlineMs: 0, resume: true, resumeUrl: target.url },
    });
    for (const conn of told) {
      conn.sendFrame(closing);
      conn.end(Codes.SHUTTING_DOWN.close, 'session moved');
    }
    await Promise.all([synced, ...copies]);
    for (const session of moved) {
      session.endReason = `moved to gateway ${target.id}`;
      this.registry.end(session);
    }
    this.logger.info(
      { to: target.id, sessions: moved.length, participants: told.size, reason },
      'live sessions moved to another gateway',
    );
  }

  /** Moves one live session to live member `gatewayId` (false when it is not one). */
  async #moveOne(session: Session, gatewayId: string, reason: string): Promise<boolean> {
    const fleet = this.fleet;
    if (fleet === null) return false;
    const target = (await fleet.members()).find((m) => m.id === gatewayId && !m.draining);
    if (target === undefined || session.ended) return false;
    // what changed before the move (a queue session released) is in the copy the target reads
    session.journal?.changed();
    await this.#moveSessions(fleet, [session], target, reason);
    return true;
  }

  /**
   * Relay choice, when a customer joins with its RTT to the deployment's gateways: with the
   * owner's (from its Hello), the session belongs where the worse of the two legs is fastest,
   * fewer sessions breaking near-ties. The choice and every measurement go into the session log
   * (so the report); a better gateway than this one gets the session at once (a move of both
   * legs), unless the technician works other sessions here, which would all have to follow.
   */
  #place(session: Session, customer: readonly RelayRtt[]): void {
    const fleet = this.fleet;
    const technician = session.owner.relayRtts;
    if (fleet === null || session.ownerIsQueue || technician.length === 0) return;
    const rows = customer.flatMap((c) => {
      const t = technician.find((r) => r.gatewayId === c.gatewayId);
      return t === undefined
        ? []
        : [
            {
              id: c.gatewayId,
              tech: t.rttMs,
              customer: c.rttMs,
              worst: Math.max(t.rttMs, c.rttMs),
              sessions: c.sessions,
            },
          ];
    });
    let best: (typeof rows)[number] | undefined;
    for (const row of rows) {
      if (best === undefined) {
        best = row;
        continue;
      }
      const tie =
        Math.abs(row.worst - best.worst) <= Math.max(1, 0.1 * Math.min(row.worst, best.worst));
      if (tie ? row.sessions < best.sessions : row.worst < best.worst) best = row;
    }
    if (best === undefined) return;
    const ms = (v: number) => v.toFixed(1);
    const table = rows
      .map(
        (r) =>
          `${r.id}: technician ${ms(r.tech)} ms, customer ${ms(r.customer)} ms, worse ${ms(r.worst)} ms, ${r.sessions} sessions`,
      )
      .join('; ');
    const stays = best.id === this.id;
    const others = session.owner.sessions.size > 1;
    const verdict = stays
      ? `stays on ${this.id}`
      : others
        ? `stays on ${this.id}: ${best.id} is faster, but the technician works other sessions here`
        : `moves to ${best.id}`;
    session.log.event('relay_choice', 'gateway', `${verdict} (${table})`);
    if (stays || others) return;
    const to = best.id;
    this.#moveOne(session, to, `relay choice: ${to} is faster for both legs`).catch(
      (err: unknown) => {
        this.logger.warn({ err, session: session.id, to }, 'relay choice: the session stays here');
      },
    );
  }

  /** Adoptions under way by session id: the two legs of one session may ask at once. */
  readonly #adopting = new Map<string, Promise<boolean>>();

  /**
   * Takes over a session whose owner `from` died (it stopped beating): ownership moves here in
   * the directory (compare-and-set: one survivor wins), the session is rebuilt from the copy of
   * its journal the directory kept, with its places away, and its participants resume here.
   * False when it cannot be (another survivor won, no journal copy, journaling off).
   */
  #adopt(sessionId: string, from: string): Promise<boolean> {
    const fleet = this.fleet;
    const journals = this.journals;
    if (fleet === null || journals === null) return Promise.resolve(false);
    if (this.registry.sessions.has(sessionId)) return Promise.resolve(true);
    let adopting = this.#adopting.get(sessionId);
    if (adopting === undefined) {
      adopting = (async () => {
        const startedMs = performance.now();
        if (!(await fleet.shared.takeOver(sessionId, from))) return false;
        const lines = await fleet.shared.readJournal(sessionId);
        const journaled = await journals.adopt(sessionId, lines);
        if (!('state' in journaled)) {
          if ('skipped' in journaled && journaled.skipped === 'ended') {
            // it ended on the dead gateway before its report was stored there: rebuilt here
            if (!this.reportStore.has(sessionId)) this.#recoverReport(journaled.ended);
            if (this.reportStore.has(sessionId)) await journals.remove(sessionId);
          }
          const why = 'corrupt' in journaled ? journaled.corrupt : journaled.skipped;
          this.logger.warn({ session: sessionId, from, why }, 'cannot take over');
          return false;
        }
        this.registry.restore(journaled, this.clock());
        fleet.counters.takeovers++;
        this.logger.info(
          { session: sessionId, from, records: lines.length, ms: performance.now() - startedMs },
          'session taken over from a gateway that died',
        );
        return true;
      })().finally(() => this.#adopting.delete(sessionId));
      this.#adopting.set(sessionId, adopting);
    }
    return adopting;
  }

  /** What this gateway reports of itself at each directory heartbeat. */
  #load(): { sessions: number; cpu: number; bytesPerSecond: number; draining: boolean } {
    const nowMs = performance.now();
    const usage = process.cpuUsage();
    const cpuUs = usage.user + usage.system;
    const stats = this.router.stats;
    let bytes = 0;
    for (let i = 0; i < stats.inBytes.length; i++) bytes += stats.inBytes[i]! + stats.outBytes[i]!;
    const last = this.#lastLoad;
    const elapsedMs = nowMs - last.atMs;
    this.#lastLoad = { atMs: nowMs, cpuUs, bytes };
    const first = last.atMs === 0 || elapsedMs <= 0;
    return {
      sessions: this.registry.sessions.size,
      cpu: first ? 0 : (cpuUs - last.cpuUs) / 1000 / elapsedMs,
      bytesPerSecond: first ? 0 : ((bytes - last.bytes) * 1000) / elapsedMs,
      draining: this.draining || this.#drainRequested,
    };
  }

  /** The gateways of the deployment (GET /api/v1/gateways): this one alone without a directory. */
  async #gateways(): Promise<GatewayMember[]> {
    if (this.fleet !== null) return this.fleet.members();
    const load = this.#load();
    return [
      {
        id: this.id,
        url: this.publicUrl,
        region: this.config.region,
        ...load,
        seenAtMs: this.clock(),
      },
    ];
  }

  get adminPort(): number {
    return this.#admin?.port ?? 0;
  }

  async #listen(): Promise<void> {
    const { config } = this;
    const largest = Math.max(config.maxFrameBytes, config.maxControlBytes);
    this.#client = await listenClients(
      {
        host: config.host,
        port: config.port,
        ownPort: config.ownPort,
        connectAnyWebSocket: config.directory !== 'memory',
        onDiskError: (file, err) =>
          this.logger.error({ err, file }, 'a console file cannot be read: answered 503'),
        // Frames up to 2x the limit get a coded FERRY_ERR_FRAME_TOO_LARGE; past that uWS closes (1009).
        maxPayloadLength: largest * 2,
        maxBackpressure: config.maxBufferedBytes,
        // The gateway enforces --idle-timeout-seconds itself on the shared clock (any value,
        // counted in frames including pongs); uWS's own timer (0 or >= 8 s only) stays off.
        idleTimeoutSeconds: 0,
        tls: this.#tls.client,
        proxies: this.#proxies,
      },
      {
        accept: (remote, origin, host) => this.#accept(remote, origin, host),
        onOpen: (conn) => this.#onOpen(conn),
        onMessage: (conn, message, isBinary) => this.router.onMessage(conn, message, isBinary),
        onDrain: (conn) => {
          conn.onDrained();
          this.router.onDrain(conn);
        },
        onClose: (conn, code, reason) => this.#onClose(conn, code, reason),
      },
    );
    try {
      this.#admin = await listenHttp(
        config.adminHost,
        config.adminPort,
        createAdminHandler(this.view()),
        (err) => this.logger.error({ err }, 'admin request failed'),
        this.#tls.admin,
        this.#proxies,
      );
    } catch (err) {
      this.#client.close();
      throw err;
    }
    if (config.stunPort > 0) {
      const stun = new StunServer({
        port: config.stunPort,
        host: config.host,
        logger: this.logger,
      });
      try {
        await stun.listen();
      } catch (err) {
        this.#client.close();
        this.#admin.close();
        throw new ConfigError(`--stun-port ${config.stunPort}: ${(err as Error).message}`);
      }
      this.#stun = stun;
    }
    // a candidate naming one of these ports on one of our addresses is never passed on
    this.relay.direct.candidates.setOwnPorts([
      this.port,
      this.#client.ownPort ?? 0,
      this.adminPort,
      this.#stun?.port ?? 0,
    ]);
    this.#clock = setInterval(() => this.#beat(), BEAT_MS);
    this.#clock.unref();
    const files = [this.#tls.client, this.#tls.admin].flatMap((site) => site?.files() ?? []);
    if (files.length > 0) {
      this.#stopWatch = watchFiles(
        files,
        TLS_WATCH_DEBOUNCE_MS,
        () => this.reloadTls('certificate files changed'),
        (err) => this.logger.warn({ err }, 'cannot watch the TLS files; reload with SIGHUP'),
      );
    }
  }

  /** One warning at start for each port that serves plain text beyond loopback. */
  #warnPlainText(): void {
    const plain: string[] = [];
    if (this.#tls.client === null && !isLoopback(this.config.host)) {
      plain.push(`client port ${this.config.host}:${this.port} (ws://, http://)`);
    }
    if (this.#tls.admin === null && !isLoopback(this.config.adminHost)) {
      plain.push(`admin port ${this.config.adminHost}:${this.adminPort} (http://)`);
    }
    if (plain.length === 0) return;
    this.logger.warn(
      { plainText: plain },
      `listening without TLS on ${plain.join(' and ')}: tokens, PINs and session traffic cross the network in clear text; set --tls-cert and --tls-key, or terminate TLS in a proxy in front (docs/tls.md)`,
    );
  }

  /**
   * Loads the certificate files of both ports again (SIGHUP, or a change the watch saw). New
   * connections get the new certificates; open connections and their sessions are not touched.
   * A file that fails its checks is logged and the port keeps its certificate.
   */
  reloadTls(trigger: string): Array<{ port: string } & (ReloadOutcome | { error: string })> {
    const outcomes: Array<{ port: string } & (ReloadOutcome | { error: string })> = [];
    for (const site of [this.#tls.client, this.#tls.admin]) {
      if (site === null) continue;
      const port = site.options.port;
      try {
        const outcome = site.reload();
        outcomes.push({ port, ...outcome });
        if (outcome.changed) {
          this.logger.info(
            { port, trigger, serial: outcome.serial, ms: Number(outcome.ms.toFixed(2)) },
            'TLS certificate reloaded: new connections get it, open ones keep theirs',
          );
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        outcomes.push({ port, error: message });
        this.logger.error(
          { port, trigger, err: message },
          'TLS reload failed: the port keeps serving its current certificate',
        );
      }
    }
    if (outcomes.length === 0)
      this.logger.info({ trigger }, 'no TLS configured: nothing to reload');
    return outcomes;
  }

  /** The TLS site of the client or admin port (null = plain). */
  tlsSite(port: 'client' | 'admin'): TlsSite | null {
    return this.#tls[port];
  }

  /** Upgrade admission: the per-address cap and the Origin allow-list, before any state exists. */
  #accept(
    remote: string,
    origin: string,
    host: string,
  ): Connection | { status: number; reason: RefusalReason } {
    if (this.draining) return this.#refuse(503, 'draining');
    // Clients that send no Origin are not browsers. A browser must come from the gateway's own
    // origin (its console) or one the operator lists; '*' lets any page connect.
    if (
      origin !== '' &&
      !isSameOrigin(origin, host) &&
      !this.#allowedOrigins.has(origin) &&
      !this.#allowedOrigins.has('*')
    ) {
      return this.#refuse(403, 'origin');
    }
    const open = this.#perAddress.get(remote) ?? 0;
    if (open >= this.config.maxConnectionsPerAddress) return this.#refuse(429, 'address_limit');
    this.#perAddress.set(remote, open + 1);
    const now = this.monotonic();
    const n = this.#nextConnId++;
    const conn = new Connection(
      `c${n.toString(36)}`,
      remote,
      now,
      now + this.config.helloTimeoutMs,
      this.router.budget,
      undefined,
      // copies of reliable frames kept for a resume's replay (src/transport/replay-log.ts)
      this.config.resumeBufferBytes,
      rateSnapshotsFor(this.config.heartbeatIntervalMs),
    );
    conn.slot = n;
    return conn;
  }

  #refuse(status: number, reason: RefusalReason): { status: number; reason: RefusalReason } {
    this.refused[reason]++;
    return { status, reason };
  }

  #onOpen(conn: Connection): void {
    this.connections.add(conn);
    this.#pingSlices[conn.slot % this.#pingSlices.length]!.add(conn);
    this.#pendingHello.add(conn);
    this.router.stats.connectionsOpened++;
  }

  #onClose(conn: Connection, code: number, reason: string): void {
    const open = (this.#perAddress.get(conn.remoteAddress) ?? 1) - 1;
    if (open > 0) this.#perAddress.set(conn.remoteAddress, open);
    else this.#perAddress.delete(conn.remoteAddress);
    if (!this.connections.delete(conn)) return;
    this.#pingSlices[conn.slot % this.#pingSlices.length]!.delete(conn);
    this.#pendingHello.delete(conn);
    this.router.stats.connectionsClosed++;
    if (conn.role !== 0) {
      this.registry.leave(conn, code);
      this.relay.presence.closed(conn);
    }
    this.logger.debug({ conn: conn.id, role: conn.role, code, reason }, 'connection closed');
  }

  /** One beat of the clock: a slice of the pings and pushes; every BEATS_PER_TICK-th, a tick. */
  #beat(): void {
    const now = this.monotonic();
    const beat = this.#beatCount++;
    const pings = this.#lastHeartbeatMs;
    const ping = beat % pings.length;
    // half a beat of slack: a slice comes round once per interval, on a clock of whole ms
    if (now - pings[ping]! >= this.config.heartbeatIntervalMs - BEAT_MS / 2) {
      pings[ping] = now;
      const ready = this.#pinging;
      for (const conn of this.#pingSlices[ping]!)
        if (conn.state === PeerState.READY) ready.push(conn);
      try {
        this.heartbeat.tick(ready);
      } finally {
        ready.length = 0;
      }
    }
    const pushes = this.#lastStatsPushMs;
    const push = beat % pushes.length;
    const statsDue = this.config.statsIntervalMs - BEAT_MS / 2;
    if (this.config.statsIntervalMs > 0 && now - pushes[push]! >= statsDue) {
      pushes[push] = now;
      const live = this.registry.sessions;
      const slice = this.#statsSlices[push]!;
      for (const session of slice) {
        // gone from this gateway without ending (the ended leave at once): placed again if it
        // comes back
        if (live.get(session.id) !== session) this.#unplace(session);
        else if (STATS_STATUSES.has(session.status)) this.netstats.push(statsView(session));
      }
    }
    if (beat % BEATS_PER_REPORT_PASS === 0 && this.#reportQueue.size > 0) {
      // the refused wait for their backoff; any other report goes at this pass
      const retry = now >= this.#reportRetryAtMs;
      if (retry || this.#reportQueue.size > this.#refused.size) void this.#startReportDrain(retry);
    }
    if (beat % BEATS_PER_TICK === BEATS_PER_TICK - 1) this.#tick(now);
  }

  #tick(now: number): void {
    this.#connectionWindows(now);
    this.#placeSessions();
    for (const conn of this.#pendingHello) {
      if (conn.state !== PeerState.AWAITING_HELLO) this.#pendingHello.delete(conn);
      else if (now >= conn.helloDeadlineMs) {
        this.#pendingHello.delete(conn);
        this.router.fail(
          conn,
          Codes.HELLO_TIMEOUT,
          `no Hello within ${this.config.helloTimeoutMs} ms`,
        );
      }
    }
    // Session timers (PIN, Offline window, idle, system, resume window) run from this clock.
    this.registry.tick(this.clock());
    this.relay.direct.tick(performance.now());
    const wall = this.clock();
    if (wall - this.#lastPruneMs >= PRUNE_INTERVAL_MS) {
      this.#lastPruneMs = wall;
      this.#pruneReports(wall);
    }
    if (this.#drained !== null && this.registry.sessions.size === 0) this.#drained();
    this.hooks.onTick?.(now);
  }

  /**
   * Per-connection limits on the shared clock: the one-second frame window (rate limit), the
   * one-minute bad-frame window, and the idle check (a connection whose frame count has not
   * moved for the idle timeout; pongs count, so only dead or silent peers are caught).
   */
  #connectionWindows(now: number): void {
    const rateWindow = now - this.#lastRateWindowMs >= RATE_WINDOW_MS;
    const strikeWindow = now - this.#lastStrikeWindowMs >= STRIKE_WINDOW_MS;
    if (rateWindow) {
      this.#lastRateWindowMs = now;
      this.relay.hello.checkRevocations();
    }
    if (strikeWindow) {
      this.#lastStrikeWindowMs = now;
      this.relay.hello.prune(performance.now());
    }
    const idleMs = this.config.idleTimeoutSeconds * 1000;
    for (const conn of this.connections) {
      if (rateWindow) conn.windowFrames = 0;
      if (strikeWindow) conn.strikes = 0;
      if (conn.rxFrames !== conn.idleMark) {
        conn.idleMark = conn.rxFrames;
        conn.idleSinceMs = now;
      } else if (idleMs > 0 && now - conn.idleSinceMs >= idleMs && conn.state === PeerState.READY) {
        this.router.fail(
          conn,
          Codes.IDLE_TIMEOUT,
          `nothing received for ${this.config.idleTimeoutSeconds} s`,
        );
      }
    }
  }

  /**
   * Queues an ended session's report for the report store (`<dataDir>/reports.db`). The queue is
   * stored at the clock's next report pass (every 50 ms), in one transaction: a burst of
   * sessions ending costs a commit per pass, not a file each (docs/benchmarks.md, churn). A note
   * added after the end stores the same report again.
   */
  #writeReport(report: SessionReport): void {
    this.#reportQueue.set(report.id, report);
  }

  /**
   * Starts storing the queued reports (the refused ones too with `retry`) unless a pass runs;
   * resolves once the passes end.
   */
  #startReportDrain(retry: boolean): Promise<void> {
    if (this.#reportDrain === null && this.#reportQueue.size > 0) {
      const drain: Promise<void> = this.#drainReports(retry).finally(() => {
        if (this.#reportDrain === drain) this.#reportDrain = null;
      });
      this.#reportDrain = drain;
    }
    return this.#reportDrain ?? Promise.resolve();
  }

  /**
   * Stores the queued reports, whole, in one transaction per pass, then removes their journals;
   * reports that end while a pass runs make the next pass. A pass the store refuses stops the
   * drain: what it could not store waits for the retry (`#storeReports`).
   */
  async #drainReports(retry: boolean): Promise<void> {
    for (;;) {
      const batch: SessionReport[] = [];
      const waiting = new Map<string, SessionReport>();
      for (const [id, report] of this.#reportQueue) {
        if (retry || !this.#refused.has(id)) batch.push(report);
        else waiting.set(id, report);
      }
      if (batch.length === 0) return;
      this.#reportQueue = waiting;
      const whole: SessionReport[] = [];
      /** Stored without the entries its log spilled: its journal, which has them, stays. */
      const partial = new Set<string>();
      for (const report of batch) {
        try {
          whole.push(report.logEntriesSpilled === 0 ? report : await this.#withSpilled(report));
        } catch (err) {
          this.logger.error(
            { err, session: report.id, spilled: report.logEntriesSpilled },
            'cannot read the spilled log of a session report back: stored without it, the journal kept',
          );
          whole.push(report);
          partial.add(report.id);
        }
      }
      const stored = this.#storeReports(whole);
      // the store holds everything the journals did: they go
      await Promise.all(
        stored.filter((r) => !partial.has(r.id)).map((r) => this.journals?.remove(r.id)),
      );
      if (stored.length < whole.length) return;
    }
  }

  /**
   * Stores `reports` in one transaction, or each alone when the store refuses the batch (one
   * report the store cannot take does not hold the others back); gives back those stored. The
   * others go back to the head of the queue, tried again after a backoff (0.1 s doubling to
   * 30 s, while any stays refused) for as long as the store refuses them: a report is never
   * given up while the gateway runs (a short session's journal may never have been written, so
   * the report is all there is). Reports queued meanwhile are not held back: they go at the
   * next pass.
   */
  #storeReports(reports: SessionReport[]): SessionReport[] {
    if (reports.length === 0) return reports;
    try {
      this.reportStore.addMany(reports);
      this.#stored(reports);
      return reports;
    } catch (err) {
      if (reports.length === 1) {
        this.#retryReports(reports, err);
        return [];
      }
    }
    const stored: SessionReport[] = [];
    const failed: SessionReport[] = [];
    let error: unknown;
    for (const report of reports) {
      try {
        this.reportStore.addMany([report]);
        stored.push(report);
      } catch (err) {
        failed.push(report);
        error = err;
      }
    }
    this.#stored(stored);
    if (failed.length > 0) this.#retryReports(failed, error);
    return stored;
  }

  #stored(reports: readonly SessionReport[]): void {
    if (this.#refused.size === 0) return;
    for (const r of reports) this.#refused.delete(r.id);
    if (this.#refused.size === 0) this.#reportFailures = 0;
  }

  #retryReports(failed: readonly SessionReport[], err: unknown): void {
    this.#reportFailures++;
    const retryInMs = Math.min(100 * 2 ** (this.#reportFailures - 1), 30_000);
    this.#reportRetryAtMs = this.monotonic() + retryInMs;
    this.logger.error(
      { err, sessions: failed.map((r) => r.id), retryInMs },
      'cannot store session reports: they are tried again',
    );
    for (const r of failed) this.#refused.add(r.id);
    // at the head, in their order; a newer report of the same session queued meanwhile wins
    const queue = new Map(failed.map((r) => [r.id, r]));
    for (const [id, report] of this.#reportQueue) queue.set(id, report);
    this.#reportQueue = queue;
  }

  /**
   * The report with the log entries the retained-bytes budget spilled read back, so the stored
   * report is the whole log (its chain from the start): from the report stored before (a note
   * added after the end stores it again, once the journal is gone), else from the journal.
   */
  async #withSpilled(report: SessionReport): Promise<SessionReport> {
    if (report.logEntriesSpilled === 0) return report;
    const stored = this.reportStore.document(report.id);
    if (stored !== null) return withStoredLog(report, stored);
    if (this.journals === null) return report;
    const first = report.log[0]?.seq ?? Number.POSITIVE_INFINITY;
    const { sessions, older } = await this.journals.readLog(report.id, first);
    return {
      ...report,
      log: [...older, ...report.log],
      logEntriesSpilled: report.logEntriesSpilled - older.length,
      logChainStart: sessions,
    };
  }

  /**
   * Rebuilds the sessions the journals kept (a restart after kill -9, SIGTERM or an upgrade).
   * Journals of ended sessions are removed once their report is stored (rebuilt from the journal
   * when the gateway died before storing it); damaged or unreadable ones are left for an
   * operator and logged.
   */
  async #restoreSessions(): Promise<void> {
    const journals = this.journals;
    if (journals === null) return;
    const { sessions, skipped } = await journals.restore();
    const now = this.clock();
    for (const j of sessions) {
      try {
        this.registry.restore(j, now);
        journals.counters.restored++;
      } catch (err) {
        journals.counters.notRestored++;
        this.logger.error({ err, session: j.id }, 'cannot restore a session from its journal');
      }
    }
    for (const s of skipped) {
      if ('corrupt' in s) {
        this.logger.warn({ session: s.id, problem: s.corrupt }, 'session journal not restored');
        continue;
      }
      if (s.skipped === 'ended' && !this.reportStore.has(s.id) && !this.#recoverReport(s.ended)) {
        this.logger.warn(
          { session: s.id, journal: journals.dir },
          'an ended session has a journal but no report, and none could be rebuilt: the journal is kept',
        );
        continue;
      }
      await journals.remove(s.id);
    }
    if (sessions.length > 0 || skipped.length > 0) {
      this.logger.info(
        { restored: journals.counters.restored, notRestored: skipped.length },
        'sessions restored from their journals',
      );
    }
  }

  /**
   * Retention: reports created more than `reportRetentionDays` before `nowMs` leave the index
   * and the disk, with their shell recordings. Runs on the shared clock once an hour.
   */
  #pruneReports(nowMs: number): void {
    const days = this.config.reportRetentionDays;
    if (days <= 0) return;
    try {
      const ids = this.reportStore.prune(nowMs - days * 86_400_000);
      for (const id of ids) {
        this.registry.reports.delete(id);
        fs.rm(recordingsDir(this.config.dataDir, id), { recursive: true, force: true }).catch(
          (err: unknown) => this.logger.warn({ err, session: id }, 'cannot remove recordings'),
        );
      }
      if (ids.length > 0) this.logger.info({ reports: ids.length, days }, 'old reports pruned');
    } catch (err) {
      this.logger.error({ err }, 'report retention failed');
    }
  }

  /** Resolves once the gateway has stopped (a drain asked for through the admin API included). */
  stopped(): Promise<void> {
    return this.#stopped;
  }

  /**
   * The gateway was killed between a session's end and its report being stored: the report is
   * rebuilt from the journal and stored now. False (logged) when it could not be.
   */
  #recoverReport(ended: EndedJournal | null): boolean {
    if (ended === null) return false;
    try {
      this.reportStore.add(reportFromJournal(ended, this.clock()));
    } catch (err) {
      this.logger.error({ err, session: ended.id }, 'cannot rebuild a session report');
      return false;
    }
    this.logger.warn(
      { session: ended.id },
      'the report of a session that ended before a crash was rebuilt from its journal',
    );
    return true;
  }

  /**
   * Stores the reports queued so far now, without waiting for the beat; resolves once they are
   * stored, or refused by the store (logged, and tried again later).
   */
  async reportsWritten(): Promise<void> {
    // a pass that runs now may have started before the last reports came: one more after it
    await this.#reportDrain;
    await this.#startReportDrain(true);
  }

  /** What the metrics and the status API read, live (getters): they import no gateway module. */
  view(): GatewayView {
    const gateway = this;
    return {
      id: this.id,
      uwsSource: this.uwsSource,
      region: this.config.locationRegion,
      startedAtMs: this.startedAtMs,
      adminToken: this.adminToken,
      actions: this.#actions,
      get draining() {
        return gateway.draining;
      },
      connections: this.connections,
      get relay() {
        return gateway.router.stats;
      },
      sessionTotals: this.registry,
      get sendBudget() {
        return gateway.router.budget;
      },
      retained: this.registry.retained,
      ...(this.journals !== null ? { journal: this.journals.counters } : {}),
      ...(this.fleet !== null ? { directory: this.fleet } : {}),
      direct: {
        up: () => this.relay.direct.upCount,
        connecting: () => this.relay.direct.connectingCount,
        flowing: () => this.relay.direct.flowingCount(),
        counters: this.relay.direct.counters,
        stun: () => this.#stun?.counters ?? null,
      },
      gateways: () => this.#gateways(),
      technicians: () => this.relay.presence.technicians(),
      refused: this.refused,
      tls: {
        certificates: () =>
          [gateway.#tls.client, gateway.#tls.admin].flatMap((site) => site?.certificates() ?? []),
        reloads: (result) =>
          (gateway.#tls.client?.reloads[result] ?? 0) + (gateway.#tls.admin?.reloads[result] ?? 0),
        unknownServerNames: () =>
          (gateway.#tls.client?.unknownNames ?? 0) + (gateway.#tls.admin?.unknownNames ?? 0),
      },
      netstats: this.netstats,
      labels: {
        statuses: Object.values(Status),
        dropReasons: dropReasonNames,
        refusalReasons: RefusalReasons,
      },
      location: this.netstats.location,
      get metrics() {
        return gateway.metrics;
      },
      sessions: this.registry.sessions,
      reports: this.registry.reports,
      revokeToken: (jti) => {
        new DenyList(this.config.dataDir).revoke(jti);
        this.relay.hello.checkRevocations();
      },
      // every session of the view is one of `registry.sessions`
      networkStats: (session) => this.netstats.snapshot(statsView(session as Session)),
      recordingsFlushed: () => this.relay.tools.shells.flushed(),
      recordingPath: (sessionId, file) =>
        RECORDING_FILE.test(file)
          ? path.join(recordingsDir(this.config.dataDir, sessionId), file)
          : null,
    };
  }

  /** Takes `session` out of its statistics slice (it ended, or left this gateway). */
  #unplace(session: Session): void {
    const slot = this.#sessionSlots.get(session);
    if (slot === undefined) return;
    this.#sessionSlots.delete(session);
    this.#statsSlices[slot % this.#statsSlices.length]!.delete(session);
  }

  /** Puts the sessions that appeared since the last tick in the clock's statistics slices. */
  #placeSessions(): void {
    if (this.config.statsIntervalMs <= 0) return;
    for (const session of this.registry.sessions.values()) {
      if (this.#sessionSlots.has(session)) continue;
      const slot = this.#nextSessionSlot++;
      this.#sessionSlots.set(session, slot);
      this.#statsSlices[slot % this.#statsSlices.length]!.add(session);
    }
  }

  /**
   * Graceful drain (SIGTERM): stop accepting (the client port closes, `/readyz` answers 503),
   * tell every client to finish or move within `drainTimeoutSeconds`, wait until the sessions
   * have ended or the deadline passes, then close: every session still open is kept in its
   * journal for the next start (with `--journal off` it ends and its report is written).
   */
  async drain(
    reason = 'gateway draining',
    deadlineMs = this.config.drainTimeoutSeconds * 1000,
    move = false,
  ): Promise<void> {
    if (move && this.fleet !== null) await this.#moveAll(this.fleet, reason);
    if (!this.draining && deadlineMs > 0 && this.registry.sessions.size > 0) {
      this.draining = true;
      this.#client?.close();
      this.logger.info({ sessions: this.registry.sessions.size, deadlineMs }, 'draining');
      for (const conn of this.connections)
        conn.sendFrame(this.#closingFrame(conn, reason, deadlineMs));
      this.#closingSent = true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#drained = null;
    }
    await this.close(reason);
  }

  /** Closing, with `resume` for a participant whose sessions are kept in journals. */
  #closingFrame(conn: Connection, reason: string, deadlineMs: number): Uint8Array {
    const seat = this.registry.placeOf(conn);
    const resume =
      this.journals !== null &&
      seat !== undefined &&
      [...seat.sessions].some((session) => session.journal !== null);
    return eventFrame({ closing: { reason, deadlineMs, resume } });
  }

  /**
   * Stops listening, tells every client, keeps live sessions in their journals (or ends them,
   * reports archived, without journals), closes connections.
   */
  close(reason = 'gateway shutting down'): Promise<void> {
    this.#closed ??= this.#close(reason);
    return this.#closed;
  }

  async #close(reason: string): Promise<void> {
    this.draining = true;
    if (this.#clock !== null) clearInterval(this.#clock);
    clearTimeout(this.#accessRetry);
    this.#stopWatch?.();
    this.#client?.close();
    // Every client is told once, with the real deadline: the drain's, or none left (0) when the
    // gateway closes at once. Then each connection, in a session or not, gets the going-away
    // close (1001), the customers of the sessions ended here included.
    if (!this.#closingSent) {
      for (const conn of this.connections) conn.sendFrame(this.#closingFrame(conn, reason, 0));
      this.#closingSent = true;
    }
    // With journals, live sessions are kept for the next start on this data directory (their
    // clients resume then); without, they end here and their reports are written.
    const kept: Promise<void>[] = [];
    for (const session of [...this.registry.sessions.values()]) {
      if (this.journals !== null && session.journal !== null) {
        session.log.event('gateway_shutdown', 'gateway', `${reason}: kept for the next start`);
        kept.push(this.journals.keep(session, reason, this.clock()));
        continue;
      }
      session.log.event('gateway_shutdown', 'gateway', reason);
      session.endReason = 'gateway shutdown';
      this.registry.end(session);
    }
    await Promise.all(kept);
    for (const conn of [...this.connections])
      conn.end(Codes.SHUTTING_DOWN.close, Codes.SHUTTING_DOWN.code);
    this.#admin?.close();
    await this.#stun?.close();
    // the others see it gone at once (not after the member TTL); its sessions stay published
    await this.fleet?.stop().catch((err: unknown) => {
      this.logger.warn({ err }, 'could not leave the shared directory');
    });
    await this.reportsWritten();
    if (this.#reportQueue.size > 0) {
      // the store refused them to the end: said plainly (a journal written to disk rebuilds its
      // report at the next start; a short session's never was)
      this.logger.error(
        { sessions: [...this.#reportQueue.keys()] },
        'session reports not stored: the report store refused them until the gateway stopped',
      );
    }
    // shell recordings closed with their sessions finish writing before the process may exit
    await this.relay.tools.shells.flushed();
    this.reportStore.close();
    this.audit.close();
    this.logger.info({ sessionsEnded: this.registry.ended }, 'gateway stopped');
    this.#markStopped();
  }
}

/** Every address of this host's interfaces (a direct-path candidate naming one with our port is ours). */
function ownAddresses(): string[] {
  const all = ['127.0.0.1', '::1'];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (!all.includes(a.address)) all.push(a.address);
  }
  return all;
}

/** The host clients reach the STUN port at: `--stun-host`, else --public-url's, else the bind address. */
function stunHostOf(config: Config): string {
  if (config.stunHost !== '') return config.stunHost;
  if (config.publicUrl !== '') return new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, '');
  return config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
}

/** The gateway's id: `--gateway-id`, else <hostname>-<port>. */
function gatewayIdOf(config: Config): string {
  return config.gatewayId || `${os.hostname()}-${config.port}`;
}

/** A Redis URL without its password, for logs. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis://?';
  }
}

/**
 * Special actions, elevation and unattended access: the jump client and support button
 * registry (`<dataDir>/unattended.json`, key digests peppered with the gateway secret; in a
 * deployment the shared directory's, peppered with the secret all its gateways share, the file
 * read only to be copied there) and the operator's canned scripts. A bad file is a
 * configuration error.
 */
async function openAccess(config: Config, fleet: Fleet | null): Promise<AccessStores> {
  try {
    const scripts = CannedScriptLibrary.load(config.cannedScriptsFile);
    const options = { dir: config.dataDir, pepper: config.secret };
    if (fleet === null) {
      return { jumpClients: await JumpClientRegistry.open(options), scripts, shared: null };
    }
    const registry = new SharedUnattendedRegistry(fleet.shared, { pepper: config.secret });
    const kept = await fs.access(path.join(config.dataDir, REGISTRY_FILE)).then(
      () => true,
      () => false,
    );
    const file = kept ? await JumpClientRegistry.open(options) : null;
    return { jumpClients: registry, scripts, shared: { registry, file } };
  } catch (err) {
    if (
      err instanceof RangeError ||
      (err as { code?: string }).code === 'FERRY_ERR_REGISTRY_CORRUPT'
    )
      throw new ConfigError((err as Error).message);
    throw err;
  }
}

/**
 * The operator audit log and the report store. A broken audit chain is reported, not
 * repaired (the log goes on from its last line).
 */
function openRecords(config: Config, logger: Logger): RecordStores {
  const { log: audit, verdict } = AuditLog.open(path.join(config.dataDir, 'audit.log'));
  if (!verdict.ok) {
    logger.error(
      { file: audit.file, line: verdict.line, reason: verdict.reason },
      'the audit log fails verification: it was changed outside the gateway',
    );
  }
  const opened = ReportStore.open(config.dataDir);
  if (opened.imported > 0 || opened.unreadable > 0) {
    logger.info(
      { file: opened.store.file, imported: opened.imported, unreadable: opened.unreadable },
      'report files imported into the report store',
    );
  }
  if (opened.store.unparsable.length > 0) {
    logger.warn(
      { file: opened.store.file, reports: opened.store.unparsable },
      'report store: stored reports whose JSON does not parse; a text search cannot find them',
    );
  }
  if (opened.store.migrated > 0) {
    logger.info(
      { file: opened.store.file, reports: opened.store.migrated },
      'report store: log text of reports an earlier gateway stored made from their documents',
    );
  }
  return { audit, reportStore: opened.store };
}
