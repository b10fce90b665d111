/**
 * The `ferry` program: serve | token issue | technician | customer | unattended | demo | config,
 * assembled from one module per subcommand. Runs one command line and gives back what the
 * command asks of the entry point; a refused command line prints its message and the help and
 * throws a UsageError.
 */
import yargs from 'yargs';
import { VERSION } from '../version.js';
import { type CliCommand, type ExitRequest, UsageError } from './common.js';
import { configCommand } from './config.js';
import { customerCommand } from './customer.js';
import { demoCommand } from './demo.js';
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
];

export async function runCli(args: readonly string[]): Promise<ExitRequest> {
  let request: ExitRequest;
  const done = (r: ExitRequest) => {
    request = r;
  };
  const program = COMMANDS.reduce(
    (y, c) => c.attach(y, done),
    yargs([...args])
      .scriptName('ferry')
      .version(VERSION)
      .strict()
      .demandCommand(1, 'name a command'),
  );
  await program
    .fail((message, err, y) => {
      if (err) throw err;
      console.error(`${message}\n`);
      y.showHelp();
      throw new UsageError(message);
    })
    .help()
    .parseAsync();
  return request;
}
