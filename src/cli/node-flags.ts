/**
 * How Node is launched for a gateway: the flags that `bin/ferry.js` (its `#!` line), `npm start`,
 * `ferry serve --workers N`, the systemd unit, the container image and the benches all pass, and
 * the environment all of them but the `#!` line set (it starts every command, clients too, and a
 * variable, unlike a flag, reaches the programs a command runs).
 *
 * `--max-semi-space-size=4` caps V8's young generation at two 4 MiB semi-spaces. Without it, the
 * first burst of connections (1000 pairs' handshakes) grows them to V8's maximum (16 MiB each on
 * a host with a few GiB of memory or more), and they do not shrink again: 22 MiB of a gateway's
 * RSS that no session uses. Measured with the fleet of 1000 idle pairs (docs/benchmarks.md, "Idle
 * memory per session"): RSS 129 → 107 MiB, 53 → 30 KiB per idle session, with no loss of frame p99, throughput or churn; 2 MiB saved 3 MiB
 * more and 8 MiB 7 MiB less. The flag must be given at launch: V8 sizes the heap before any
 * JavaScript runs (`v8.setFlagsFromString` has no effect on it).
 *
 * On hosts with less memory (about 1 GiB) V8 picks a smaller maximum itself; there the flag raises
 * it to 4 MiB. A flag on node's command line wins over NODE_OPTIONS: where Ferry puts its value on
 * the command line (the `#!` line, npm start, workers) an operator sets theirs there too; the
 * systemd unit and the container image set it in NODE_OPTIONS, which their settings override.
 */

/** Ferry's flags for a gateway process, in the form node takes them on its command line. */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * The environment a gateway's node starts with, besides its flags: two settings of glibc's malloc
 * that keep the native memory the first burst of connections grows (docs/benchmarks.md, "glibc's
 * malloc at launch"; 27 → 18-22 KiB per idle session over the first 1000 pairs).
 *
 * - `MALLOC_ARENA_MAX=2`: at most two arenas. By default each thread that allocates may get one
 *   of its own (up to eight a core), and V8's helper threads and libuv's pool keep what they
 *   freed in theirs: 4-5 MiB after 1000 pairs' handshakes.
 * - `MALLOC_MMAP_THRESHOLD_=131072`: blocks of 128 KiB and more always get pages of their own,
 *   returned when freed. glibc starts at that value but raises it to the size of each such block
 *   freed, up to 32 MiB; the large blocks of V8's optimizing compiler then come from the heap and
 *   leave it fragmented: 2-3 MiB more after the same burst. Fixing the value stops that.
 *
 * glibc reads them when the process starts, so like the flags they are given at launch; a value
 * already in the environment wins. An empty value is not glibc's default (an empty
 * MALLOC_MMAP_THRESHOLD_ is 0: every block gets pages of its own): Ferry treats it as missing.
 */
export const GATEWAY_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/** `env` with Ferry's launch variables added where `env` does not set them itself. */
export function gatewayEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const [name, value] of Object.entries(GATEWAY_ENV)) {
    if (!out[name]) out[name] = value;
  }
  return out;
}

/**
 * Ferry's launch variables this process started without, as `NAME=value`. Only where they mean
 * something: glibc's malloc reads them, other C libraries (musl, macOS) do not.
 */
export function envNotInForce(
  env: NodeJS.ProcessEnv = process.env,
  glibc: boolean = runsOnGlibc(),
): string[] {
  if (!glibc) return [];
  return Object.entries(GATEWAY_ENV)
    .filter(([name]) => !env[name])
    .map(([name, value]) => `${name}=${value}`);
}

/** Whether node runs on glibc (its diagnostic report names the version; about 8 ms, once). */
function runsOnGlibc(): boolean {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })
    ?.header;
  return header?.glibcVersionRuntime !== undefined;
}

/** The name part of `--name=value` or `--name value`: V8 treats `_` and `-` alike. */
function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq < 0 ? arg : arg.slice(0, eq)).replaceAll('_', '-');
}

/** The flags of GATEWAY_NODE_FLAGS whose name is not among `given` (node's own arguments). */
export function missingNodeFlags(given: readonly string[]): string[] {
  const names = new Set(given.map(flagName));
  return GATEWAY_NODE_FLAGS.filter((flag) => !names.has(flagName(flag)));
}

/**
 * Node arguments for a gateway process: `given` (an operator's or a bench's flags) and then
 * Ferry's flags that `given` does not set itself.
 */
export function gatewayNodeFlags(given: readonly string[] = []): string[] {
  return [...given, ...missingNodeFlags(given)];
}

/**
 * The node arguments of a worker of `ferry serve --workers N`: the supervisor's own value of each
 * of Ferry's flags, if it has one, else Ferry's, unless NODE_OPTIONS (which the worker inherits)
 * sets it. The supervisor's other arguments (`--inspect`, say) stay its own.
 */
export function workerNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): string[] {
  const ours = new Set(GATEWAY_NODE_FLAGS.map(flagName));
  const inherited = execArgv.filter((arg) => ours.has(flagName(arg)));
  return [...inherited, ...missingNodeFlags([...inherited, ...optionList(nodeOptions)])];
}

/**
 * The gateway flags this process runs without: neither on node's command line
 * (`process.execArgv`) nor in NODE_OPTIONS.
 */
export function flagsNotInForce(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): string[] {
  return missingNodeFlags([...execArgv, ...optionList(nodeOptions)]);
}

/** NODE_OPTIONS as a list (its values have no spaces for the flags this module reads). */
function optionList(nodeOptions: string): string[] {
  return nodeOptions.split(/\s+/).filter((s) => s !== '');
}
