/**
 * The config of a gateway under bench load (relay target, soak): loopback, port 0, a throwaway
 * data directory, silent logs, and the per-address and rate limits lifted, since every load
 * client comes from 127.0.0.1 and pipelines. `overrides` set any other key.
 */
import { resolveConfig } from '../../src/config/config.js';
import type { Config, ConfigKey } from '../../src/config/schema.js';

export function loadConfig(
  dataDir: string,
  overrides: Partial<Record<ConfigKey, unknown>> = {},
): Config {
  return resolveConfig(
    {
      pinAttemptsPerMinute: 1_000_000,
      pinAttemptsPerSecond: 1_000_000,
      maxConnectionsPerAddress: 1_000_000,
      maxMessagesPerSecond: 10_000_000,
      ...overrides,
      host: '127.0.0.1',
      port: 0,
      adminHost: '127.0.0.1',
      adminPort: 0,
      dataDir,
      logLevel: 'silent',
    },
    {},
  );
}
