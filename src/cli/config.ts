/**
 * `ferry config`: takes the same flags (and `--config FILE`) as `ferry serve`, checks them the same
 * way, and prints every setting with its flag, environment variable, the value in effect and
 * where it came from (default, file, environment or flag). The secret and the admin token are
 * shown only as set or generated.
 */
import { configKeys, envName, flagName, schema } from '../config/schema.js';
import { configFrom, defineCommand, type ExitRequest, withConfigOptions } from './common.js';

function printConfig(argv: Record<string, unknown>): Promise<ExitRequest> {
  const { config, origins } = configFrom(argv);
  for (const key of configKeys) {
    const shown =
      key === 'secret' || key === 'adminToken'
        ? config[key]
          ? '(set)'
          : '(generated)'
        : config[key];
    console.log(
      `--${flagName(key)}  ${envName(key)}=${JSON.stringify(shown)}  [${origins[key]}]  # ${schema[key].doc}`,
    );
  }
  return Promise.resolve(undefined);
}

export const configCommand = defineCommand({
  command: 'config',
  describe:
    'check the settings (same flags as serve) and print each with its value and where it came from',
  builder: (y) => withConfigOptions(y),
  run: (argv) => printConfig(argv as Record<string, unknown>),
});
