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

/** The `--set key=value` arguments a bench gateway child was started with, as config keys. */
export function setOverrides(argv: readonly string[]): Partial<Record<ConfigKey, unknown>> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--set') continue;
    const kv = argv[++i] ?? '';
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--set needs key=value, got "${kv}"`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out as Partial<Record<ConfigKey, unknown>>;
}
