/**
 * Generated bad input for every subcommand: random bad flags, values, FERRY_* variables and
 * config files, run through the CLI program in-process (runCli, output captured). Each run must
 * end with exit code 1 or 2, print at most three lines, and show no stack frame. Every run holds
 * at least one fault that is caught before anything connects or listens; `serve` and `demo` get
 * loopback addresses and port 0 for the settings no fault touches, and a run that does not end
 * within a few seconds fails the property instead of hanging.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { COMMAND_NAMES, runCli } from '../../src/cli/index.js';
import { type ConfigKey, configKeys, envName, flagName, schema } from '../../src/config/schema.js';

const RUNS = 25;
/** A line of a stack trace: "    at fn (file:line:col)" or "    at file:line:col". */
const STACK_FRAME = /^\s*at\s.*(:\d+:\d+\)?|\(native\)|<anonymous>)\s*$/m;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-cli-fuzz-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** Values a key refuses, whatever else is set. */
function badValues(key: ConfigKey): string[] {
  const spec = schema[key];
  if (spec.type === 'number') {
    const out = ['abc', '1.5', '0x10', '1e3', ' ', '-1', '12abc', 'NaN', '∞'];
    if (spec.min !== undefined && spec.min > 0) out.push(String(spec.min - 1));
    if (spec.max !== undefined && spec.max < Number.MAX_SAFE_INTEGER) {
      out.push(String(spec.max + 1));
    }
    return out;
  }
  const byKey: Partial<Record<ConfigKey, string[]>> = {
    host: ['a b', 'exa mple', '-bad-', '[::1'],
    adminHost: ['a b', 'a_b!'],
    gatewayId: ['a b', 'x'.repeat(200)],
    logLevel: ['loud', 'INFO', 'verbose'],
    locationLatitude: ['north', '91', '-90.5.1'],
    locationLongitude: ['east', '181', '1e2'],
    allowedOrigins: ['not an origin', 'https://ok.example.com, /path', 'https://x.example/path'],
    elevationPlatforms: ['win 32', 'win32,be/os', 'Linux'],
    cannedScriptsFile: [path.join(tmp, 'missing', 'scripts.json')],
    technicianDefaultPermissions: ['fly', 'reboot,teleport'],
    technicianDefaultTeam: ['a b', 'x'.repeat(65)],
  };
  return byKey[key] ?? [];
}

const BAD_KEYS = configKeys.filter((k) => badValues(k).length > 0);
/** Keys `serve` and `demo` set to safe values unless a fault is about them. */
const SAFE: Partial<Record<ConfigKey, string>> = {
  host: '127.0.0.1',
  port: '0',
  adminHost: '127.0.0.1',
  adminPort: '0',
  dataDir: path.join(tmp, 'data'),
  logLevel: 'silent',
};

interface Fault {
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Config file text, passed as --config. */
  readonly file?: string;
  /** A config key the fault is about (kept from the safe base). */
  readonly key?: ConfigKey;
}

const badSetting = fc
  .constantFrom(...BAD_KEYS)
  .chain((key) => fc.tuple(fc.constant(key), fc.constantFrom(...badValues(key))));

const unknownFlag: fc.Arbitrary<Fault> = fc
  .tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.option(fc.string({ maxLength: 6 })))
  .map(([name, value]) => ({
    args: value === null ? [`--zz-${name}`] : [`--zz-${name}=${value}`],
  }));

const flagFault: fc.Arbitrary<Fault> = badSetting.map(([key, value]) => ({
  args: [`--${flagName(key)}=${value}`],
  key,
}));

// an empty variable counts as unset, so only non-empty bad values make an environment fault
const envFault: fc.Arbitrary<Fault> = badSetting
  .filter(([, value]) => value.trim() !== '')
  .map(([key, value]) => ({ env: { [envName(key)]: value }, key }));

const ruleFault: fc.Arbitrary<Fault> = fc
  .tuple(fc.integer({ min: 2, max: 10_000 }), fc.boolean())
  .map(([offline, viaEnv]) => {
    const ttl = String(Math.max(1, offline - 1));
    return viaEnv
      ? {
          env: {
            FERRY_OFFLINE_AFTER_SECONDS: String(offline),
            FERRY_RESUME_TTL_SECONDS: ttl,
          },
        }
      : { args: [`--offline-after-seconds=${offline}`, `--resume-ttl-seconds=${ttl}`] };
  });

const fileFault: fc.Arbitrary<Fault> = fc
  .oneof(
    fc.constantFrom('{', '[]', '"port"', 'null', '{"zzUnknown": 1}', '{"pinLength": true}', ''),

    fc.string({ maxLength: 20 }).filter((t) => {
      try {
        const v: unknown = JSON.parse(t);
        return v === null || typeof v !== 'object' || Array.isArray(v);
      } catch {
        return true;
      }
    }),
  )
  .map((file): Fault => ({ file }));

const fileSettingFault: fc.Arbitrary<Fault> = badSetting.map(([key, value]) => ({
  file: JSON.stringify({ [key]: value }),
  key,
}));

const missingConfigFile: fc.Arbitrary<Fault> = fc.constant({
  args: ['--config', path.join(tmp, 'no-such-dir', 'ferry.json')],
});

function numberFault(...flags: string[]): fc.Arbitrary<Fault> {
  return fc
    .tuple(fc.constantFrom(...flags), fc.constantFrom('abc', '-3', '-0.5', 'NaN', '1x'))
    .map(([flag, value]) => ({ args: [`--${flag}=${value}`] }));
}

const badUrl: fc.Arbitrary<Fault> = fc
  .constantFrom('foo', 'http://127.0.0.1/', 'ws://', '127.0.0.1:8080', '')
  .map((url) => ({ args: [`--url=${url}`] }));

/** Harmless on its own: nothing, or a valid FERRY_* variable. */
const noise: fc.Arbitrary<Fault> = fc.constantFrom<Fault>({}, { env: { FERRY_LOG_LEVEL: 'warn' } });

interface Subcommand {
  readonly name: string;
  /** The command words and the args that make it runnable apart from the faults. */
  readonly base: (faultKeys: ReadonlySet<ConfigKey>) => string[];
  readonly faults: fc.Arbitrary<Fault>;
}

const CLIENT_URL = '--url=ws://127.0.0.1:1/v1/ws';

function safeFlags(faultKeys: ReadonlySet<ConfigKey>): string[] {
  return Object.entries(SAFE)
    .filter(([key]) => !faultKeys.has(key as ConfigKey))
    .map(([key, value]) => `--${flagName(key as ConfigKey)}=${value}`);
}

const SUBCOMMANDS: readonly Subcommand[] = [
  {
    name: 'serve',
    base: (keys) => ['serve', ...safeFlags(keys)],
    faults: fc.oneof(
      unknownFlag,
      flagFault,
      envFault,
      ruleFault,
      fileFault,
      fileSettingFault,
      missingConfigFile,
    ),
  },
  {
    name: 'config',
    base: (keys) => ['config', ...safeFlags(keys)],
    faults: fc.oneof(
      unknownFlag,
      flagFault,
      envFault,
      ruleFault,
      fileFault,
      fileSettingFault,
      missingConfigFile,
    ),
  },
  {
    name: 'token issue',
    base: () => ['token', 'issue', '--name=tech', `--data-dir=${path.join(tmp, 'token')}`],
    faults: fc.oneof(
      unknownFlag,
      envFault.filter((f) => f.key !== 'dataDir'),
      fc
        .constantFrom('a+b', 'a b', '', 'x'.repeat(65), 'é')
        .map((name) => ({ args: [`--name=${name}`] })),
      fc
        .constantFrom('abc', '0', '-5', '99999d', '1y', '')
        .map((ttl) => ({ args: [`--ttl=${ttl}`] })),
      fc.constantFrom('fly', 'root').map((perm) => ({ args: [`--perm=${perm}`] })),
      fc.constantFrom('a b', 'x'.repeat(65)).map((team) => ({ args: [`--team=${team}`] })),
    ),
  },
  {
    name: 'token revoke',
    base: () => ['token', 'revoke', `--data-dir=${path.join(tmp, 'token')}`],
    faults: fc.oneof(
      unknownFlag,
      fc.constantFrom('a b', 'x'.repeat(129), 'a/b', 'é').map((jti) => ({ args: [jti] })),
    ),
  },
  {
    name: 'token',
    base: () => ['token'],
    faults: fc.oneof(unknownFlag, noise),
  },
  {
    name: '(none)',
    base: () => [],
    faults: fc.oneof(
      unknownFlag,
      noise,
      fc.stringMatching(/^[a-z]{1,8}$/).map((word) => ({ args: [`zz${word}`] })),
    ),
  },
  {
    name: 'technician',
    base: () => ['technician', '--token=t', CLIENT_URL],
    faults: fc.oneof(
      unknownFlag,
      numberFault('input-rate', 'stats-every'),
      badUrl,
      fc.constant<Fault>({ args: ['--token'] }),
    ),
  },
  {
    name: 'customer',
    base: () => ['customer', '--pin=123456789012', CLIENT_URL],
    faults: fc.oneof(unknownFlag, numberFault('fps', 'monitors'), badUrl),
  },
  {
    name: 'unattended',
    base: () => ['unattended', CLIENT_URL, `--state-dir=${path.join(tmp, 'state')}`],
    faults: fc.oneof(unknownFlag, badUrl),
  },
  ...(
    [
      ['admin end', ['s1', '--reason=why']],
      ['admin kick', ['s1', 'c1']],
      ['admin revoke-pin', ['123456']],
      ['admin drain', []],
      ['admin reports search', ['--technician=tech-1']],
      ['admin audit', []],
    ] as const
  ).map(
    ([name, rest]): Subcommand => ({
      name,
      // nothing listens on port 1: a line that parses fails to reach the admin API (exit 1)
      base: () => [
        ...name.split(' '),
        ...rest,
        '--admin-url=http://127.0.0.1:1',
        '--admin-token=t',
      ],
      faults: fc.oneof(
        unknownFlag,
        fc
          .constantFrom('ftp://x', 'not a url', '')
          .map((url) => ({ args: [`--admin-url=${url}`] })),
      ),
    }),
  ),
  {
    name: 'demo',
    base: () => ['demo', '--seconds=1', '--json'],
    // the demo sets its own configuration and reads no FERRY_* variable
    faults: fc.oneof(unknownFlag, numberFault('seconds', 'fps')),
  },
  {
    name: 'docs',
    // compares only: the generated pages of this checkout are current
    base: () => ['docs', '--check'],
    faults: unknownFlag,
  },
];

interface Outcome {
  readonly code: number | undefined | 'hung';
  readonly lines: string[];
}

let fileCount = 0;

/** Runs one command line in-process with `env` as the FERRY_* environment, output captured. */
async function runCaptured(args: string[], env: Record<string, string>): Promise<Outcome> {
  const lines: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  const push = (...parts: unknown[]) => {
    for (const line of parts.map(String).join(' ').split('\n')) lines.push(line);
  };
  const savedEnv: Record<string, string | undefined> = {};
  for (const name of Object.keys(process.env)) {
    if (name.startsWith('FERRY_')) {
      savedEnv[name] = process.env[name];
      delete process.env[name];
    }
  }
  Object.assign(process.env, env);
  console.log = push;
  console.error = push;
  console.warn = push;
  console.info = push;
  let timer: NodeJS.Timeout | undefined;
  try {
    const code = await Promise.race([
      runCli(args),
      new Promise<'hung'>((resolve) => {
        timer = setTimeout(() => resolve('hung'), 5000);
      }),
    ]);
    return { code, lines };
  } finally {
    clearTimeout(timer);
    Object.assign(console, saved);
    for (const name of Object.keys(env)) delete process.env[name];
    for (const [name, value] of Object.entries(savedEnv)) process.env[name] = value;
  }
}

function assemble(
  sub: Subcommand,
  faults: readonly Fault[],
): { args: string[]; env: Record<string, string> } {
  const keys = new Set(faults.flatMap((f) => (f.key === undefined ? [] : [f.key])));
  const args = sub.base(keys);
  const env: Record<string, string> = {};
  for (const fault of faults) {
    if (fault.args) args.push(...fault.args);
    if (fault.env) Object.assign(env, fault.env);
    if (fault.file !== undefined) {
      const file = path.join(tmp, `config-${fileCount++}.json`);
      fs.writeFileSync(file, fault.file);
      args.push('--config', file);
    }
  }
  // the environment outranks the file: noise for a key a file fault is about would hide it
  for (const fault of faults) {
    if (fault.file !== undefined && fault.key !== undefined) delete env[envName(fault.key)];
  }
  return { args, env };
}

for (const sub of SUBCOMMANDS) {
  test(`ferry ${sub.name} with random bad input exits 1 or 2 with at most three lines and no stack trace`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(sub.faults, { minLength: 1, maxLength: 3 }),
        // any subcommand may also get harmless FERRY_* noise
        noise,
        async (faults, extra) => {
          // the noise first: a fault's own variable wins over it
          const { args, env } = assemble(sub, [extra, ...faults]);
          const { code, lines } = await runCaptured(args, env);
          const shown = `ferry ${args.join(' ')} ${JSON.stringify(env)}\n${lines.join('\n')}`;
          assert.ok(code === 1 || code === 2, `exit ${String(code)}: ${shown}`);
          const printed = lines.filter((l) => l.trim() !== '');
          assert.ok(
            printed.length >= 1 && printed.length <= 3,
            `${printed.length} lines: ${shown}`,
          );
          assert.doesNotMatch(lines.join('\n'), STACK_FRAME, shown);
          assert.match(printed[0]!, /^ferry: /, shown);
        },
      ),
      { numRuns: RUNS },
    );
  });
}

test('the generated bad input covers every command of the program', () => {
  const covered = new Set(SUBCOMMANDS.flatMap((sub) => sub.name.split(' ')));
  for (const name of COMMAND_NAMES) assert.ok(covered.has(name), `no bad input for ferry ${name}`);
});
