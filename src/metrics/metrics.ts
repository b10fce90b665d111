/**
 * The gateway's Prometheus metrics: one prom-client `Registry` per gateway (never the global
 * one), served on the admin port. Everything the hot path counts (RelayStats typed arrays,
 * registry counters, connection links) is read at scrape time in `collect`; the only values
 * pushed as they happen are RTT samples, once per heartbeat per connection, into histogram
 * children bound once per role. Label values come from closed sets (role, status, channel,
 * direction, reason, grade, code, handler); no session or connection ids. Everything is read
 * through `MetricsSource` (./source.ts), never from the gateway's objects themselves.
 *
 * Counters derived from gateway totals are re-set on each scrape (`reset()` then `inc(total)`),
 * which keeps them monotonic because the totals they mirror only grow. Node's default process
 * metrics keep their standard unprefixed names (`process_*`, `nodejs_*`) so stock dashboards and
 * alerts work unchanged; every Ferry metric is prefixed `ferry_`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CONNECTIVITY_NAMES } from '../netstats/grades.js';
import { Codes } from '../protocol/codes.js';
import { CHANNEL_COUNT, Channel, channelName, Role } from '../protocol/frames.js';
import { VERSION } from '../version.js';
import type { MetricsSource, RelayCounters } from './source.js';

/** Seconds; the grade boundaries of spec NS-D1 (0.05, 0.15, 0.3) and the 5 s stall (NS-D6) are bounds. */
export const RTT_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5,
] as const;

/** Label value of `role` by a connection's role (0 = no Hello yet). */
export const ROLE_LABELS = ['pending', 'technician', 'customer'] as const;
const PARTICIPANT_ROLES = [Role.ROLE_TECHNICIAN, Role.ROLE_CUSTOMER] as const;

const GRADE_VALUES = Object.keys(CONNECTIVITY_NAMES).map(Number);
const KNOWN_ERROR_CODES: ReadonlySet<string> = new Set(
  Object.values(Codes).map((entry) => entry.code),
);

/**
 * prom-client gauges named like counters, which `promtool check metrics` rejects; the same numbers
 * remain as `sum(nodejs_active_handles)` etc. over the per-type gauges.
 */
const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** Channel numbers that carry frames (CHANNEL_UNSPECIFIED = 0 never does). */
const CHANNELS = Array.from({ length: CHANNEL_COUNT - 1 }, (_, i) => i + 1);

type ChannelDirection = { channel: string; direction: 'in' | 'out' };
type ChannelReason = { channel: string; reason: string };

/** Label objects built once, reused on every scrape. */
const directionLabels = CHANNELS.map((ch) => ({
  in: { channel: channelName(ch), direction: 'in' } as ChannelDirection,
  out: { channel: channelName(ch), direction: 'out' } as ChannelDirection,
}));

/** A connection as an RTT sample names it: by role only. */
export interface RoleHolder {
  readonly role: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  /** Indexed by a connection's role; index 0 is unused (pending connections are never pinged). */
  readonly #rttByRole: (Histogram.Internal<'role'> | null)[];
  readonly #stallsByRole: (Counter.Internal | null)[];

  constructor(source: MetricsSource, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    /** A counter whose value is a total the gateway keeps, read at scrape time. */
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    const stats = () => source.relay;
    const totals = () => source.sessionTotals;
    const { statuses, dropReasons, refusalReasons } = source.labels;
    const dropLabels: ChannelReason[][] = CHANNELS.map((ch) =>
      dropReasons.map((reason) => ({ channel: channelName(ch), reason })),
    );

    const rtt = new Histogram({
      name: 'ferry_rtt_seconds',
      help: 'Heartbeat round-trip time gateway <-> participant; stalled probes count as the stall value (spec NS-D6)',
      labelNames: ['role'] as const,
      buckets: [...RTT_BUCKETS_SECONDS],
      registers,
    });
    const stalls = new Counter({
      name: 'ferry_heartbeat_stalls_total',
      help: 'Heartbeat pings unanswered within the stall deadline (censored RTT samples)',
      labelNames: ['role'] as const,
      registers,
    });
    this.#rttByRole = [null, null, null];
    this.#stallsByRole = [null, null, null];
    for (const role of PARTICIPANT_ROLES) {
      const label = ROLE_LABELS[role];
      rtt.zero({ role: label });
      this.#rttByRole[role] = rtt.labels(label);
      this.#stallsByRole[role] = stalls.labels(label);
      stalls.inc({ role: label }, 0);
    }

    new Gauge({
      name: 'ferry_connections',
      help: 'Open client connections by role (pending = no Hello yet)',
      labelNames: ['role'] as const,
      registers,
      collect() {
        const counts = [0, 0, 0];
        for (const conn of source.connections) counts[conn.role]!++;
        for (let r = 0; r < ROLE_LABELS.length; r++) {
          this.set({ role: ROLE_LABELS[r]! }, counts[r]!);
        }
      },
    });
    new Counter({
      name: 'ferry_connections_opened_total',
      help: 'Client connections accepted',
      registers,
      collect() {
        this.reset();
        this.inc(stats().connectionsOpened);
      },
    });
    new Counter({
      name: 'ferry_connections_closed_total',
      help: 'Client connections closed',
      registers,
      collect() {
        this.reset();
        this.inc(stats().connectionsClosed);
      },
    });

    new Gauge({
      name: 'ferry_sessions',
      help: 'Live sessions by status (docs/spec/session-states.json)',
      labelNames: ['status'] as const,
      registers,
      collect() {
        const counts = totals().counts();
        for (const status of statuses) this.set({ status }, counts[status] ?? 0);
      },
    });
    new Counter({
      name: 'ferry_sessions_created_total',
      help: 'Sessions created',
      registers,
      collect() {
        this.reset();
        this.inc(totals().created);
      },
    });
    new Counter({
      name: 'ferry_sessions_ended_total',
      help: 'Sessions ended (report archived)',
      registers,
      collect() {
        this.reset();
        this.inc(totals().ended);
      },
    });
    new Gauge({
      name: 'ferry_pins_open',
      help: 'Customer PINs issued and not yet used or expired',
      registers,
      collect() {
        this.set(totals().openPins);
      },
    });
    new Counter({
      name: 'ferry_pin_attempts_total',
      help: 'Customer PIN attempts by result',
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'accepted' }, totals().pinAccepted);
        this.inc({ result: 'rejected' }, totals().pinRejected);
        this.inc({ result: 'rate_limited' }, totals().pinRateLimited);
      },
    });
    new Counter({
      name: 'ferry_transitions_refused_total',
      help: 'Session transitions the state machine refused on a timer or a lost connection (each is logged)',
      registers,
      collect() {
        this.reset();
        this.inc(totals().refusedTransitions);
      },
    });
    new Counter({
      name: 'ferry_connections_refused_total',
      help: 'WebSocket upgrades refused before a connection existed, by reason',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const reason of refusalReasons) this.inc({ reason }, source.refused[reason] ?? 0);
      },
    });
    const tls = source.tls;
    if (tls !== undefined) {
      new Gauge({
        name: 'ferry_tls_certificate_expiry_seconds',
        help: 'Seconds until a certificate the gateway serves expires, by port and server name (default = clients sending no or an unknown name)',
        labelNames: ['port', 'name'] as const,
        registers,
        collect() {
          this.reset();
          const now = Date.now();
          for (const c of tls.certificates()) {
            this.set({ port: c.port, name: c.name || 'default' }, (c.notAfterMs - now) / 1000);
          }
        },
      });
      new Counter({
        name: 'ferry_tls_reloads_total',
        help: 'Certificate reloads (SIGHUP or a change of the files) by result: ok, failed (the old certificate stays), unchanged',
        labelNames: ['result'] as const,
        registers,
        collect() {
          this.reset();
          for (const result of ['ok', 'failed', 'unchanged'] as const) {
            this.inc({ result }, tls.reloads(result));
          }
        },
      });
      new Counter({
        name: 'ferry_tls_unknown_server_names_total',
        help: 'TLS handshakes naming a server (SNI) the gateway has no certificate for; they get the default certificate. Other handshake failures are not visible to the gateway (docs/tls.md)',
        registers,
        collect() {
          this.reset();
          this.inc(tls.unknownServerNames());
        },
      });
    }
    new Gauge({
      name: 'ferry_send_buffer_bytes',
      help: "Bytes waiting in all client connections' send buffers (the gateway's send budget in use)",
      registers,
      collect() {
        this.set(source.sendBudget.used);
      },
    });
    new Gauge({
      name: 'ferry_send_budget_bytes',
      help: 'The gateway-wide send budget (--global-buffered-bytes)',
      registers,
      collect() {
        this.set(source.sendBudget.limitBytes);
      },
    });
    new Gauge({
      name: 'ferry_retained_bytes',
      help: 'Session log text held in memory by live sessions (counted against --retained-bytes)',
      registers,
      collect() {
        this.set(source.retained.used);
      },
    });
    new Gauge({
      name: 'ferry_retained_budget_bytes',
      help: 'The gateway-wide budget for retained session log text (--retained-bytes)',
      registers,
      collect() {
        this.set(source.retained.limit);
      },
    });
    new Counter({
      name: 'ferry_retained_spills_total',
      help: 'Session log entries moved out of memory to their journal (or dropped without one) because --retained-bytes was reached',
      registers,
      collect() {
        this.reset();
        this.inc(source.retained.spills);
      },
    });
    new Counter({
      name: 'ferry_retained_spilled_bytes_total',
      help: 'Bytes of the entries counted in ferry_retained_spills_total',
      registers,
      collect() {
        this.reset();
        this.inc(source.retained.spilledBytes);
      },
    });
    const journal = source.journal;
    if (journal !== undefined) {
      new Gauge({
        name: 'ferry_journals_open',
        help: 'Live sessions with an open journal under <dataDir>/journal/',
        registers,
        collect() {
          this.set(journal.open);
        },
      });
      total(
        'ferry_journal_errors_total',
        'Journal writes, fsyncs and closes that failed, and journals that could not be opened',
        () => journal.errors + journal.openFailures,
      );
      total(
        'ferry_journal_sessions_restored_total',
        'Sessions rebuilt from their journals when the gateway started',
        () => journal.restored,
      );
      total(
        'ferry_journal_sessions_not_restored_total',
        'Journals found at start that were not rebuilt (ended, damaged, a team queue session)',
        () => journal.notRestored,
      );
      total(
        'ferry_journal_corrupt_records_total',
        'Damaged journal lines (CRC or JSON) and torn last records skipped while reading journals',
        () => journal.corruptRecords,
      );
    }

    const directory = source.directory;
    if (directory !== undefined) {
      new Gauge({
        name: 'ferry_directory_up',
        help: 'The shared directory (--directory redis://) answers: 1, or 0 while new sessions are refused',
        registers,
        collect() {
          this.set(directory.available ? 1 : 0);
        },
      });
      new Counter({
        name: 'ferry_directory_redirects_total',
        help: 'Clients sent to the gateway that owns what they named, by what they named (pin, resume, session, jump_client)',
        labelNames: ['reason'],
        registers,
        collect() {
          this.reset();
          for (const [reason, n] of Object.entries(directory.counters.redirects)) {
            this.inc({ reason }, n);
          }
        },
      });
      new Counter({
        name: 'ferry_directory_failures_total',
        help: 'Shared directory lookups and publishes that failed because the store could not be reached',
        registers,
        collect() {
          this.reset();
          this.inc(directory.counters.failures);
        },
      });
    }

    const direct = source.direct;
    if (direct !== undefined) {
      new Gauge({
        name: 'ferry_direct_paths',
        help: 'Direct paths (docs/direct-path.md) by state: connecting (signalling) or up (the data channel open at both ends)',
        labelNames: ['state'],
        registers,
        collect() {
          this.set({ state: 'connecting' }, direct.connecting());
          this.set({ state: 'up' }, direct.up());
        },
      });
      new Gauge({
        name: 'ferry_direct_p2p_legs',
        help: 'Technician legs whose SCREEN and INPUT frames flow direct now, as both ends keep reporting (the statistics P2P flag)',
        registers,
        collect() {
          this.set(direct.flowing());
        },
      });
      total(
        'ferry_direct_opened_total',
        'Direct-path attempts the gateway offered',
        () => direct.counters.opened,
      );
      total(
        'ferry_direct_up_total',
        'Direct-path attempts that came up at both ends',
        () => direct.counters.up,
      );
      total(
        'ferry_direct_signals_refused_total',
        'Direct-path signals refused with a coded error (malformed, wrong sender, stale attempt, over the cap)',
        () => direct.counters.signalsRefused,
      );
      const byLabel = (
        name: string,
        help: string,
        label: string,
        read: () => ReadonlyMap<string, number>,
      ) =>
        new Counter({
          name,
          help,
          labelNames: [label],
          registers,
          collect() {
            this.reset();
            for (const [value, n] of read()) this.inc({ [label]: value }, n);
          },
        });
      byLabel(
        'ferry_direct_closed_total',
        'Direct-path attempts ended, by cause',
        'cause',
        () => direct.counters.closed,
      );
      byLabel(
        'ferry_direct_candidates_dropped_total',
        'ICE candidates the gateway did not pass on, by why (policy, network, link-local, own-port, limit, sdp)',
        'verdict',
        () => direct.counters.candidatesDropped,
      );
      new Counter({
        name: 'ferry_stun_requests_total',
        help: 'Datagrams on the STUN port (--stun-port) by outcome: answered, malformed (dropped), rate_limited (dropped)',
        labelNames: ['outcome'],
        registers,
        collect() {
          this.reset();
          const stun = direct.stun();
          if (stun === null) return;
          this.inc({ outcome: 'answered' }, stun.answered);
          this.inc({ outcome: 'malformed' }, stun.malformed);
          this.inc({ outcome: 'rate_limited' }, stun.rateLimited);
        },
      });
    }

    /** One in/out counter pair per channel, from two of the relay's per-channel arrays. */
    const relayed = (
      name: string,
      help: string,
      pick: (s: RelayCounters) => readonly [ArrayLike<number>, ArrayLike<number>],
    ) =>
      new Counter({
        name,
        help,
        labelNames: ['channel', 'direction'] as const,
        registers,
        collect() {
          const [inbound, outbound] = pick(stats());
          this.reset();
          for (let i = 0; i < CHANNELS.length; i++) {
            this.inc(directionLabels[i]!.in, inbound[CHANNELS[i]!]!);
            this.inc(directionLabels[i]!.out, outbound[CHANNELS[i]!]!);
          }
        },
      });
    relayed(
      'ferry_relayed_frames_total',
      'Frames by channel; in = received from clients, out = relayed to clients (once per receiver)',
      (s) => [s.inFrames, s.outFrames],
    );
    relayed(
      'ferry_relayed_bytes_total',
      'Frame bytes by channel; in = received from clients, out = relayed to clients (once per receiver)',
      (s) => [s.inBytes, s.outBytes],
    );
    new Counter({
      name: 'ferry_refusals_excused_total',
      help: 'SCREEN and INPUT frames refused within --input-grace-ms of a revoke, hand-over or status change: dropped without an Error or a strike, by channel',
      labelNames: ['channel'] as const,
      registers,
      collect() {
        const excused = stats().excused;
        this.reset();
        for (const ch of [Channel.CHANNEL_SCREEN, Channel.CHANNEL_INPUT])
          this.inc({ channel: channelName(ch) }, excused[ch] ?? 0);
      },
    });
    new Counter({
      name: 'ferry_dropped_frames_total',
      help: 'Frames not delivered to a receiver, by channel and reason',
      labelNames: ['channel', 'reason'] as const,
      registers,
      collect() {
        const dropped = stats().dropped;
        const reasons = dropReasons.length;
        this.reset();
        for (let i = 0; i < CHANNELS.length; i++) {
          for (let r = 0; r < reasons; r++) {
            this.inc(dropLabels[i]![r]!, dropped[CHANNELS[i]! * reasons + r]!);
          }
        }
      },
    });
    new Counter({
      name: 'ferry_malformed_frames_total',
      help: 'Binary messages whose channel could not be read',
      registers,
      collect() {
        this.reset();
        this.inc(stats().malformed);
      },
    });
    new Counter({
      name: 'ferry_errors_total',
      help: 'Coded errors the gateway answered with, by FERRY_ERR_* code',
      labelNames: ['code'] as const,
      registers,
      collect() {
        const errors = stats().errors;
        this.reset();
        for (const code of KNOWN_ERROR_CODES) this.inc({ code }, errors.get(code) ?? 0);
        for (const [code, n] of errors) if (!KNOWN_ERROR_CODES.has(code)) this.inc({ code }, n);
      },
    });
    new Counter({
      name: 'ferry_handler_errors_total',
      help: 'Frames whose handler threw, by handler (caught at the dispatch point: the sender got FERRY_ERR_INTERNAL, other sessions went on)',
      labelNames: ['handler'] as const,
      registers,
      collect() {
        this.reset();
        for (const [handler, n] of stats().handlerErrors) this.inc({ handler }, n);
      },
    });

    new Gauge({
      name: 'ferry_participants',
      help: 'Connected participants by role and connectivity grade of their average RTT (spec NS-D1, NS-D4)',
      labelNames: ['role', 'grade'] as const,
      registers,
      collect() {
        const counts = new Float64Array(ROLE_LABELS.length * GRADE_VALUES.length);
        for (const conn of source.connections) {
          if (conn.role === 0) continue;
          counts[conn.role * GRADE_VALUES.length + conn.link.status]!++;
        }
        for (const role of PARTICIPANT_ROLES) {
          for (const grade of GRADE_VALUES) {
            this.set(
              {
                role: ROLE_LABELS[role],
                grade: CONNECTIVITY_NAMES[grade as keyof typeof CONNECTIVITY_NAMES],
              },
              counts[role * GRADE_VALUES.length + grade]!,
            );
          }
        }
      },
    });
    new Counter({
      name: 'ferry_network_alerts_total',
      help: 'Poor-network notifications sent to technicians (spec NS-D13), by event',
      labelNames: ['event'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ event: 'raised' }, source.netstats.alertsRaised);
        this.inc({ event: 'cleared' }, source.netstats.alertsCleared);
      },
    });

    new Gauge({
      name: 'ferry_gateway_info',
      help: 'Constant 1, labelled with the gateway id, version, region and uWebSockets.js source',
      labelNames: ['id', 'version', 'region', 'uws'] as const,
      registers,
      collect() {
        this.reset();
        this.set(
          {
            id: source.id,
            version: VERSION,
            region: source.region,
            uws: source.uwsSource,
          },
          1,
        );
      },
    });
    new Gauge({
      name: 'ferry_uptime_seconds',
      help: 'Seconds since the gateway started',
      registers,
      collect() {
        this.set((Date.now() - source.startedAtMs) / 1000);
      },
    });
    new Gauge({
      name: 'ferry_draining',
      help: '1 while the gateway is shutting down and refuses new connections',
      registers,
      collect() {
        this.set(source.draining ? 1 : 0);
      },
    });

    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(name);
    }
  }

  /** One heartbeat sample of `conn` (censored = a stalled probe recorded at the stall value). */
  observeRtt(conn: RoleHolder, rttMs: number, censored = false): void {
    this.#rttByRole[conn.role]?.observe(rttMs / 1000);
    if (censored) this.#stallsByRole[conn.role]?.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
