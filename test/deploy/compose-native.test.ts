/**
 * The compose demo (deploy/compose/compose.yml) run without Docker: its redis-server command,
 * the `ferry serve` command lines of its gateways and its Prometheus config with the alerting
 * rules, started as local processes. Only what Docker provides is replaced:
 * - the service names and container ports (`redis:6379`, `gw-a:9090`, the published 8081 and
 *   8082) become free loopback ports;
 * - the addresses the image binds (FERRY_HOST, `--admin-host=0.0.0.0`) become 127.0.0.1;
 * - Prometheus scrapes and evaluates every second instead of every 15 s.
 *
 * Then a technician on one gateway and a customer who dials the other meet (redirected), and
 * Prometheus scrapes both gateways, evaluates every rule without error and fires nothing.
 * Grafana is not started: its dashboard is checked by deploy.test.ts.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { issueToken } from '../../src/session/tokens.js';
import { composeCommands } from '../support/compose.js';
import { until } from '../support/directory.js';
import { freePort, type GatewayProcess, serveProcess } from '../support/gateway-process.js';
import { startRedis } from '../support/redis.js';

const DEPLOY = path.resolve('deploy');
const SECRET = 'compose-native-test-secret';

function tempDir(t: TestContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return (await res.json()) as T;
}

/** Prometheus (Debian's), on a free loopback port; skipped outside CI when it is missing. */
async function startPrometheus(t: TestContext, config: string): Promise<string | null> {
  if (spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    assert.ok(!process.env.CI, 'prometheus is required in CI: apt-get install prometheus');
    t.skip('prometheus not installed (apt-get install prometheus)');
    return null;
  }
  const dir = tempDir(t, 'ferry-prometheus-');
  const file = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(file, config);
  const port = await freePort();
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${file}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
  const base = `http://127.0.0.1:${port}`;
  await until(
    'prometheus ready',
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
      return fetch(`${base}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
    },
    (ready) => ready,
    20_000,
  );
  return base;
}

test('the compose deployment runs as written: a PIN crosses gateways, Prometheus scrapes both and its rules evaluate quietly', async (t) => {
  const compose = fs.readFileSync(path.join(DEPLOY, 'compose', 'compose.yml'), 'utf8');
  const commands = composeCommands(compose);

  // redis: the compose command, on a free port
  const [server, ...redisArgs] = commands.get('redis') ?? [];
  assert.equal(server, 'redis-server');
  const redis = await startRedis(t, { args: redisArgs });
  const redisHostPort = /^redis:\/\/([^/]+)/.exec(redis.url)![1]!;

  // the gateways: their command lines, with Docker's names and ports replaced
  const services = [...commands].filter(([, command]) => command[0] === 'serve');
  assert.equal(services.length, 2, 'two gateways');
  const planned = await Promise.all(
    services.map(async ([name, [, ...args]]) => {
      const published = /--public-url=ws:\/\/localhost:(\d+)\//.exec(args.join(' '))?.[1];
      assert.ok(published, `${name} names its published client port`);
      return { name, args, published, port: await freePort(), adminPort: await freePort() };
    }),
  );
  const local = (arg: string) => {
    let out = arg
      .replace('redis:6379', redisHostPort)
      .replace(/^--admin-host=0\.0\.0\.0$/, '--admin-host=127.0.0.1');
    for (const p of planned)
      out = out.replaceAll(`localhost:${p.published}`, `127.0.0.1:${p.port}`);
    return out;
  };
  const gateways: (GatewayProcess & { name: string; id: string })[] = [];
  for (const p of planned) {
    const args = p.args
      .map(local)
      .map((a) => (a.startsWith('--admin-port=') ? `--admin-port=${p.adminPort}` : a));
    assert.ok(!args.some((a) => a.includes('0.0.0.0')), `${p.name} binds loopback only`);
    const gateway = await serveProcess(t, [...args, '--port', String(p.port)], {
      FERRY_SECRET: SECRET,
      FERRY_DATA_DIR: tempDir(t, `ferry-${p.name}-`),
    });
    const id = /--gateway-id=(\S+)/.exec(args.join(' '))![1]!;
    gateways.push({ ...gateway, name: p.name, id });
  }
  const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
  for (const g of gateways) {
    await until(
      `${g.name} ready`,
      () =>
        fetch(`http://127.0.0.1:${g.listening.adminPort}/readyz`).then(
          (r) => r.ok,
          () => false,
        ),
      (ready) => ready,
      20_000,
    );
  }
  // each lists both, with the public URLs the compose file gives them (made local)
  const listed = await getJson<{ gateways: { id: string; url: string }[] }>(
    `http://127.0.0.1:${b.listening.adminPort}/api/v1/gateways`,
  );
  assert.deepEqual(listed.gateways.map((g) => g.id).sort(), [a.id, b.id].sort());
  assert.equal(listed.gateways.find((g) => g.id === a.id)?.url, a.url);

  // a technician on the first gateway, a customer who dials the second: they meet on the first
  const tech = new TechnicianClient({
    url: a.url,
    name: 'compose-tech',
    token: issueToken(SECRET, 'compose-tech', 600),
  });
  t.after(() => tech.close());
  await tech.connect();
  const { sessionId, pin } = await tech.createSession('compose customer');
  const customer = new CustomerClient({ url: b.url, pin, name: 'compose customer' });
  t.after(() => customer.close());
  const queued = tech.waitForCustomer(sessionId);
  const redirected = once(customer, 'redirected');
  const welcome = await customer.connect();
  assert.equal((await redirected)[0], a.url);
  assert.equal(welcome.gatewayId, a.id);
  await queued;
  await tech.pickUp(sessionId);
  const heard = waitFor(tech, 'chat', (m) => m.text === 'through the compose deployment');
  customer.chat('through the compose deployment');
  await heard;

  // Prometheus with the compose config: the same rules, scraping the two admin ports
  let config = fs.readFileSync(path.join(DEPLOY, 'compose', 'prometheus.yml'), 'utf8');
  for (const g of gateways) {
    assert.ok(config.includes(`${g.name}:9090`), `the config scrapes ${g.name}`);
    config = config.replace(`${g.name}:9090`, `127.0.0.1:${g.listening.adminPort}`);
  }
  config = config
    .replace(/(scrape_interval|evaluation_interval): 15s/g, '$1: 1s')
    .replace('scrape_timeout: 5s', 'scrape_timeout: 1s')
    .replace('../prometheus/alerts.yml', path.join(DEPLOY, 'prometheus', 'alerts.yml'));
  const prometheus = await startPrometheus(t, config);
  if (prometheus === null) return;

  type Vector = { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  const query = (q: string) =>
    getJson<Vector>(`${prometheus}/api/v1/query?query=${encodeURIComponent(q)}`);
  // both gateways scraped and up, the session seen on its owner
  await until(
    'both gateways up in Prometheus',
    async () => (await query('up{job="ferry"} == 1')).data.result.length,
    (up) => up === 2,
    30_000,
  );
  const directory = await query('ferry_directory_up{job="ferry"}');
  assert.deepEqual(
    directory.data.result.map((r) => r.value[1]),
    ['1', '1'],
    'both gateways reach the shared directory',
  );
  await until(
    'the session counted on its owner',
    async () => {
      const result = (await query('sum by (instance) (ferry_sessions{job="ferry"})')).data.result;
      const owner = result.find((r) => r.metric.instance === `127.0.0.1:${a.listening.adminPort}`);
      return Number(owner?.value[1] ?? 0);
    },
    (sessions) => sessions >= 1,
    30_000,
  );

  // every rule evaluated without error, none pending or firing on a healthy deployment: read
  // from evaluations made after both gateways were seen up (one made before the first scrape
  // has FerryGatewayMissing pending, rightly)
  const upSeenMs = Date.now();
  type Rules = {
    data: {
      groups: {
        rules: {
          name: string;
          health: string;
          lastError?: string;
          state?: string;
          lastEvaluation: string;
        }[];
      }[];
    };
  };
  const rules = await until(
    'every rule evaluated after both were up',
    async () =>
      (await getJson<Rules>(`${prometheus}/api/v1/rules`)).data.groups.flatMap((g) => g.rules),
    (all) => all.length > 0 && all.every((r) => Date.parse(r.lastEvaluation) > upSeenMs),
    30_000,
  );
  for (const rule of rules) {
    assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);
    assert.equal(rule.state, 'inactive', `${rule.name} is ${rule.state}`);
  }
  assert.ok(rules.length >= 8, `${rules.length} rules loaded`);
});
