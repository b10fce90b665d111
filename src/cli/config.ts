/**
 * `ferry config`: every setting with its flag, environment variable and current value (the
 * secret and the admin token shown only as set or generated).
 */
import { resolveConfig } from '../config/config.js';
import { configKeys, envName, flagName, schema } from '../config/schema.js';
import { defineCommand, type ExitRequest } from './common.js';

async function printConfig(): Promise<ExitRequest> {
  const config = resolveConfig();
  for (const key of configKeys) {
    const shown =
      key === 'secret' || key === 'adminToken'
        ? config[key]
          ? '(set)'
          : '(generated)'
        : config[key];
    console.log(
      `--${flagName(key)}  ${envName(key)}=${JSON.stringify(shown)}  # ${schema[key].doc}`,
    );
  }
  return undefined;
}

export const configCommand = defineCommand({
  command: 'config',
  describe: 'print every setting with its default, environment variable and current value',
  builder: (y) => y,
  run: () => printConfig(),
});
