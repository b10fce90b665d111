import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { configKeys, envName } from '../../src/config/schema.js';
import { activeSession, adminRequest, startGateway } from '../api/harness.js';
import { type Exposition, parseExposition } from '../metrics/exposition.js';
import { composeCommands } from '../support/compose.js';
import { startRedis } from '../support/redis.js';
import { promtool } from './promtool.js';

/** Tests run from dist/test/deploy; the repository root is three levels up. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const deployFile = (...parts: string[]) => path.join(ROOT, 'deploy', ...parts);
const read = (...parts: string[]) => fs.readFileSync(deployFile(...parts), 'utf8');

const METRIC = /\b(?:ferry|process|nodejs)_[a-z0-9_]+\b/g;
const SELECTOR = /\b((?:ferry|process|nodejs)_[a-z0-9_]+)\{([^}]*)\}/g;
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g;
/** Labels Prometheus attaches at scrape time, not part of the exposition. */
const TARGET_LABELS = new Set(['job', 'instance', 'service']);

/** Series only a gateway with TLS exposes: test/tls checks them against a TLS gateway's exposition. */
const TLS_ONLY = /^ferry_tls_/;
/** Series only a gateway sharing a directory exposes: checked below against such a gateway. */
const DIRECTORY_ONLY = /^ferry_directory_/;

/** Problems with the metric names and label values `text` (PromQL or a rules file) uses. */
function unknownReferences(text: string, exp: Exposition): string[] {
  const problems: string[] = [];
  for (const [name] of text.matchAll(METRIC)) {
    if (!exp.names.has(name) && !TLS_ONLY.test(name) && !DIRECTORY_ONLY.test(name)) {
      problems.push(`metric ${name}`);
    }
  }
  for (const [, name, matchers] of text.matchAll(SELECTOR)) {
    for (const [, label, op, wanted] of matchers!.matchAll(MATCHER)) {
      if (TARGET_LABELS.has(label!) || wanted!.includes('$')) continue;
      const values = op === '=' || op === '!=' ? [wanted!] : wanted!.split('|');
      if (values.some((v) => !/^[A-Za-z0-9_.+]+$/.test(v))) continue;
      for (const v of values) {
        const seen = exp.samples.some((s) => s.name === name && s.labels[label!] === v);
        if (!seen) problems.push(`${name}{${label}${op}"${v}"}: no series has ${label}="${v}"`);
      }
    }
  }
  return problems;
}

// biome-ignore lint/suspicious/noExplicitAny: walking arbitrary dashboard JSON
function dashboardQueries(node: any, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) dashboardQueries(item, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'definition') && typeof value === 'string') out.push(value);
      else dashboardQueries(value, out);
    }
  }
  return out;
}

async function liveExposition(t: import('node:test').TestContext): Promise<Exposition> {
  const gateway = await startGateway(t);
  await activeSession(t, gateway);
  return parseExposition((await adminRequest(gateway, '/metrics')).text);
}

test('the alerting rules pass promtool check rules', (t) => {
  const result = promtool(t, ['check', 'rules', deployFile('prometheus', 'alerts.yml')]);
  if (result === null) return;
  assert.equal(result.status, 0, result.output);
});

test('the alerting rules fire and stay quiet as their promtool unit tests say', (t) => {
  const result = promtool(t, ['test', 'rules', deployFile('prometheus', 'alerts.test.yml')]);
  if (result === null) return;
  assert.equal(result.status, 0, result.output);
});

test('the Prometheus config passes promtool check config together with its rule files', (t) => {
  const result = promtool(t, ['check', 'config', deployFile('prometheus', 'prometheus.yml')]);
  if (result === null) return;
  assert.equal(result.status, 0, result.output);
  assert.match(result.output, /1 rule files found/);
});

test('the Grafana dashboard is valid dashboard JSON whose panels all query the chosen data source', () => {
  const dashboard = JSON.parse(read('grafana', 'ferry-dashboard.json'));
  assert.equal(typeof dashboard.uid, 'string');
  assert.equal(typeof dashboard.title, 'string');
  assert.ok(Number.isInteger(dashboard.schemaVersion));
  const variable = dashboard.templating.list.find((v: { type: string }) => v.type === 'datasource');
  assert.equal(variable?.query, 'prometheus', 'a Prometheus data source variable');
  const datasource = { type: 'prometheus', uid: `\${${variable.name}}` };
  const ids = new Set<number>();
  for (const panel of dashboard.panels) {
    assert.ok(!ids.has(panel.id), `panel id ${panel.id} is unique`);
    ids.add(panel.id);
    const { x, w } = panel.gridPos;
    assert.ok(x >= 0 && x + w <= 24, `${panel.title} fits the 24-column grid`);
    if (panel.type === 'row') continue;
    assert.deepEqual(panel.datasource, datasource, panel.title);
    assert.ok(panel.targets.length > 0, `${panel.title} has queries`);
    for (const target of panel.targets) assert.equal(typeof target.expr, 'string', panel.title);
  }
  const prometheus = read('prometheus', 'prometheus.yml');
  assert.match(prometheus, /job_name: ferry\b/, 'the dashboard and alerts select job="ferry"');
});

test('every metric and label value the dashboard and the alerts use exists in a live gateway exposition', async (t) => {
  const exp = await liveExposition(t);
  const dashboard = JSON.parse(read('grafana', 'ferry-dashboard.json'));
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.length >= 20, `dashboard queries found: ${queries.length}`);
  assert.deepEqual(unknownReferences(queries.join('\n'), exp), [], 'dashboard');
  assert.deepEqual(unknownReferences(read('prometheus', 'alerts.yml'), exp), [], 'alerts.yml');
  assert.deepEqual(unknownReferences('ferry_relayed_bytes_totl', exp), [
    'metric ferry_relayed_bytes_totl',
  ]);
  assert.deepEqual(unknownReferences('ferry_participants{grade="PORR"}', exp), [
    'ferry_participants{grade="PORR"}: no series has grade="PORR"',
  ]);
});

test('the metrics the dashboard and the alerts use from the shared directory exist on a gateway sharing one', async (t) => {
  const redis = await startRedis(t);
  const gateway = await startGateway(t, {}, { directory: redis.url, gatewayId: 'deploy-a' });
  const exp = parseExposition((await adminRequest(gateway, '/metrics')).text);
  const text = `${dashboardQueries(JSON.parse(read('grafana', 'ferry-dashboard.json'))).join('\n')}
${read('prometheus', 'alerts.yml')}`;
  const used = new Set(
    [...text.matchAll(METRIC)].map(([name]) => name).filter((n) => DIRECTORY_ONLY.test(n)),
  );
  assert.ok(
    used.has('ferry_directory_up'),
    'FerryDirectoryDown and the dashboard use ferry_directory_up',
  );
  for (const name of used) assert.ok(exp.names.has(name), `metric ${name}`);
  assert.deepEqual(unknownReferences(text, exp), []);
});

test('every FERRY_* variable named in deploy/ is a gateway setting', () => {
  const known = new Set(configKeys.map(envName));
  const files = [
    'systemd/ferry.service',
    'systemd/ferry.env',
    'docker/Dockerfile',
    'compose/compose.yml',
  ];
  for (const file of files) {
    for (const [name] of read(file).matchAll(/\bFERRY_[A-Z0-9_]+\b/g)) {
      assert.ok(known.has(name), `${file}: ${name} is not a config key`);
    }
  }
});

test('the systemd unit runs ferry serve unprivileged with its state in /var/lib/ferry', (t) => {
  const unit = read('systemd', 'ferry.service');
  const directives = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m !== null) directives.set(m[1]!, [...(directives.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (key: string) => directives.get(key)?.at(-1);
  assert.match(one('ExecStart') ?? '', /^\/\S+ \S*bin\/ferry\.js serve$/);
  // the gateway's node flags (src/cli/node-flags.ts) in NODE_OPTIONS, which ferry.env overrides
  assert.ok(
    directives.get('Environment')?.includes(`NODE_OPTIONS=${GATEWAY_NODE_FLAGS.join(' ')}`),
    'NODE_OPTIONS carries the gateway flags',
  );
  for (const [name, value] of Object.entries(GATEWAY_ENV)) {
    assert.ok(directives.get('Environment')?.includes(`${name}=${value}`), `${name} is set`);
  }
  assert.equal(one('StateDirectory'), 'ferry');
  assert.ok(directives.get('Environment')?.includes('FERRY_DATA_DIR=/var/lib/ferry'));
  assert.match(one('EnvironmentFile') ?? '', /ferry\.env$/);
  for (const key of [
    'DynamicUser',
    'NoNewPrivileges',
    'ProtectHome',
    'PrivateTmp',
    'RestrictSUIDSGID',
  ]) {
    assert.equal(one(key), 'yes', key);
  }
  assert.equal(one('ProtectSystem'), 'strict');
  assert.equal(one('CapabilityBoundingSet'), '');
  assert.equal(one('MemoryDenyWriteExecute'), undefined, 'V8 needs W+X pages');

  const verify = spawnSync('systemd-analyze', ['verify', deployFile('systemd', 'ferry.service')], {
    encoding: 'utf8',
  });
  if (verify.error !== undefined) {
    t.diagnostic('systemd-analyze not available: unit syntax not verified');
    return;
  }
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'systemd-analyze verify reports nothing');
});

test('the Dockerfile builds on node:20-bookworm-slim and runs as a non-root user with a /healthz check', () => {
  const dockerfile = read('docker', 'Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.trim());
  const froms = instructions.filter((l) => l.startsWith('FROM '));
  assert.ok(froms.length >= 1);
  for (const from of froms) assert.match(from, /^FROM node:20-bookworm-slim\b/);
  const runs = instructions.filter((l) => l.startsWith('RUN ')).join('\n');
  for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev'])
    assert.ok(runs.includes(step), step);
  const user = instructions.findLast((l) => l.startsWith('USER '));
  assert.ok(
    user !== undefined && !/^USER (root|0)\b/.test(user),
    'final stage runs as a non-root user',
  );
  assert.ok(instructions.indexOf(user!) > instructions.findLastIndex((l) => l.startsWith('FROM ')));
  assert.ok(instructions.includes('EXPOSE 8080 9090'));
  assert.match(instructions.find((l) => l.startsWith('HEALTHCHECK ')) ?? '', /\/healthz/);
  assert.match(instructions.find((l) => l.startsWith('ENTRYPOINT ')) ?? '', /bin\/ferry\.js/);
  // the gateway's node flags (src/cli/node-flags.ts), which `docker run -e NODE_OPTIONS=` overrides
  const env = instructions.indexOf(`ENV NODE_OPTIONS=${GATEWAY_NODE_FLAGS.join(' ')}`);
  assert.ok(
    env > instructions.findLastIndex((l) => l.startsWith('FROM ')),
    'the final stage sets NODE_OPTIONS',
  );
  for (const [name, value] of Object.entries(GATEWAY_ENV)) {
    assert.ok(
      instructions.indexOf(`ENV ${name}=${value}`) >
        instructions.findLastIndex((l) => l.startsWith('FROM ')),
      `the final stage sets ${name}`,
    );
  }
  for (const copy of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
    const sources = copy.split(/\s+/).slice(1, -1);
    for (const source of sources)
      assert.ok(fs.existsSync(path.join(ROOT, source)), `${copy}: ${source} exists`);
  }
});

test('the compose Prometheus config passes promtool check config with the shared alerting rules', (t) => {
  const result = promtool(t, ['check', 'config', deployFile('compose', 'prometheus.yml')]);
  if (result === null) return;
  assert.equal(result.status, 0, result.output);
  assert.match(result.output, /1 rule files found/);
  assert.match(read('compose', 'prometheus.yml'), /job_name: ferry\b/);
});

test('the compose gateways run ferry serve with real flags and values, a shared secret from the environment', () => {
  const compose = read('compose', 'compose.yml');
  assert.match(compose, /dockerfile: deploy\/docker\/Dockerfile\n/);
  assert.match(
    compose,
    /FERRY_SECRET: \$\{FERRY_SECRET:\?/,
    'the secret comes from the environment',
  );
  assert.match(compose, /\/readyz/, 'healthchecks on /readyz');
  // the registrations of jump clients and support buttons live only in Redis: it persists them
  const redis = composeCommands(compose).get('redis') ?? [];
  assert.deepEqual(
    redis.slice(0, 3),
    ['redis-server', '--appendonly', 'yes'],
    'Redis keeps an AOF',
  );
  assert.match(compose, /- redis-data:\/data\n/, 'on a volume of its own');
  const gateways = [...composeCommands(compose)].filter(([, command]) => command[0] === 'serve');
  assert.ok(gateways.length >= 2, `gateway services: ${gateways.map(([name]) => name)}`);
  const ids = new Set<string>();
  const urls = new Set<string>();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-compose-'));
  try {
    for (const [service, [, ...args]] of gateways) {
      // `ferry config` takes the flags of `ferry serve`, refuses unknown ones and checks every value
      const run = spawnSync(
        process.execPath,
        [path.join(ROOT, 'bin', 'ferry.js'), 'config', ...args],
        {
          encoding: 'utf8',
          env: {
            PATH: process.env.PATH,
            FERRY_SECRET: 'compose-test-secret',
            FERRY_DATA_DIR: dataDir,
          },
        },
      );
      assert.equal(run.status, 0, `${service}: ferry config ${args.join(' ')}\n${run.stderr}`);
      const flags = new Map(
        args.map((a) => /^--([a-z-]+)=(.*)$/.exec(a)!.slice(1) as [string, string]),
      );
      assert.match(flags.get('directory') ?? '', /^redis:\/\/redis:6379\/\d+$/, service);
      ids.add(flags.get('gateway-id') ?? '');
      const url = flags.get('public-url') ?? '';
      urls.add(url);
      const port = /:(\d+)\/v1\/ws$/.exec(url)?.[1];
      assert.ok(
        compose.includes(`:${port}:8080\n`),
        `${service}: ${url} is a published client port`,
      );
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  assert.equal(ids.size, gateways.length, 'distinct --gateway-id');
  assert.equal(urls.size, gateways.length, 'distinct --public-url');
});
