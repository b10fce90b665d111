/**
 * A real `redis-server` for a test: on a free loopback port, in a temporary directory, nothing
 * persisted (unless `args` say otherwise). Resolves once the server logs "Ready to accept connections"; `stop()` ends it
 * (SIGTERM, waiting for its exit) and `start()` brings it back on the same port and directory,
 * for the tests of an outage. Optionally with a password and TLS only. Killed and its directory
 * removed in `after`: a TestContext's, or for a server shared by a whole file, node:test's
 * `after` called at the top level of the module (`await startRedis({ after })`; not from inside
 * a `before` hook, where it would run as soon as that hook ends).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { freeLoopbackPort } from '../../bench/common/ports.js';

const REDIS_SERVER = process.env.FERRY_REDIS_SERVER ?? '/usr/bin/redis-server';
/** How long a start or stop may take before the test fails (not a sleep: a bound). */
const BOUND_MS = 10_000;

export interface RedisServer {
  /** `redis://127.0.0.1:<port>/0` (`rediss://`, `:password@` with those options) */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM) and waits for its exit; nothing if already stopped. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory; nothing if running. */
  start(): Promise<void>;
  /** Sends `signal` to the server (SIGSTOP: it stops answering, with its connections open). */
  signal(signal: NodeJS.Signals): void;
}

/** Anything with node:test's `after(fn)`: a TestContext, or `{ after }` from node:test. */
export interface AfterHook {
  after(fn: () => unknown): void;
}

export interface RedisServerOptions {
  /** `--requirepass`: clients must AUTH (the URL then carries `:password@`). */
  readonly password?: string;
  /** Serve TLS only (`--tls-port`, no plain port) with this certificate; the URL is rediss://. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** More server options, after the defaults (a later one wins: `--appendonly yes`). */
  readonly args?: readonly string[];
}

export async function startRedis(
  t: AfterHook,
  options: RedisServerOptions = {},
): Promise<RedisServer> {
  const port = await freeLoopbackPort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-redis-'));
  const listen = options.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        options.tls.cert,
        '--tls-key-file',
        options.tls.key,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  const auth = options.password === undefined ? [] : ['--requirepass', options.password];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    if (child) return;
    const proc = spawn(
      REDIS_SERVER,
      [
        ...listen,
        ...auth,
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--logfile',
        '',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    const output: string[] = [];
    exited = new Promise((resolve) =>
      proc.once('exit', () => {
        if (child === proc) child = undefined;
        resolve();
      }),
    );
    readline.createInterface({ input: proc.stderr! }).on('line', (line) => output.push(line));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`redis-server not ready in ${BOUND_MS} ms:\n${output.join('\n')}`));
      }, BOUND_MS);
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited before ready:\n${output.join('\n')}`));
      });
      readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
        output.push(line);
        if (line.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), BOUND_MS);
    await exited;
    clearTimeout(timer);
  };

  t.after(async () => {
    child?.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await start();
  const scheme = options.tls ? 'rediss' : 'redis';
  const userinfo =
    options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  const signal = (sig: NodeJS.Signals): void => {
    child?.kill(sig);
  };
  return { url: `${scheme}://${userinfo}127.0.0.1:${port}/0`, port, stop, start, signal };
}
