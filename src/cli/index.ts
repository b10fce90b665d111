/**
 * The `ferry` program: serve | token issue | technician | customer | unattended | demo | config |
 * admin, assembled from one module per subcommand, with the global `--debug`. Runs one command
 * line and gives back what the command asks of the entry point; never throws. Bad input (a refused command
 * line, a bad setting) prints one line and a pointer to `--help` and gives 2; a failure prints
 * one line and gives 1; stack traces are printed with `--debug` only.
 */
import yargs, { type Argv } from 'yargs';
import { VERSION } from '../version.js';
import { adminCommand } from './admin.js';
import {
  type CliCommand,
  checkNumbers,
  type ExitRequest,
  reportError,
  UsageError,
} from './common.js';
import { configCommand } from './config.js';
import { customerCommand } from './customer.js';
import { demoCommand } from './demo.js';
import { docsCommand } from './docs.js';
import { serveCommand } from './serve.js';
import { technicianCommand } from './technician.js';
import { tokenCommand } from './token.js';
import { unattendedCommand } from './unattended.js';

/** In the order `ferry --help` lists them. */
const COMMANDS: readonly CliCommand[] = [
  serveCommand,
  tokenCommand,
  technicianCommand,
  customerCommand,
  unattendedCommand,
  demoCommand,
  configCommand,
  adminCommand,
  docsCommand,
];

/** Every command word (`token` and `issue` included), to point at the right `--help`. */
export const COMMAND_NAMES: ReadonlySet<string> = new Set(COMMANDS.flatMap((c) => c.names));

/** The command the line names (`serve`, `token issue`), or '' for none. */
export function commandOf(args: readonly string[]): string {
  const named: string[] = [];
  for (const arg of args) {
    if (arg.startsWith('-')) continue;
    if (!COMMAND_NAMES.has(arg)) break;
    named.push(arg);
  }
  return named.join(' ');
}

export interface RunOptions {
  /** Where error lines go (stderr by default). */
  readonly printError?: (line: string) => void;
}

export async function runCli(
  args: readonly string[],
  options: RunOptions = {},
): Promise<ExitRequest> {
  const debug = args.includes('--debug');
  const report = (err: unknown) =>
    reportError(err, {
      debug,
      command: commandOf(args),
      ...(options.printError ? { print: options.printError } : {}),
    });
  let request: ExitRequest;
  const done = (r: ExitRequest) => {
    request = r;
  };
  try {
    let program: Argv = yargs([...args])
      .scriptName('ferry')
      .version(VERSION)
      .option('debug', {
        type: 'boolean',
        global: true,
        describe: 'print the stack trace of a failure',
      })
      .strict()
      .demandCommand(1, 'name a command')
      .check((argv) => {
        const bad = checkNumbers(argv as Record<string, unknown>, args);
        if (bad !== null) throw new UsageError(bad);
        return true;
      });
    for (const command of COMMANDS) program = command.attach(program, done);
    await program
      .exitProcess(false)
      .fail((message, err) => {
        // yargs refused the line (message, or its own YError: a coerce that threw), or a check
        // or a command threw (err)
        if (err === undefined || err === null || err.name === 'YError') {
          throw new UsageError(err?.message ?? message);
        }
        throw err;
      })
      .help()
      .parseAsync();
  } catch (err) {
    return report(err);
  }
  return request;
}
