/**
 * `ferry serve --workers 2` as an operator runs it, with a real redis-server: two gateway
 * processes on one client port, each a member of the directory with its own port and admin
 * port; a session pairs whichever worker each leg lands on; a worker that dies is started again;
 * SIGTERM drains them all.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, type TestContext, test } from 'node:test';
import { freeLoopbackPort } from '../../bench/common/ports.js';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { handOverRegistry, workerConfig } from '../../src/cli/workers.js';
import { waitFor } from '../../src/clients/client.js';
import { CustomerClient } from '../../src/clients/customer.js';
import { TechnicianClient } from '../../src/clients/technician.js';
import { UnattendedCustomer } from '../../src/clients/unattended.js';
import { resolveConfig } from '../../src/config/config.js';
import { issueToken } from '../../src/session/tokens.js';
import { JumpClientRegistry, REGISTRY_FILE } from '../../src/tools/jump-clients.js';
import { startRedis } from '../support/redis.js';

const redis = await startRedis({ after });
const BIN = path.resolve('bin/ferry.js');
const SECRET = 'the-secret-of-every-worker-of-this-host';

interface WorkerInfo {
  readonly id: string;
  readonly ownPort: number;
  readonly adminPort: number;
  readonly pid: number;
}

/** `count` consecutive free loopback ports, the first returned. */
async function freeRun(count: number): Promise<number> {
  for (;;) {
    const first = await freeLoopbackPort();
    const all = await Promise.all(
      Array.from({ length: count - 1 }, (_, i) => bindable(first + 1 + i)),
    );
    if (all.every(Boolean)) return first;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The supervisor's log records, and a way to wait for one. */
class Lines {
  readonly records: Record<string, unknown>[] = [];
  readonly #waiters: { test: (r: Record<string, unknown>) => boolean; resolve: () => void }[] = [];

  constructor(child: ChildProcess) {
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        this.records.push(record);
        for (const w of [...this.#waiters]) {
          if (!w.test(record)) continue;
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve();
        }
      });
    }
  }

  count(msg: string): number {
    return this.records.filter((r) => r.msg === msg).length;
  }

  /** Resolves once `n` records say `msg` (counting those already seen). */
  until(msg: string, n = 1): Promise<void> {
    let seen = this.count(msg);
    if (seen >= n) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiters.push({
        test: (r) => r.msg === msg && ++seen >= n,
        resolve,
      });
    });
  }
}

/** `ferry serve --workers 2` on `dataDir` (made by `prepare` first, or empty). */
async function supervisor(
  t: TestContext,
  prepare: (dataDir: string) => Promise<void> = () => Promise.resolve(),
) {
  const port = await freeRun(3);
  const adminPort = await freeRun(2);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-workers-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  await prepare(dataDir);
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--workers',
      '2',
      '--directory',
      redis.url,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--admin-port',
      String(adminPort),
      '--data-dir',
      dataDir,
      '--secret',
      SECRET,
      '--gateway-id',
      'host',
      // live sessions are kept in the workers' journals at SIGTERM, not waited for
      '--drain-timeout-seconds',
      '1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const lines = new Lines(child);
  t.after(async () => {
    child.kill('SIGKILL');
    // the workers see their supervisor gone and stop by themselves
  });
  await Promise.race([
    lines.until('workers listening'),
    exited.then((code) => {
      throw new Error(`supervisor exited with ${code}: ${JSON.stringify(lines.records)}`);
    }),
  ]);
  const workers = lines.records.find((r) => r.msg === 'workers listening')!.workers as WorkerInfo[];
  return { child, lines, exited, port, adminPort, workers };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gateways(adminPort: number): Promise<{ id: string; url: string }[]> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/api/v1/gateways`);
  const body = (await res.json()) as { gateways: { id: string; url: string }[] };
  return body.gateways.filter((g) => g.id.startsWith('host-'));
}

test('two workers on one port: members each, sessions pair across them, a dead one restarts, SIGTERM drains all', async (t) => {
  const { child, lines, exited, port, adminPort, workers } = await supervisor(t);
  assert.deepEqual(
    workers.map((w) => [w.id, w.ownPort, w.adminPort]),
    [
      ['host-w0', port + 1, adminPort],
      ['host-w1', port + 2, adminPort + 1],
    ],
  );
  // each worker runs with the gateway's node flags and environment (src/cli/node-flags.ts)
  for (const w of workers) {
    const argv = fs.readFileSync(`/proc/${w.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of GATEWAY_NODE_FLAGS) assert.ok(argv.includes(flag), `${w.id}: ${argv}`);
    const environ = fs.readFileSync(`/proc/${w.pid}/environ`, 'utf8').split('\0');
    for (const [name, value] of Object.entries(GATEWAY_ENV)) {
      const given = process.env[name] || value;
      assert.ok(environ.includes(`${name}=${given}`), `${w.id}: ${name}=${given}`);
    }
  }
  assert.deepEqual(await gateways(adminPort + 1), [
    { ...(await gateways(adminPort))[0]!, id: 'host-w0', url: `ws://127.0.0.1:${port + 1}/v1/ws` },
    { ...(await gateways(adminPort))[1]!, id: 'host-w1', url: `ws://127.0.0.1:${port + 2}/v1/ws` },
  ]);

  // a technician and customers on the shared port: whichever worker each lands on, they meet
  const shared = `ws://127.0.0.1:${port}/v1/ws`;
  const tech = new TechnicianClient({ url: shared, token: issueToken(SECRET, 'tech', 3600) });
  t.after(() => tech.close());
  const techWelcome = await tech.connect();
  const owner = workers.find((w) => w.id === techWelcome.gatewayId)!;
  const other = workers.find((w) => w !== owner)!;
  let redirected = 0;
  for (const [i, url] of [
    shared,
    shared,
    shared,
    `ws://127.0.0.1:${other.ownPort}/v1/ws`,
  ].entries()) {
    const { sessionId, pin } = await tech.createSession(`customer ${i}`);
    const customer = new CustomerClient({ url, pin, name: `customer ${i}` });
    t.after(() => customer.close());
    customer.on('redirected', () => redirected++);
    const queued = tech.waitForCustomer(sessionId);
    const welcome = await customer.connect();
    assert.equal(welcome.gatewayId, owner.id, `customer ${i} is on the session's worker`);
    await queued;
    await tech.pickUp(sessionId);
    const heard = waitFor(tech, 'chat', (m) => m.text === `hi ${i}`);
    customer.chat(`hi ${i}`);
    await heard;
  }
  // the customer that dialled the other worker's own port was redirected at least
  assert.ok(redirected >= 1);
  // per worker metrics; their sum is every redirect the customers saw
  let counted = 0;
  for (const w of workers) {
    const text = await (await fetch(`http://127.0.0.1:${w.adminPort}/metrics`)).text();
    const match = /^ferry_directory_redirects_total\{reason="pin"\} (\d+)$/m.exec(text);
    counted += Number(match?.[1] ?? 0);
  }
  assert.equal(counted, redirected);

  // a worker killed outright is started again, and joins the deployment again
  const victim = workers[1]!;
  const listened = lines.count('gateway listening');
  process.kill(victim.pid, 'SIGKILL');
  await lines.until('worker exited: starting it again');
  await lines.until('gateway listening', listened + 1);
  assert.deepEqual(
    (await gateways(adminPort)).map((g) => g.id),
    ['host-w0', 'host-w1'],
  );

  const pids = lines.records
    .filter((r) => r.msg === 'gateway listening')
    .map((r) => r.pid as number);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} is gone`);
});

test('more than one worker without a shared directory is refused before anything listens', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--workers', '2', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(stderr, /more than one worker needs a shared directory/);
});

test('worker i gets its own admin, own and STUN ports, id and data directory', () => {
  const host = resolveConfig(
    {
      port: 8080,
      adminPort: 9090,
      stunPort: 3478,
      directory: 'redis://127.0.0.1:1/0',
      workers: '2',
      dataDir: '/tmp/ferry-w',
    },
    {},
  );
  const secrets = { secret: 's', adminToken: 'a' };
  const w1 = workerConfig(host, 1, secrets);
  assert.deepEqual(
    [w1.port, w1.ownPort, w1.adminPort, w1.stunPort, w1.workers, w1.dataDir],
    [8080, 8082, 9091, 3479, '1', path.join('/tmp/ferry-w', 'workers', '1')],
  );
  assert.equal(
    workerConfig({ ...host, stunPort: 0 }, 1, secrets).stunPort,
    0,
    'no STUN port stays none',
  );
});

test('the jump clients a single gateway kept in the host data directory work on every worker', async (t) => {
  let pinned = { id: '', key: '' };
  const { workers, lines } = await supervisor(t, async (dataDir) => {
    // pinned while the host ran one gateway: its file, peppered with the host's secret
    const registry = await JumpClientRegistry.open({ dir: dataDir, pepper: SECRET });
    const { id, key } = await registry.register({
      technician: 'tech',
      team: 'default',
      deviceName: 'kiosk',
    });
    pinned = { id, key };
  });
  // each worker copied it into the shared directory before it answered any device
  const copied = lines.records.filter(
    (r) =>
      r.msg ===
      'jump clients and support buttons of the data directory copied into the shared directory',
  );
  assert.equal(copied.length, workers.length, JSON.stringify(lines.records.map((r) => r.msg)));
  for (const w of workers) {
    const jump = new UnattendedCustomer({
      url: `ws://127.0.0.1:${w.ownPort}/v1/ws`,
      name: 'kiosk',
      credentials: { jumpClientId: pinned.id, jumpClientKey: pinned.key },
    });
    t.after(() => jump.close());
    const welcome = await jump.connect();
    assert.equal(welcome.gatewayId, w.id, `the jump client authenticated on ${w.id}`);
    await jump.close();
  }
});

test('workers whose supervisor is killed outright exit: they do not run on unsupervised, nor hang on their broken stdout', async (t) => {
  const { workers, child } = await supervisor(t);
  // at once, while their start-up lines may still be on their way to the supervisor's pipe
  child.kill('SIGKILL');
  const deadline = Date.now() + 15_000;
  while (workers.some((w) => alive(w.pid))) {
    assert.ok(
      Date.now() < deadline,
      `workers still alive: ${workers.filter((w) => alive(w.pid)).map((w) => w.pid)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

test('the host registry is copied to every worker without one of its own, and stays when none is free', () => {
  const host = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-handover-'));
  after(() => fs.rmSync(host, { recursive: true, force: true }));
  const dirs = [0, 1, 2].map((i) => path.join(host, 'workers', String(i)));
  const said: string[] = [];
  const logger = {
    info: (_: object, m: string) => said.push(m),
    error: (_: object, m: string) => said.push(`error: ${m}`),
  };
  const registry = (dir: string) => fs.readFileSync(path.join(dir, REGISTRY_FILE), 'utf8');
  assert.deepEqual(handOverRegistry(host, dirs, logger as never), [], 'nothing to hand over');
  fs.mkdirSync(dirs[0]!, { recursive: true });
  fs.writeFileSync(path.join(dirs[0]!, REGISTRY_FILE), 'worker 0 own');
  fs.writeFileSync(path.join(host, REGISTRY_FILE), 'host');
  // every worker that would otherwise open its registry at once, with nothing copied yet
  assert.deepEqual(handOverRegistry(host, dirs, logger as never), [dirs[1], dirs[2]]);
  assert.equal(registry(dirs[1]!), 'host');
  assert.equal(registry(dirs[2]!), 'host');
  assert.equal(registry(dirs[0]!), 'worker 0 own');
  assert.equal(fs.existsSync(path.join(host, REGISTRY_FILE)), false);
  assert.equal(fs.readFileSync(path.join(host, `${REGISTRY_FILE}.handed-over`), 'utf8'), 'host');
  // every worker has one still to copy: the host's stays where it is, and that is said
  fs.writeFileSync(path.join(host, REGISTRY_FILE), 'host again');
  assert.deepEqual(handOverRegistry(host, dirs, logger as never), []);
  assert.equal(registry(host), 'host again');
  assert.match(said.at(-1)!, /^error: /);
});
