/**
 * Turns partial settings (a JSON config file, the `FERRY_*` environment, CLI flags, code) into a
 * complete, validated `Config`, and remembers where each value came from.
 * Precedence: flags (and values set by code) > environment > config file > schema defaults.
 * Every value is checked against its key (type, range, allowed values) and the whole against the
 * cross-key rules (`CONFIG_RULES`); a `ConfigError` names the setting as the user wrote it (the
 * flag, the variable or the file key), the value, and what is allowed.
 */

import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import { parseCidr } from '../direct/candidates.js';
import { parseFsyncPolicy } from '../journal/fsync-policy.js';
import { quote } from './quote.js';
import { type Config, type ConfigKey, configKeys, envName, flagName, schema } from './schema.js';

export class ConfigError extends Error {
  readonly code = 'FERRY_ERR_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Where a value came from, as `ferry config` shows it. */
export const ConfigOrigin = {
  DEFAULT: 'default',
  FILE: 'file',
  ENVIRONMENT: 'environment',
  FLAG: 'flag',
} as const;
export type ConfigOrigin = (typeof ConfigOrigin)[keyof typeof ConfigOrigin];

export interface ConfigFile {
  readonly path: string;
  readonly values: Readonly<Partial<Record<ConfigKey, unknown>>>;
}

export interface ConfigLayers {
  /** CLI flags, named `--flag-name` in messages. */
  readonly flags?: Readonly<Partial<Record<ConfigKey, unknown>>>;
  /** Values set by code (tests, the demo), named by their key in messages; over flags. */
  readonly overrides?: Readonly<Partial<Record<ConfigKey, unknown>>>;
  readonly env?: NodeJS.ProcessEnv;
  readonly file?: ConfigFile;
}

export interface ResolvedConfig {
  readonly config: Config;
  readonly origins: Readonly<Record<ConfigKey, ConfigOrigin>>;
  /** How each value was given, as messages name it: `--port`, `FERRY_PORT (port)`, ... */
  readonly labels: Readonly<Record<ConfigKey, string>>;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A platform name as `process.platform` gives it (win32, darwin, linux, ...). */
const PLATFORM = /^[a-z][a-z0-9_]{0,31}$/;

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/i;

const items = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function degrees(limit: number): StringCheck {
  return {
    allowed: `empty, or a number of degrees from -${limit} to ${limit}`,
    ok: (v) => {
      if (v === '') return true;
      const n = /^[-+]?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : Number.NaN;
      return Number.isFinite(n) && Math.abs(n) <= limit;
    },
  };
}

export interface StringCheck {
  /** The allowed values in words, as the docs and the error say them. */
  readonly allowed: string;
  readonly ok: (value: string) => boolean;
}

const HOST: StringCheck = {
  allowed: 'an IP address or a host name',
  ok: (v) => isIP(v) !== 0 || HOST_NAME.test(v),
};

/** `v` is a URL with a host and one of `protocols` (`'ws:'`, ...). */
function isUrlOf(v: string, protocols: readonly string[]): boolean {
  try {
    const url = new URL(v);
    return protocols.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

/** What each string key allows. Keys not listed take any string. */
export const STRING_CHECKS: Partial<Record<ConfigKey, StringCheck>> = {
  host: HOST,
  adminHost: HOST,
  dataDir: { allowed: 'a directory path (not empty)', ok: (v) => v.trim() !== '' },
  gatewayId: {
    allowed: 'at most 128 characters, no spaces or control characters',
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
    ok: (v) => /^[^\s\x00-\x1f\x7f]{0,128}$/.test(v),
  },
  logLevel: {
    allowed: `one of ${LOG_LEVELS.join(', ')}`,
    ok: (v) => (LOG_LEVELS as readonly string[]).includes(v),
  },
  orphanPolicy: { allowed: 'queue or close', ok: (v) => v === 'queue' || v === 'close' },
  directory: {
    allowed: 'memory, or a redis:// or rediss:// URL (redis://host:port/db)',
    ok: (v) => v === 'memory' || isUrlOf(v, ['redis:', 'rediss:']),
  },
  directoryTlsCa: {
    allowed: 'empty, or the path of an existing PEM file',
    ok: (v) => v === '' || fs.existsSync(v),
  },
  workers: {
    allowed: 'auto, or a whole number from 1 to 256',
    ok: (v) => v === 'auto' || (/^[1-9]\d{0,2}$/.test(v) && Number(v) <= 256),
  },
  publicUrl: {
    allowed: 'empty, or a ws:// or wss:// URL',
    ok: (v) => v === '' || isUrlOf(v, ['ws:', 'wss:']),
  },
  p2p: { allowed: 'off, lan or any', ok: (v) => v === 'off' || v === 'lan' || v === 'any' },
  p2pNetworks: {
    allowed: 'empty, or comma-separated CIDRs like 10.0.0.0/8 or fd00::/8',
    ok: (v) => items(v).every((c) => parseCidr(c) !== null),
  },
  journal: { allowed: 'on or off', ok: (v) => v === 'on' || v === 'off' },
  journalFsync: {
    allowed: 'always, off, or a number of milliseconds (1-60000)',
    ok: (v) => typeof parseFsyncPolicy(v) !== 'string',
  },
  locationLatitude: degrees(90),
  locationLongitude: degrees(180),
  allowedOrigins: {
    allowed:
      'empty, *, or comma-separated origins like https://support.example.com (scheme://host[:port], no path)',
    ok: (v) => items(v).every((o) => o === '*' || ORIGIN.test(o)),
  },
  elevationPlatforms: {
    allowed:
      'comma-separated platform names as process.platform gives them (e.g. win32,darwin,linux)',
    ok: (v) => items(v).every((p) => PLATFORM.test(p)),
  },
  cannedScriptsFile: {
    allowed: 'empty, or the path of an existing JSON file',
    ok: (v) => v === '' || fs.existsSync(v),
  },
};

/** A rule between keys, checked after every key has its value. */
export interface ConfigRule {
  readonly keys: readonly ConfigKey[];
  /** The rule in words, as the docs and the error say it. */
  readonly text: string;
  readonly holds: (config: Config) => boolean;
}

export const CONFIG_RULES: readonly ConfigRule[] = [
  {
    keys: ['resumeTtlSeconds', 'offlineAfterSeconds'],
    text: 'resumeTtlSeconds must be at least offlineAfterSeconds (a lost participant may resume for as long as its session waits Offline)',
    holds: (c) => c.resumeTtlSeconds >= c.offlineAfterSeconds,
  },
  {
    keys: ['heartbeatStallMs', 'heartbeatIntervalMs'],
    text: 'heartbeatStallMs must exceed half of heartbeatIntervalMs (an unanswered ping must count as slower than an answered one)',
    holds: (c) => c.heartbeatStallMs > c.heartbeatIntervalMs / 2,
  },
  {
    keys: ['workers', 'directory', 'port'],
    text: 'more than one worker needs a shared directory (--directory redis://...), where the workers find the PINs and sessions each holds, and a fixed port (not 0) they all listen on',
    holds: (c) => workerCount(c.workers) === 1 || (c.directory !== 'memory' && c.port !== 0),
  },
];

/** The number of gateway processes `--workers` asks for (`auto`: one per core). */
export function workerCount(workers: string): number {
  return workers === 'auto' ? Math.max(1, os.availableParallelism()) : Number(workers);
}

function coerce(key: ConfigKey, raw: unknown, label: string): number | string {
  const spec = schema[key];
  if (spec.type === 'string') {
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      throw new ConfigError(`${label} ${quote(raw)}: not allowed; allowed: a string`);
    }
    const value = String(raw);
    const check = STRING_CHECKS[key];
    if (check !== undefined && !check.ok(value)) {
      throw new ConfigError(`${label} ${quote(raw)}: not allowed; allowed: ${check.allowed}`);
    }
    return value;
  }
  const min = spec.min ?? 0;
  const max = spec.max ?? Number.MAX_SAFE_INTEGER;
  const range =
    max === Number.MAX_SAFE_INTEGER
      ? `an integer of at least ${min}`
      : `an integer between ${min} and ${max}`;
  const text = typeof raw === 'string' ? raw.trim() : '';
  // Number('') is 0 and Number('0x10') is 16: accept plain decimal integers only.
  const value = typeof raw === 'number' ? raw : /^[-+]?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || !Number.isInteger(value)) {
    throw new ConfigError(`${label} ${quote(raw)}: not an integer; allowed: ${range}`);
  }
  if (value < min || value > max) {
    throw new ConfigError(`${label} ${quote(raw)}: out of range; allowed: ${range}`);
  }
  return value;
}

/** Reads a JSON config file: an object of schema keys (camelCase) to values. */
export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(
      `--config ${quote(file)}: cannot read it (${code}); allowed: a readable JSON file`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `--config ${quote(file)}: not JSON (${(err as Error).message.split('\n')[0]})`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(
      `--config ${quote(file)}: allowed: a JSON object of settings, e.g. {"port": 8080}`,
    );
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in schema)) {
      throw new ConfigError(
        `${quote(key)} in ${file}: unknown setting; allowed: the keys of docs/configuration.md (camelCase, e.g. "adminPort")`,
      );
    }
  }
  return { path: file, values: parsed as Partial<Record<ConfigKey, unknown>> };
}

/** Resolves every key from its layers, checks it, then checks the cross-key rules. */
export function resolveLayers(layers: ConfigLayers): ResolvedConfig {
  const env = layers.env ?? process.env;
  const out: Record<string, number | string> = {};
  const origins = {} as Record<ConfigKey, ConfigOrigin>;
  const labels = {} as Record<ConfigKey, string>;
  for (const key of configKeys) {
    const explicit = layers.overrides?.[key];
    const flag = layers.flags?.[key];
    const fromEnv = env[envName(key)];
    const fromFile = layers.file?.values[key];
    let raw: unknown;
    if (explicit !== undefined) {
      [raw, origins[key], labels[key]] = [explicit, ConfigOrigin.FLAG, key];
    } else if (flag !== undefined) {
      [raw, origins[key], labels[key]] = [flag, ConfigOrigin.FLAG, `--${flagName(key)}`];
    } else if (fromEnv !== undefined && fromEnv !== '') {
      [raw, origins[key], labels[key]] = [
        fromEnv,
        ConfigOrigin.ENVIRONMENT,
        `${envName(key)} (${key})`,
      ];
    } else if (fromFile !== undefined && layers.file !== undefined) {
      [raw, origins[key], labels[key]] = [
        fromFile,
        ConfigOrigin.FILE,
        `${key} in ${layers.file.path}`,
      ];
    } else {
      out[key] = schema[key].default;
      origins[key] = ConfigOrigin.DEFAULT;
      labels[key] = `${key} (default)`;
      continue;
    }
    out[key] = coerce(key, raw, labels[key]);
  }
  const config = out as Config;
  for (const rule of CONFIG_RULES) {
    if (rule.holds(config)) continue;
    const values = rule.keys
      .map(
        (k) =>
          `${k} = ${config[k]} from ${origins[k] === ConfigOrigin.DEFAULT ? 'the default' : labels[k].replace(` (${k})`, '')}`,
      )
      .join(', ');
    throw new ConfigError(`${values}: ${rule.text}`);
  }
  return { config, origins, labels };
}

/** A complete configuration from values set by code over the environment over defaults. */
export function resolveConfig(
  overrides: Partial<Record<ConfigKey, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  return resolveLayers({ overrides, env }).config;
}
