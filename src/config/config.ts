/**
 * Turns partial settings (CLI flags, environment, code) into a complete, validated `Config`.
 * Precedence: explicit values > `FERRY_*` environment > schema defaults.
 */
import { type Config, type ConfigKey, configKeys, envName, schema } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'FERRY_ERR_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function coerce(key: ConfigKey, raw: unknown, origin: string): number | string {
  const spec = schema[key];
  if (spec.type === 'string') return String(raw);
  const text = String(raw).trim();
  // Number('') is 0 and Number('0x10') is 16: accept plain decimal integers only.
  const value = typeof raw === 'number' ? raw : /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || !Number.isInteger(value)) {
    throw new ConfigError(`${key} (${origin}) must be an integer, got ${JSON.stringify(raw)}`);
  }
  const min = spec.min ?? 0;
  const max = spec.max ?? Number.MAX_SAFE_INTEGER;
  if (value < min || value > max) {
    throw new ConfigError(`${key} (${origin}) must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export function resolveConfig(
  overrides: Partial<Record<ConfigKey, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const out: Record<string, number | string> = {};
  for (const key of configKeys) {
    const explicit = overrides[key];
    const fromEnv = env[envName(key)];
    if (explicit !== undefined) out[key] = coerce(key, explicit, 'option');
    else if (fromEnv !== undefined && fromEnv !== '') out[key] = coerce(key, fromEnv, envName(key));
    else out[key] = schema[key].default;
  }
  const config = out as Config;
  if (!LOG_LEVELS.has(config.logLevel)) {
    throw new ConfigError(
      `logLevel must be one of ${[...LOG_LEVELS].join(', ')}, got ${config.logLevel}`,
    );
  }
  if (config.heartbeatStallMs <= config.heartbeatIntervalMs / 2) {
    throw new ConfigError('heartbeatStallMs must exceed half of heartbeatIntervalMs');
  }
  for (const key of ['locationLatitude', 'locationLongitude'] as const) {
    if (config[key] !== '' && !Number.isFinite(Number(config[key]))) {
      throw new ConfigError(`${key} must be a number of degrees, got ${config[key]}`);
    }
  }
  return config;
}
