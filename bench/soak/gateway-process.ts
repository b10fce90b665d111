/**
 * The soak runner's handle on one gateway child (gateway-child.ts): spawns it, reads its JSON
 * lines (RSS samples go to a callback as they come, everything else waits for `next`), writes
 * commands to its stdin, and kills it (-9, the faults soak's restart) or stops it (stdin closed).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gatewayEnv, gatewayNodeFlags } from '../../src/cli/node-flags.js';

export interface ChildMessage {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface GatewayChildOptions {
  readonly sampleMs: number;
  /** Config overrides (JSON object of config keys). */
  readonly overrides?: Record<string, unknown>;
  /** Data directory kept across lives; '' = a throwaway one of the child's own. */
  readonly dataDir?: string;
  /** Client port; 0 = any (the first life). */
  readonly port?: number;
  /** A channel whose handler throws (0 = none). */
  readonly throwingChannel?: number;
  /** Every {"type":"rss"} line. */
  readonly onRss?: (message: ChildMessage) => void;
}

/** The gateway process and its JSON-line channel. */
export class GatewayChild {
  readonly proc: ChildProcess;
  readonly #queue: ChildMessage[] = [];
  readonly #waiters: { type: string; resolve: (m: ChildMessage) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exitCode: number | null | undefined = undefined;

  constructor(o: GatewayChildOptions) {
    const file = fileURLToPath(new URL('./gateway-child.js', import.meta.url));
    // FERRY_SOAK_NODE_FLAGS: V8 flags for the experiment at hand (--trace-gc, a heap size), with
    // the gateway's launch flags (src/cli/node-flags.ts) that they do not set themselves
    const extra = (process.env.FERRY_SOAK_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
    const args = [...gatewayNodeFlags(extra), file, JSON.stringify(o.overrides ?? {})];
    if (o.dataDir) args.push('--data-dir', o.dataDir);
    if (o.port) args.push('--port', String(o.port));
    if (o.throwingChannel) args.push('--throwing-channel', String(o.throwingChannel));
    this.proc = spawn(process.execPath, args, {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: gatewayEnv({ ...process.env, FERRY_SOAK_SAMPLE_MS: String(o.sampleMs) }),
    });
    // a killed child's stdin may still be written to once: the exit is what counts
    this.proc.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.#exitCode = code;
        resolve({ code, signal });
        for (const w of this.#waiters.splice(0)) {
          w.resolve({ type: 'error', message: `gateway exited (${code}) before ${w.type}` });
        }
      });
    });
    const lines = readline.createInterface({ input: this.proc.stdout! });
    lines.on('line', (line) => {
      let message: ChildMessage;
      try {
        message = JSON.parse(line) as ChildMessage;
      } catch (err) {
        process.stderr.write(`gateway: ${line} (${(err as Error).message})\n`);
        return;
      }
      if (message.type === 'rss') {
        o.onRss?.(message);
        return;
      }
      const i = this.#waiters.findIndex((w) => w.type === message.type || message.type === 'error');
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(message);
      else this.#queue.push(message);
    });
  }

  /**
   * The next message of `type` (an 'error' message or the child's exit answers any wait). It
   * throws after `timeoutMs`: a gateway that never answers fails the run with a clear error, it
   * does not hold the runner forever.
   */
  async next(type: string, timeoutMs = 60_000): Promise<ChildMessage> {
    const i = this.#queue.findIndex((m) => m.type === type || m.type === 'error');
    const message =
      i >= 0
        ? this.#queue.splice(i, 1)[0]!
        : this.#exitCode !== undefined
          ? { type: 'error', message: `gateway exited (${this.#exitCode})` }
          : await new Promise<ChildMessage>((resolve) => {
              const waiter = {
                type,
                resolve: (m: ChildMessage) => {
                  clearTimeout(timer);
                  resolve(m);
                },
              };
              const timer = setTimeout(() => {
                const at = this.#waiters.indexOf(waiter);
                if (at >= 0) this.#waiters.splice(at, 1);
                resolve({
                  type: 'error',
                  message: `no ${type} from pid ${this.proc.pid} within ${timeoutMs} ms`,
                });
              }, timeoutMs);
              this.#waiters.push(waiter);
            });
    if (message.type === 'error') throw new Error(`gateway: ${String(message.message)}`);
    return message;
  }

  tell(message: ChildMessage): void {
    if (this.proc.stdin!.writable) this.proc.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** Kills the child with SIGKILL and waits for the exit. */
  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** Closes its stdin (it shuts the gateway down and exits) and waits for the exit code. */
  async stop(): Promise<number | null> {
    this.proc.stdin!.end();
    return (await this.exited).code;
  }
}
