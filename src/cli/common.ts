/**
 * What the `ferry` subcommands share: the command shape the program assembles, exit codes and
 * error printing, the configuration flags generated from the schema, the gateway URL option and
 * the stdin line reader of the reference clients.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { FerryClient } from '../clients/client.js';
import type { DirectLink } from '../clients/direct-link.js';
import type { ClientTls } from '../clients/tls.js';
import {
  ConfigError,
  type ConfigLayers,
  type ResolvedConfig,
  readConfigFile,
  resolveLayers,
} from '../config/config.js';
import { type ConfigKey, configKeys, envName, flagName, schema } from '../config/schema.js';
import { parseCidr } from '../direct/candidates.js';
import { ferry } from '../protocol/gen/ferry.js';
import { defaultGrants } from '../session/access-policy.js';

export const ExitCode = {
  ok: 0,
  /** A runtime failure: the input was fine, doing it failed (network, disk, gateway). */
  failure: 1,
  /** Bad input: a command line, a setting, an environment variable or a config file. */
  usage: 2,
} as const;

/**
 * What a finished command asks of the entry point: a code to exit with at once, or undefined:
 * the process ends by itself once nothing is left to do (a client still reading stdin, say).
 */
export type ExitRequest = number | undefined;

/**
 * Bad input the user can fix: its message is one line naming the option, the value and what is
 * allowed. Exits 2, with a pointer to `--help`.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Error codes of bad settings found while starting (a config file's content, a TLS file). */
const SETTING_ERROR_CODES: ReadonlySet<unknown> = new Set(['FERRY_ERR_CONFIG', 'FERRY_ERR_TLS']);

/** Whether `err` is bad input (exit 2) rather than a runtime failure (exit 1). */
export function isUsageError(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    (err instanceof Error && SETTING_ERROR_CODES.has((err as { code?: unknown }).code))
  );
}

/** The first line of an error's message, without a stack frame. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.trim() === '' ? (err instanceof Error ? err.name : 'failed') : line.trim();
}

export interface ReportOptions {
  /** `--debug`: print the whole error with its stack. */
  readonly debug?: boolean;
  /** The command named on the command line (`serve`, `token issue`), for the help pointer. */
  readonly command?: string;
  readonly print?: (line: string) => void;
}

/**
 * Prints what stopped the program and gives the exit code for it: bad input exits 2 with one
 * line and a pointer to `--help`; any other failure exits 1 with one line. Stack traces are
 * printed with `--debug` only.
 */
export function reportError(err: unknown, options: ReportOptions = {}): number {
  const print = options.print ?? ((line: string) => console.error(line));
  const usage = isUsageError(err);
  print(`ferry: ${firstLine(err)}`);
  if (options.debug) print(err instanceof Error ? (err.stack ?? String(err)) : String(err));
  if (usage) {
    const command = options.command ? `ferry ${options.command}` : 'ferry';
    print(`Run '${command} --help' for the options.`);
    return ExitCode.usage;
  }
  if (!options.debug) print('Run again with --debug for details.');
  return ExitCode.failure;
}

/** Receives the exit request of the command that ran. */
export type Done = (request: ExitRequest) => void;

/** One subcommand (or group of them), ready to be attached to the program. */
export interface CliCommand {
  /** The command's word(s) as typed: `serve`, or `token issue` for a group and its subcommands. */
  readonly names: readonly string[];
  attach(y: Argv, done: Done): Argv;
}

/** The word that names a command in its yargs spec (`serve`, from `serve [options]`). */
const wordOf = (command: string) => command.split(' ')[0]!;

export interface CommandSpec<U> {
  readonly command: string;
  readonly describe: string;
  readonly builder: (y: Argv) => Argv<U>;
  readonly run: (argv: ArgumentsCamelCase<U>) => Promise<ExitRequest>;
}

/** A subcommand: its options (builder) and what it does with them (run). */
export function defineCommand<U>(spec: CommandSpec<U>): CliCommand {
  return {
    names: [wordOf(spec.command)],
    attach: (y, done) =>
      y.command(spec.command, spec.describe, spec.builder, async (argv) => {
        done(await spec.run(argv));
      }),
  };
}

/** A command that only groups subcommands (`ferry token issue`): one of them must be named. */
export function commandGroup(spec: {
  readonly command: string;
  readonly describe: string;
  readonly subcommands: readonly CliCommand[];
  readonly demand: string;
}): CliCommand {
  return {
    names: [wordOf(spec.command), ...spec.subcommands.flatMap((sub) => sub.names)],
    attach: (y, done) =>
      y.command(spec.command, spec.describe, (yy) =>
        spec.subcommands
          .reduce((acc, sub) => sub.attach(acc, done), yy)
          .demandCommand(1, spec.demand),
      ),
  };
}

/**
 * One flag per configuration key, with its environment variable and default in the help, plus
 * `--config FILE`. The flags are read as text and checked by the schema (config.ts), so a message
 * can quote what was typed.
 */
export function withConfigOptions<T>(y: Argv<T>): Argv<T> {
  y = y.option('config', {
    type: 'string',
    describe:
      'JSON file of settings ({"port": 8080, ...}, keys as in docs/configuration.md); flags and FERRY_* variables override it',
  });
  for (const key of configKeys) {
    const spec = schema[key];
    y = y.option(flagName(key), {
      type: 'string',
      describe: `${spec.doc} [env ${envName(key)}] [default: ${JSON.stringify(spec.default)}]`,
      group: `${spec.group[0]!.toUpperCase()}${spec.group.slice(1)}:`,
    });
  }
  return y;
}

/** A flag's value, refused when the flag was given more than once. */
export function single(argv: Record<string, unknown>, key: string, flag: string): unknown {
  const value = argv[key];
  if (Array.isArray(value)) {
    throw new UsageError(`--${flag} given ${value.length} times; allowed: once`);
  }
  return value;
}

/** Settings whose flag may be given several times (`--tls-sni a=..,.. --tls-sni b=..,..`). */
const REPEATABLE_KEYS: ReadonlySet<ConfigKey> = new Set(['tlsSni', 'trustedProxies']);
const joinRepeated = (value: unknown) => (Array.isArray(value) ? value.join(';') : value);

/**
 * The configuration of `serve` and `config`: flags over the environment over `--config FILE`
 * over defaults, every value and rule checked (the operator defaults of technicians included),
 * with where each value came from.
 */
export function configFrom(
  argv: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const flags: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of configKeys) {
    const value = REPEATABLE_KEYS.has(key)
      ? joinRepeated(argv[key])
      : single(argv, key, flagName(key));
    if (value !== undefined) flags[key] = value;
  }
  const file = single(argv, 'config', 'config');
  const layers: ConfigLayers = {
    flags,
    env,
    ...(typeof file === 'string' ? { file: readConfigFile(file) } : {}),
  };
  return withOperatorDefaults(resolveLayers(layers));
}

/**
 * The operator's technician defaults (permissions, team) checked too: a bad one is a
 * configuration error naming where it came from, for every command that resolves the config.
 */
export function withOperatorDefaults(resolved: ResolvedConfig): ResolvedConfig {
  try {
    defaultGrants(resolved.config);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const key = err.message.startsWith('technicianDefaultTeam')
      ? 'technicianDefaultTeam'
      : 'technicianDefaultPermissions';
    throw new ConfigError(`${resolved.labels[key]}: ${err.message.replace(`${key}: `, '')}`);
  }
  return resolved;
}

/**
 * Numbers of the subcommands' own options (rates, counts, seconds): a value that is not a
 * number, or is negative, is bad input. Returns the message, or null when every one is fine.
 * `args` is the command line, to quote what was typed.
 */
export function checkNumbers(
  argv: Record<string, unknown>,
  args: readonly string[],
): string | null {
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || key === '$0' || /[A-Z]/.test(key)) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== 'number') continue;
      if (Number.isFinite(v) && v >= 0) continue;
      const typed = typedValue(args, key);
      return `--${key} ${JSON.stringify(typed ?? String(v))}: ${Number.isNaN(v) ? 'not a number' : 'out of range'}; allowed: a number of at least 0`;
    }
  }
  return null;
}

/** What followed `--flag` (or `--flag=`) on the command line, if anything. */
function typedValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith(`--${flag}=`)) return arg.slice(flag.length + 3);
    if (arg === `--${flag}`) return args[i + 1];
  }
  return undefined;
}

/** A gateway URL: ws:// or wss:// with a host. */
function gatewayUrl(value: unknown): string {
  const text = Array.isArray(value) ? '' : String(value);
  const url = URL.canParse(text) ? new URL(text) : null;
  const ok =
    url !== null && (url.protocol === 'ws:' || url.protocol === 'wss:') && url.hostname !== '';
  if (!ok) {
    throw new UsageError(
      `--url ${JSON.stringify(Array.isArray(value) ? value.join(' ') : text)}: not a gateway URL; allowed: ws:// or wss:// with a host, e.g. ws://127.0.0.1:8080/v1/ws`,
    );
  }
  return text;
}

/** `--url` of the reference clients. */
export const URL_OPTION = {
  type: 'string',
  default: 'ws://127.0.0.1:8080/v1/ws',
  describe: 'gateway WebSocket URL',
  coerce: gatewayUrl,
} as const;

/** `--ca` and `--insecure-skip-verify` of the reference clients, for wss:// URLs. */
export const CLIENT_TLS_OPTIONS = {
  ca: {
    type: 'string',
    describe:
      "PEM file of a CA to trust besides Node's store (a private CA) when verifying a wss:// gateway",
  },
  'insecure-skip-verify': {
    type: 'boolean',
    default: false,
    describe: 'development only: accept any gateway certificate (warns on every start)',
  },
} as const;

/** `--direct` and `--direct-networks` of the reference clients (docs/direct-path.md). */
export const CLIENT_DIRECT_OPTIONS = {
  direct: {
    type: 'boolean',
    default: false,
    describe:
      'try a direct peer-to-peer path for the screen and input when the gateway offers one (docs/direct-path.md); chat, consent and tools stay on the relay',
  },
  'direct-networks': {
    type: 'string',
    describe:
      'with --direct: comma-separated CIDRs (10.0.0.0/8) this end offers and probes candidates in; default: every address of the machine',
  },
} as const;

/** The client's `direct` option from `--direct` and `--direct-networks`. */
export function clientDirect(argv: {
  direct?: unknown;
  directNetworks?: unknown;
}): { networks: string[] } | false {
  const text = single(argv as Record<string, unknown>, 'directNetworks', 'direct-networks');
  const networks =
    typeof text === 'string'
      ? text
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== '')
      : [];
  const bad = networks.find((c) => parseCidr(c) === null);
  if (bad !== undefined) {
    throw new UsageError(
      `--direct-networks: ${JSON.stringify(bad)} is not a CIDR; allowed: comma-separated CIDRs like 10.0.0.0/8 or fd00::/8`,
    );
  }
  if (argv.direct !== true) {
    if (networks.length > 0) throw new UsageError('--direct-networks needs --direct');
    return false;
  }
  return { networks };
}

/** Prints each change of where the client's screen and input go (a line when it differs). */
export function printDirectChanges(client: FerryClient): void {
  let last = '';
  client.on('direct', (link) => {
    const line = directLine(link);
    if (line === last) return;
    last = line;
    console.log(line);
  });
}

/** One line for a change of the direct path, as the reference clients print it. */
export function directLine(link: DirectLink): string {
  const st = link.status;
  if (link.up && st?.state === ferry.v1.DirectState.DIRECT_STATE_DIRECT) {
    return `direct path up: screen and input go peer-to-peer${link.rttMs > 0 ? ` (channel RTT ${link.rttMs} ms)` : ''}`;
  }
  if (link.state === 'connecting') return 'direct path: connecting...';
  if (st?.state === ferry.v1.DirectState.DIRECT_STATE_RELAYED && st.reason)
    return `relayed: ${st.reason}`;
  return 'relayed';
}

/** The client TLS settings from `--ca` and `--insecure-skip-verify`; the skip warns each time. */
export function clientTls(argv: { ca?: unknown; insecureSkipVerify?: unknown }): ClientTls {
  const file = single(argv as Record<string, unknown>, 'ca', 'ca');
  let ca: Buffer | undefined;
  if (typeof file === 'string' && file !== '') {
    try {
      ca = fs.readFileSync(file);
    } catch (err) {
      throw new UsageError(
        `--ca ${JSON.stringify(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'}); allowed: a PEM file of CA certificates`,
      );
    }
  }
  const skip = argv.insecureSkipVerify === true;
  if (skip) {
    console.error(
      'ferry: WARNING: --insecure-skip-verify: the gateway certificate is NOT verified; anyone on the path can read and change this session. Development only.',
    );
  }
  return { ...(ca ? { ca } : {}), ...(skip ? { insecureSkipVerify: true } : {}) };
}

/** Calls `onLine` for each non-empty line of stdin, and `onEnd` once stdin has ended. */
export function lines(onLine: (line: string) => void, onEnd: () => void = () => undefined): void {
  if (!process.stdin.readable) {
    onEnd();
    return;
  }
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() !== '') onLine(line);
  });
  rl.on('close', onEnd);
}

/** A session status without its SESSION_STATUS_ prefix. */
export const statusName = (status: number) =>
  (ferry.v1.SessionStatus[status] ?? String(status)).replace('SESSION_STATUS_', '');
