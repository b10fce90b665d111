/**
 * Configuration: schema defaults with nothing set, FERRY_* environment over defaults, explicit
 * values over the environment, ConfigError naming the key for bad values; and the secrets the
 * gateway creates for itself in its data directory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, resolveConfig } from '../../src/config/config.js';
import { configKeys, envName, flagName, schema } from '../../src/config/schema.js';
import { loadOrCreateSecret } from '../../src/config/secrets.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function throwsConfigError(fn: () => unknown, ...mentions: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'FERRY_ERR_CONFIG');
    for (const text of mentions)
      assert.ok(err.message.includes(text), `'${err.message}' lacks ${text}`);
    return true;
  });
}

test('with no overrides and an empty environment every key takes its schema default', () => {
  const config = resolveConfig({}, {});
  for (const key of configKeys) assert.equal(config[key], schema[key].default, key);
  assert.equal(config.port, 8080);
  assert.equal(config.adminHost, '127.0.0.1');
  assert.equal(config.adminPort, 9090);
});

test('FERRY_PORT and FERRY_ADMIN_HOST from the environment are honoured', () => {
  const config = resolveConfig({}, { FERRY_PORT: '1234', FERRY_ADMIN_HOST: '0.0.0.0' });
  assert.equal(config.port, 1234);
  assert.equal(config.adminHost, '0.0.0.0');
  assert.equal(config.adminPort, 9090);
});

test('an empty environment variable counts as unset', () => {
  const config = resolveConfig({}, { FERRY_PORT: '', FERRY_ADMIN_HOST: '' });
  assert.equal(config.port, 8080);
  assert.equal(config.adminHost, '127.0.0.1');
});

test('explicit overrides beat the environment', () => {
  const env = { FERRY_PORT: '1234', FERRY_ADMIN_HOST: '0.0.0.0', FERRY_LOG_LEVEL: 'debug' };
  const config = resolveConfig({ port: 4321, adminHost: '10.0.0.1', logLevel: 'warn' }, env);
  assert.equal(config.port, 4321);
  assert.equal(config.adminHost, '10.0.0.1');
  assert.equal(config.logLevel, 'warn');
});

test('numeric strings from flags are coerced to numbers', () => {
  assert.equal(resolveConfig({ port: '8081' }, {}).port, 8081);
  assert.equal(resolveConfig({}, { FERRY_PORT: ' 8082 ' }).port, 8082);
});

test('a port outside 0-65535, a non-number or a non-integer throws ConfigError naming the key', () => {
  throwsConfigError(() => resolveConfig({}, { FERRY_PORT: '70000' }), 'port', 'FERRY_PORT');
  throwsConfigError(() => resolveConfig({}, { FERRY_PORT: 'abc' }), 'port', 'FERRY_PORT');
  throwsConfigError(() => resolveConfig({}, { FERRY_PORT: '80.5' }), 'port', 'FERRY_PORT');
  throwsConfigError(() => resolveConfig({}, { FERRY_ADMIN_PORT: '-1' }), 'adminPort');
  throwsConfigError(() => resolveConfig({ port: 70000 }, {}), 'port');
  throwsConfigError(() => resolveConfig({ adminPort: 1.5 }, {}), 'adminPort');
  throwsConfigError(() => resolveConfig({ pinLength: 5 }, {}), 'pinLength');
});

test('a blank port never silently becomes port 0 (a random port)', () => {
  throwsConfigError(() => resolveConfig({}, { FERRY_PORT: '   ' }), 'port', 'FERRY_PORT');
  throwsConfigError(() => resolveConfig({ port: '' }, {}), 'port');
});

test('cross-key rules throw ConfigError naming the key', () => {
  throwsConfigError(() => resolveConfig({ logLevel: 'loud' }, {}), 'logLevel');
  throwsConfigError(
    () => resolveConfig({ heartbeatIntervalMs: 10_000, heartbeatStallMs: 5000 }, {}),
    'heartbeatStallMs',
  );
  throwsConfigError(() => resolveConfig({ locationLatitude: 'north' }, {}), 'locationLatitude');
});

test('envName and flagName map camelCase keys to FERRY_SNAKE_CASE and kebab-case', () => {
  assert.equal(envName('adminHost'), 'FERRY_ADMIN_HOST');
  assert.equal(flagName('adminHost'), 'admin-host');
  assert.equal(envName('port'), 'FERRY_PORT');
  assert.equal(flagName('port'), 'port');
  assert.equal(envName('heartbeatIntervalMs'), 'FERRY_HEARTBEAT_INTERVAL_MS');
  assert.equal(flagName('heartbeatIntervalMs'), 'heartbeat-interval-ms');
  assert.equal(new Set(configKeys.map(envName)).size, configKeys.length);
  assert.equal(new Set(configKeys.map(flagName)).size, configKeys.length);
});

test('every numeric key is read from its own environment variable', () => {
  for (const key of configKeys) {
    const spec = schema[key];
    if (spec.type !== 'number') continue;
    const value = spec.default === spec.max ? spec.default - 1 : spec.default + 1;
    const config = resolveConfig({}, { [envName(key)]: String(value) });
    assert.equal(config[key], value, envName(key));
  }
});

test('loadOrCreateSecret creates a mode 0600 file once and returns the same value after', (t) => {
  const dataDir = path.join(tempDir(t), 'data');
  const first = loadOrCreateSecret(dataDir, 'secret', '');
  assert.equal(first.created, true);
  assert.equal(first.file, path.join(dataDir, 'secret'));
  assert.ok(first.value.length >= 32);
  assert.equal(fs.statSync(first.file).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(first.file, 'utf8').trim(), first.value);

  const second = loadOrCreateSecret(dataDir, 'secret', '');
  assert.deepEqual(second, { value: first.value, file: first.file, created: false });

  const other = loadOrCreateSecret(dataDir, 'admin-token', '');
  assert.notEqual(other.value, first.value);
});

test('processes creating one secret at the same moment all get the one that was written whole', async (t) => {
  const dataDir = path.join(tempDir(t), 'data');
  const module = new URL('../../src/config/secrets.js', import.meta.url).href;
  const script = `import { loadOrCreateSecret } from ${JSON.stringify(module)};
    const s = loadOrCreateSecret(process.argv[1], 'admin-token', '');
    process.stdout.write(JSON.stringify(s));`;
  const runs = Array.from(
    { length: 6 },
    () =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, dataDir]);
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d;
        });
        child.stderr.on('data', (d: Buffer) => {
          err += d;
        });
        child.on('exit', (code) => resolve({ code, out, err }));
      }),
  );
  const results = await Promise.all(runs);
  for (const r of results) assert.equal(r.code, 0, r.err);
  const secrets = results.map((r) => JSON.parse(r.out) as { value: string; created: boolean });
  assert.equal(new Set(secrets.map((s) => s.value)).size, 1, 'one secret for all');
  assert.equal(secrets.filter((s) => s.created).length, 1, 'created once');
  assert.equal(
    fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim(),
    secrets[0]!.value,
  );
  assert.deepEqual(
    fs.readdirSync(dataDir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
});

test('a secret file that is too short is an error, not silently replaced', (t) => {
  const dataDir = tempDir(t);
  fs.writeFileSync(path.join(dataDir, 'secret'), 'short\n', { mode: 0o600 });
  assert.throws(() => loadOrCreateSecret(dataDir, 'secret', ''), /fewer than 16/);
  assert.equal(fs.readFileSync(path.join(dataDir, 'secret'), 'utf8'), 'short\n');
});

test('a configured secret wins without touching the disk', (t) => {
  const dataDir = path.join(tempDir(t), 'never-created');
  const stored = loadOrCreateSecret(dataDir, 'secret', 'configured-secret-value');
  assert.deepEqual(stored, { value: 'configured-secret-value', file: '', created: false });
  assert.equal(fs.existsSync(dataDir), false);
});
