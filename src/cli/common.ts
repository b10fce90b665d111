/**
 * What the `ferry` subcommands share: the command shape the program assembles, exit codes and
 * error printing, the configuration flags generated from the schema, the gateway URL option and
 * the stdin line reader of the reference clients.
 */
import readline from 'node:readline';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { ConfigError, resolveConfig } from '../config/config.js';
import { type ConfigKey, configKeys, envName, flagName, schema } from '../config/schema.js';
import { ferry } from '../protocol/gen/ferry.js';
import { UwsLoadError } from '../transport/uws.js';

export const ExitCode = {
  ok: 0,
  failure: 1,
  /** Bad command line: the message and the help are printed. */
  usage: 2,
  /** EX_CONFIG: a bad setting, or uWebSockets.js cannot load. */
  config: 78,
} as const;

/**
 * What a finished command asks of the entry point: a code to exit with at once, or undefined:
 * the process ends by itself once nothing is left to do (a client still reading stdin, say).
 */
export type ExitRequest = number | undefined;

/** A command line yargs refused; its message and the help are already printed. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Prints what stopped the program (unless already printed) and gives the exit code for it. */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) return ExitCode.usage;
  if (err instanceof UwsLoadError || err instanceof ConfigError) {
    console.error(`ferry: ${err.message}`);
    return ExitCode.config;
  }
  console.error('ferry:', err);
  return ExitCode.failure;
}

/** Receives the exit request of the command that ran. */
export type Done = (request: ExitRequest) => void;

/** One subcommand (or group of them), ready to be attached to the program. */
export interface CliCommand {
  attach(y: Argv, done: Done): Argv;
}

export interface CommandSpec<U> {
  readonly command: string;
  readonly describe: string;
  readonly builder: (y: Argv) => Argv<U>;
  readonly run: (argv: ArgumentsCamelCase<U>) => Promise<ExitRequest>;
}

/** A subcommand: its options (builder) and what it does with them (run). */
export function defineCommand<U>(spec: CommandSpec<U>): CliCommand {
  return {
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
    attach: (y, done) =>
      y.command(spec.command, spec.describe, (yy) =>
        spec.subcommands
          .reduce((acc, sub) => sub.attach(acc, done), yy)
          .demandCommand(1, spec.demand),
      ),
  };
}

/** One flag per configuration key, with its environment variable and default in the help. */
export function withConfigOptions<T>(y: Argv<T>): Argv<T> {
  for (const key of configKeys) {
    const spec = schema[key];
    y = y.option(flagName(key), {
      type: spec.type,
      describe: `${spec.doc} [env ${envName(key)}] [default: ${JSON.stringify(spec.default)}]`,
      group: `${spec.group[0]!.toUpperCase()}${spec.group.slice(1)}:`,
    });
  }
  return y;
}

/** The configuration: flags given on the command line over the environment over defaults. */
export function configFrom(argv: Record<string, unknown>) {
  const overrides: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of configKeys) if (argv[key] !== undefined) overrides[key] = argv[key];
  return resolveConfig(overrides);
}

/** `--url` of the reference clients. */
export const URL_OPTION = {
  type: 'string',
  default: 'ws://127.0.0.1:8080/v1/ws',
  describe: 'gateway WebSocket URL',
} as const;

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
