/**
 * `ferry docs [--check]`: writes the generated pages of docs/ (the configuration reference from
 * the settings schema, the protocol reference from proto/), or with `--check` only says whether
 * they are current (exit 1 when not). Run from the root of a source checkout (`npm run docs`).
 */
import { writeConfigurationDoc } from '../config/doc.js';
import { writeProtocolDocs } from '../protocol/doc.js';
import { defineCommand, type ExitRequest } from './common.js';

function docs(check: boolean): Promise<ExitRequest> {
  const configuration = writeConfigurationDoc(check);
  const protocol = writeProtocolDocs(check);
  return Promise.resolve(configuration !== 0 || protocol !== 0 ? 1 : undefined);
}

export const docsCommand = defineCommand({
  command: 'docs',
  describe:
    'write the generated pages of docs/ (configuration, protocol reference) in a source checkout; --check only compares',
  builder: (y) =>
    y.option('check', {
      type: 'boolean',
      default: false,
      describe: 'compare the pages with what would be written; exit 1 when one is out of date',
    }),
  run: (argv) => docs((argv as unknown as { check: boolean }).check),
});
