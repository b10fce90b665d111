/**
 * The `ferry` entry point: hands the command line to src/cli/ and exits with the code the
 * command asks for. The only module that calls process.exit.
 */
import { hideBin } from 'yargs/helpers';
import { ExitCode } from './cli/common.js';
import { runCli } from './cli/index.js';

runCli(hideBin(process.argv)).then(
  (code) => {
    // undefined: the process ends by itself once nothing is left to do
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    // runCli reports every failure itself; this is a last guard, without a stack trace
    console.error(`ferry: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    process.exit(ExitCode.failure);
  },
);
