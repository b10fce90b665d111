/**
 * The relay scenarios of issue 5 as data, their default timings, and the spec the runner hands
 * to a generator process. A scenario names what is offered; the targets are measured on it in
 * turn. Sizes are whole WebSocket payloads (= Ferry frames) in bytes. A `-tls` scenario is its
 * plain twin over TLS (wss://), on Ferry and the bare uWS relay only, with one certificate.
 */
export type ScenarioKind = 'throughput' | 'pingpong' | 'fleet' | 'churn';

export interface Scenario {
  readonly name: string;
  readonly kind: ScenarioKind;
  readonly title: string;
  /** Technician/customer pairs (churn: concurrent set-up/tear-down loops). */
  readonly pairs: number;
  /** throughput, pingpong: frame size. */
  readonly size: number;
  /** throughput: frames in flight (sent, not yet received) per pair. */
  readonly window: number;
  /** fleet: customer -> technician SCREEN frame size and period. */
  readonly screenBytes: number;
  readonly screenEveryMs: number;
  /** fleet: technician -> customer INPUT frame size and period. */
  readonly inputBytes: number;
  readonly inputEveryMs: number;
  /** Over TLS: the targets serve wss:// with one test certificate (bench/relay/tls.ts). */
  readonly tls: boolean;
}

const base = {
  pairs: 1,
  size: 0,
  window: 0,
  screenBytes: 0,
  screenEveryMs: 0,
  inputBytes: 0,
  inputEveryMs: 0,
  tls: false,
};

/** The same load over TLS: named `<name>-tls`, compared with its twin (Ferry TLS/plain). */
const overTls = (s: Scenario): Scenario => ({
  ...s,
  name: `${s.name}-tls`,
  title: `${s.title}; over TLS`,
  tls: true,
});

const throughput = (name: string, size: number, window: number): Scenario => ({
  ...base,
  name,
  kind: 'throughput',
  title: `1 pair, ${sizeLabel(size)} SCREEN frames customer -> technician, pipelined, window ${window}`,
  size,
  window,
});

const pingpong = (name: string, size: number): Scenario => ({
  ...base,
  name,
  kind: 'pingpong',
  title: `1 pair, ${sizeLabel(size)} SCREEN out, ${sizeLabel(size)} INPUT back, one frame in flight`,
  size,
});

const fleet = (pairs: number): Scenario => ({
  ...base,
  name: `fleet-${pairs}`,
  kind: 'fleet',
  title: `${pairs} pairs, each a 16 KiB SCREEN every 100 ms + a 64 B INPUT every 50 ms`,
  pairs,
  screenBytes: 16 * 1024,
  screenEveryMs: 100,
  inputBytes: 64,
  inputEveryMs: 50,
});

const churn: Scenario = {
  ...base,
  name: 'churn',
  kind: 'churn',
  title: '16 loops: connect both legs, set up a session, relay one 64 B frame, tear down',
  pairs: 16,
  size: 64,
};

const PLAIN: readonly Scenario[] = [
  // windows keep about 64-512 KiB in flight: below Ferry's 1 MiB screen-drop threshold
  throughput('throughput-64', 64, 1024),
  throughput('throughput-1k', 1024, 256),
  throughput('throughput-64k', 64 * 1024, 8),
  pingpong('pingpong-64', 64),
  pingpong('pingpong-1k', 1024),
  pingpong('pingpong-64k', 64 * 1024),
  fleet(100),
  fleet(1000),
  churn,
];

export const SCENARIOS: readonly Scenario[] = [
  ...PLAIN,
  ...['throughput-64', 'throughput-64k', 'churn'].map((name) =>
    overTls(PLAIN.find((s) => s.name === name)!),
  ),
];

/** The plain scenario a TLS scenario repeats (`throughput-64` for `throughput-64-tls`). */
export function plainTwin(s: Scenario): string {
  return s.tls ? s.name.replace(/-tls$/, '') : s.name;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/**
 * `all`, a name, a kind (`throughput`: its plain scenarios), `tls` (every TLS scenario) or a
 * comma list of those.
 */
export function selectScenarios(arg: string): Scenario[] {
  const picked = new Set<Scenario>();
  for (const raw of arg.split(',')) {
    const word = raw.trim();
    if (word === '') continue;
    const matches = SCENARIOS.filter(
      (s) =>
        word === 'all' ||
        s.name === word ||
        (s.kind === word && !s.tls) ||
        (word === 'tls' && s.tls),
    );
    if (matches.length === 0) {
      throw new Error(
        `unknown scenario "${word}"; one of: all, tls, ${[...new Set(SCENARIOS.flatMap((s) => [s.kind, s.name]))].join(', ')}`,
      );
    }
    for (const s of matches) picked.add(s);
  }
  return SCENARIOS.filter((s) => picked.has(s));
}

export interface Timing {
  /** Traffic runs but is not counted. */
  readonly warmupMs: number;
  /** The measured window. */
  readonly durationMs: number;
  /** fleet: both legs connected, no traffic, heartbeats on, before RSS is read for memory per session. */
  readonly idleMs: number;
  /** After the window: sending stops and frames still in flight may arrive (then: dropped). */
  readonly drainMs: number;
}

export function defaultTiming(kind: ScenarioKind, quick: boolean, durationS?: number): Timing {
  const duration = durationS !== undefined ? durationS * 1000 : undefined;
  if (quick) {
    return {
      warmupMs: 200,
      durationMs: duration ?? 500,
      idleMs: kind === 'fleet' ? 300 : 0,
      drainMs: 500,
    };
  }
  switch (kind) {
    case 'throughput':
    case 'pingpong':
      return { warmupMs: 1000, durationMs: duration ?? 3000, idleMs: 0, drainMs: 1000 };
    case 'fleet':
      // idle > one heartbeat interval (2 s): every connection has been pinged once
      return { warmupMs: 1000, durationMs: duration ?? 4000, idleMs: 2500, drainMs: 2000 };
    default:
      // churn: a just-started gateway compiles its set-up path for seconds (docs/benchmarks.md,
      // "Churn: where session setup goes", finding 11); the window measures a warm one, and the
      // result reports the warm-up's own figure beside it
      return { warmupMs: 6000, durationMs: duration ?? 3000, idleMs: 0, drainMs: 1000 };
  }
}

export const TARGET_NAMES = ['ferry', 'bare-uws', 'naive-ws'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
/** The targets of the TLS scenarios: the naive `ws` relay has no TLS of its own here. */
export const TLS_TARGET_NAMES: readonly TargetName[] = ['ferry', 'bare-uws'];

/** How the generator reaches a target over TLS. */
export interface TargetTls {
  /** PEM file of the CA that signed the targets' certificate (the generator verifies). */
  readonly caFile: string;
  /** The server name the generator sends (SNI) and checks the certificate against. */
  readonly servername: string;
}

/** What the generator needs to know about a running target (from its "target" line). */
export interface TargetInfo {
  readonly name: TargetName;
  readonly pid: number;
  readonly port: number;
  /** ferry: /v1/ws; the pair relays: / plus ?pair=ID&side=a|b */
  readonly path: string;
  /** ferry only: signs technician tokens. */
  readonly secret: string;
  /** Set when the target serves wss:// (a TLS scenario). */
  readonly tls?: TargetTls;
}

export interface GeneratorSpec {
  readonly scenario: Scenario;
  readonly target: TargetInfo;
  readonly timing: Timing;
  /** Worker threads; 1 = everything on the generator's main thread. */
  readonly workers: number;
}
