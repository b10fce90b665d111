/**
 * The `ferry` entry point: hands the command line to src/cli/ and exits with the code the
 * command asks for or its error maps to. The only module that calls process.exit.
 */
import { hideBin } from 'yargs/helpers';
import { reportError } from './cli/common.js';
import { runCli } from './cli/index.js';

runCli(hideBin(process.argv)).then(
  (code) => {
    // undefined: the process ends by itself once nothing is left to do
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => process.exit(reportError(err)),
);
