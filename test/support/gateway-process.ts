/**
 * `ferry serve` as a child process, for the tests that kill or stop the gateway itself: resolves
 * once it logs "gateway listening", with that record (its ports), its log lines and its exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import type { TestContext } from 'node:test';

const BIN = path.resolve('bin/ferry.js');

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly listening: { port: number; adminPort: number } & Record<string, unknown>;
  readonly lines: string[];
  /** The exit code, or the signal that ended it. */
  readonly exited: Promise<number | string | null>;
  readonly url: string;
}

export function serveProcess(
  t: TestContext,
  args: readonly string[],
  /** Variables added to this process's environment (FERRY_SECRET, FERRY_DATA_DIR, ...). */
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  readline.createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
  return new Promise((resolve, reject) => {
    void exited.then((code) =>
      reject(new Error(`ferry serve exited with ${code}: ${lines.join('\n')}`)),
    );
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const record = JSON.parse(line) as GatewayProcess['listening'] & { msg?: string };
      if (record.msg !== 'gateway listening') return;
      resolve({
        child,
        listening: record,
        lines,
        exited,
        url: `ws://127.0.0.1:${record.port}/v1/ws`,
      });
    });
  });
}

/** A free loopback port for a gateway that must come back on it (bench/common/ports.ts). */
export { freeLoopbackPort as freePort } from '../../bench/common/ports.js';
