/**
 * `ferry serve --workers N`: N gateway processes on one host, one client port. Each worker is a
 * whole gateway (`ferry serve` with `--workers 1`) and a member of the shared directory; the
 * kernel spreads new connections over them (SO_REUSEPORT, which uWS sets on every listening
 * socket), and a client that lands on a worker not holding its PIN or place is redirected to the
 * one that does, on that worker's own port.
 *
 * Worker i gets: the client port (shared), its own port `port + 1 + i` (its public URL), the
 * admin port `adminPort + i` (metrics per worker; Prometheus sums them), the STUN port
 * `stunPort + i` when there is one (its DirectOpen names it), the gateway id
 * `<id>-w<i>`, and the data directory `<dataDir>/workers/<i>` (its journals, reports and audit
 * log are its own), with the token-signing secret and admin token of the whole host, so that a
 * technician token and the admin token work on every worker. A host-level `unattended.json` is
 * copied to every worker, each of which copies it into the shared directory (`handOverRegistry`).
 *
 * The supervisor passes every setting through the environment (`FERRY_*`), relays each worker's
 * log lines, starts a worker again (with back-off) when it dies, and on SIGINT or SIGTERM tells
 * every worker to drain and exits once they have.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { workerCount } from '../config/config.js';
import { type Config, configKeys, envName } from '../config/schema.js';
import { loadOrCreateSecret } from '../config/secrets.js';
import type { Logger } from '../log.js';
import { REGISTRY_FILE } from '../tools/jump-clients.js';
import { ExitCode } from './common.js';
import { gatewayEnv, workerNodeFlags } from './node-flags.js';

const BIN = fileURLToPath(new URL('../../../bin/ferry.js', import.meta.url));
/** Back-off of a worker that keeps dying: 1 s, doubling, at most this. */
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that ran this long before dying starts again at once (not a crash loop). */
const HEALTHY_RUN_MS = 60_000;

/** The settings of worker `index`, from the host's. */
export function workerConfig(config: Config, index: number, secrets: Secrets): Config {
  const baseId = config.gatewayId || `${os.hostname()}-${config.port}`;
  const ownPort = config.port + 1 + index;
  return {
    ...config,
    workers: '1',
    gatewayId: `${baseId}-w${index}`,
    ownPort,
    adminPort: config.adminPort === 0 ? 0 : config.adminPort + index,
    // a UDP port is one process's: each worker answers STUN on its own, and names it
    stunPort: config.stunPort === 0 ? 0 : config.stunPort + index,
    dataDir: path.join(config.dataDir, 'workers', String(index)),
    secret: secrets.secret,
    adminToken: secrets.adminToken,
    publicUrl: config.publicUrl === '' ? '' : withPort(config.publicUrl, ownPort),
  };
}

/**
 * The jump clients and support buttons a single gateway kept in the host's data directory
 * (`unattended.json`, from before the host ran workers) are copied to every worker whose data
 * directory has none: each copies them into the shared directory at its start, as a single
 * gateway does (a registration only if its id is not there yet: the copies add nothing twice),
 * and opens its registry only then. So no worker answers a device not copied yet with
 * FERRY_ERR_JUMP_CLIENT_AUTH_FAILED, which is final for a jump client. Their key digests are
 * peppered with the host's secret, which every worker has. The host's file is then renamed
 * `unattended.json.handed-over`. Returns the worker directories it went to.
 */
export function handOverRegistry(
  hostDir: string,
  workerDirs: readonly string[],
  logger: Pick<Logger, 'info' | 'error'>,
): string[] {
  const file = path.join(hostDir, REGISTRY_FILE);
  if (!fs.existsSync(file)) return [];
  const to: string[] = [];
  let failed = false;
  for (const dir of workerDirs) {
    const target = path.join(dir, REGISTRY_FILE);
    if (fs.existsSync(target)) continue;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.copyFileSync(file, target, fs.constants.COPYFILE_EXCL);
      to.push(dir);
    } catch (err) {
      failed = true;
      logger.error(
        { err, from: file, to: target },
        "the host's unattended.json could not be copied to a worker; it is tried again at the next start",
      );
    }
  }
  // a worker it could not reach gets it at the next start: the file stays for that
  if (failed) return to;
  if (to.length === 0) {
    logger.error(
      { file },
      "the host's unattended.json was not handed to a worker: every worker has its own still to copy; it is tried again at the next start",
    );
    return to;
  }
  // one way: each worker renames its copy unattended.json.imported once Redis holds it
  const handed = `${file}.handed-over`;
  try {
    fs.renameSync(file, handed);
  } catch (err) {
    // the workers have it: a next start copies it again to those without one, which adds nothing
    logger.error({ err, file }, "the host's unattended.json could not be renamed after the copy");
  }
  logger.info(
    { from: file, to },
    "the host's jump clients and support buttons go to the workers, which copy them into the shared directory",
  );
  return to;
}

export interface Secrets {
  readonly secret: string;
  readonly adminToken: string;
}

/** Runs the workers until a signal stops them; resolves with the exit code. */
export async function runWorkers(config: Config, logger: Logger): Promise<number> {
  const count = workerCount(config.workers);
  const secrets: Secrets = {
    secret: loadOrCreateSecret(config.dataDir, 'secret', config.secret).value,
    adminToken: loadOrCreateSecret(config.dataDir, 'admin-token', config.adminToken).value,
  };
  const workers = Array.from(
    { length: count },
    (_, i) => new Worker(i, workerConfig(config, i, secrets), logger),
  );
  handOverRegistry(
    config.dataDir,
    workers.map((w) => w.config.dataDir),
    logger,
  );
  let stopping = false;
  const listening = new Set<number>();
  for (const worker of workers) {
    worker.onListening = () => {
      listening.add(worker.index);
      if (listening.size === count) {
        logger.info(
          {
            port: config.port,
            workers: workers.map((w) => ({
              id: w.config.gatewayId,
              ownPort: w.config.ownPort,
              adminPort: w.config.adminPort,
              pid: w.pid,
            })),
          },
          'workers listening',
        );
      }
    };
    worker.start();
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: workers killed');
        for (const worker of workers) worker.kill('SIGKILL');
        resolve(ExitCode.failure);
        return;
      }
      stopping = true;
      logger.info({ signal, workers: count }, 'draining every worker');
      Promise.all(workers.map((w) => w.stop(signal))).then((codes) =>
        resolve(codes.every((c) => c === 0) ? ExitCode.ok : ExitCode.failure),
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // SIGHUP: every worker loads its TLS certificate files again
    process.on('SIGHUP', () => {
      for (const worker of workers) worker.kill('SIGHUP');
    });
  });
}

/** One worker process, started again when it dies unasked. */
class Worker {
  readonly index: number;
  readonly config: Config;
  readonly #logger: Logger;
  #child: ChildProcess | null = null;
  #stopping = false;
  #restarts = 0;
  #startedAtMs = 0;
  #exited: Promise<number> = Promise.resolve(0);
  onListening: () => void = () => undefined;

  constructor(index: number, config: Config, logger: Logger) {
    this.index = index;
    this.config = config;
    this.#logger = logger;
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  start(): void {
    this.#startedAtMs = Date.now();
    const child = spawn(process.execPath, [...workerNodeFlags(), BIN, 'serve'], {
      env: gatewayEnv({ ...process.env, ...toEnv(this.config), FERRY_SUPERVISED: '1' }),
      // the IPC channel tells the worker when the supervisor is gone (serve.ts)
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.#child = child;
    for (const [stream, out] of [
      [child.stdout!, process.stdout],
      [child.stderr!, process.stderr],
    ] as const) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        out.write(`${line}\n`);
        if (line.includes('"gateway listening"')) this.onListening();
      });
    }
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#child = null;
        resolve(code ?? 1);
        if (this.#stopping) return;
        const ranMs = Date.now() - this.#startedAtMs;
        if (ranMs >= HEALTHY_RUN_MS) this.#restarts = 0;
        const delayMs = Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** this.#restarts);
        this.#restarts++;
        this.#logger.error(
          { worker: this.config.gatewayId, code, signal, restartInMs: delayMs },
          'worker exited: starting it again',
        );
        setTimeout(() => {
          if (!this.#stopping) this.start();
        }, delayMs).unref();
      });
    });
  }

  kill(signal: NodeJS.Signals): void {
    this.#child?.kill(signal);
  }

  /** Drains the worker (the signal it would get alone) and resolves with its exit code. */
  stop(signal: NodeJS.Signals): Promise<number> {
    this.#stopping = true;
    if (this.#child === null) return Promise.resolve(0);
    this.#child.kill(signal);
    return this.#exited;
  }
}

/** Every setting as its `FERRY_*` variable: the worker reads nothing else. */
function toEnv(config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of configKeys) env[envName(key)] = String(config[key]);
  return env;
}

function withPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.port = String(port);
  return parsed.toString();
}
