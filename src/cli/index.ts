/**
 * The `ferry` program: serve | token issue | technician | customer | unattended | demo | config |
 * admin, assembled from one module per subcommand, with the global `--debug`. Runs one command
 * line and gives back what the command asks of the entry point; never throws. Bad input (a refused command
 * line, a bad setting) prints one line and a pointer to `--help` and gives 2; a failure prints
 * one line and gives 1; stack traces are printed with `--debug` only.
 */
import yargs, { type Argv } from 'yargs';
import { VERSION } from '../version.js';
import {
  type CliCommand,
  checkNumbers,
  type ExitRequest,
  reportError,
  UsageError,
} from './common.js';

/**
 * A command and where its module is. A line that names a command loads that module alone: each
 * one pulls in what it runs (`serve` the gateway, `customer` the X11 capture and its image
 * codec, `technician` the REPL); importing them all takes 23 MiB more RSS than importing the
 * gateway alone (docs/operations.md, "Memory at start"). `names` must equal the loaded
 * command's own (test/cli/entry-points.test.ts checks it).
 */
interface CommandEntry {
  readonly names: readonly string[];
  load(): Promise<CliCommand>;
}

/** In the order `ferry --help` lists them. */
const COMMANDS: readonly CommandEntry[] = [
  { names: ['serve'], load: async () => (await import('./serve.js')).serveCommand },
  {
    names: ['token', 'issue', 'revoke'],
    load: async () => (await import('./token.js')).tokenCommand,
  },
  { names: ['technician'], load: async () => (await import('./technician.js')).technicianCommand },
  { names: ['customer'], load: async () => (await import('./customer.js')).customerCommand },
  { names: ['unattended'], load: async () => (await import('./unattended.js')).unattendedCommand },
  { names: ['demo'], load: async () => (await import('./demo.js')).demoCommand },
  { names: ['config'], load: async () => (await import('./config.js')).configCommand },
  {
    names: ['admin', 'end', 'kick', 'revoke-pin', 'drain', 'reports', 'search', 'audit'],
    load: async () => (await import('./admin.js')).adminCommand,
  },
  { names: ['docs'], load: async () => (await import('./docs.js')).docsCommand },
];

/** Every command, loaded (for tests and `--help` without a command). */
export function loadCommands(): Promise<CliCommand[]> {
  return Promise.all(COMMANDS.map((c) => c.load()));
}

/** The table's names of each command, in order. */
export const COMMAND_TABLE: readonly (readonly string[])[] = COMMANDS.map((c) => c.names);

/**
 * The commands a line needs: the one its first word names, or all of them (no command, an
 * unknown one, `--help` or `--version` alone), so that yargs lists them or refuses the word.
 */
function commandsFor(args: readonly string[]): Promise<CliCommand[]> {
  const word = commandOf(args).split(' ')[0];
  const named = COMMANDS.find((c) => c.names[0] === word);
  return named === undefined ? loadCommands() : named.load().then((c) => [c]);
}

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
    for (const command of await commandsFor(args)) program = command.attach(program, done);
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
