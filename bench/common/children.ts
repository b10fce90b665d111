/**
 * Child processes of a bench runner. Each is spawned (pinned to its CPUs with `taskset` when the
 * plan says so), tracked in one set, and killed by its pid when the runner exits, including on
 * SIGINT/SIGTERM (after which the signal is re-raised so the runner ends the way it was asked
 * to). Children talk back in JSON lines on stdout; anything else they print is kept as a tail
 * for error messages. A child also stops by itself when its stdin closes (see child-side.ts), so
 * a runner killed with SIGKILL does not leave targets behind.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import readline from 'node:readline';

const live = new Set<ChildProcess>();
let cleanupInstalled = false;

function killAll(signal: NodeJS.Signals): void {
  for (const proc of live) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  }
}

/** Kills every tracked child on exit and on SIGINT/SIGTERM; idempotent. */
export function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => killAll('SIGKILL'));
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping ${live.size} child process(es)\n`);
    killAll('SIGTERM');
    setTimeout(() => {
      killAll('SIGKILL');
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }, 300);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** CPUs this process may run on (its affinity list), e.g. [0, 1]. */
export function allowedCpus(): number[] {
  try {
    const out = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
    const list = out.slice(out.lastIndexOf(':') + 1).trim();
    const cpus: number[] = [];
    for (const part of list.split(',')) {
      const [from, to] = part.split('-').map(Number);
      if (from === undefined || !Number.isInteger(from)) continue;
      const last = to !== undefined && Number.isInteger(to) ? to : from;
      for (let c = from; c <= last && cpus.length < 4096; c++) cpus.push(c);
    }
    if (cpus.length > 0) return cpus;
  } catch (err) {
    process.emitWarning(
      `taskset -cp failed (${(err as Error).message.split('\n')[0]}): no pinning`,
    );
  }
  return [];
}

export interface PinPlan {
  /** False when taskset is missing, fewer than 2 CPUs are allowed, or pinning was turned off. */
  readonly pinned: boolean;
  /** taskset -c lists, '' when not pinned. */
  readonly targetCpus: string;
  readonly generatorCpus: string;
  /** How many CPUs the generator may use (its worker count). */
  readonly generatorCores: number;
  readonly reason: string;
}

/** Target on the first allowed CPU, generator on the rest. */
export function pinPlan(disabled: boolean): PinPlan {
  const n = os.availableParallelism();
  if (disabled) {
    return {
      pinned: false,
      targetCpus: '',
      generatorCpus: '',
      generatorCores: Math.max(1, n - 1),
      reason: 'disabled by --no-pin',
    };
  }
  const cpus = allowedCpus();
  if (cpus.length < 2) {
    return {
      pinned: false,
      targetCpus: '',
      generatorCpus: '',
      generatorCores: 1,
      reason: cpus.length === 0 ? 'taskset unavailable' : 'only one CPU allowed',
    };
  }
  const rest = cpus.slice(1);
  return {
    pinned: true,
    targetCpus: String(cpus[0]),
    generatorCpus: rest.join(','),
    generatorCores: rest.length,
    reason: `target on CPU ${cpus[0]}, generator on CPU ${rest.join(',')}`,
  };
}

/**
 * Moves running processes (the runner itself, a server it started) to the plan's generator CPUs
 * (nothing when the plan does not pin); the returned function gives them every allowed CPU back.
 */
export function pinElsewhere(plan: PinPlan, pids: readonly number[]): () => void {
  if (!plan.pinned) return () => undefined;
  const all = allowedCpus().join(',');
  const move = (cpus: string) => {
    for (const pid of pids)
      execFileSync('taskset', ['-acp', cpus, String(pid)], { stdio: 'ignore' });
  };
  move(plan.generatorCpus);
  return () => move(all);
}

export type ChildMessage = Record<string, unknown> & { readonly type: string };

const TAIL_BYTES = 8192;

export class Child {
  readonly label: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #tail = '';
  readonly #messages: ChildMessage[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(
    label: string,
    command: string,
    args: readonly string[],
    cpus: string,
    env?: NodeJS.ProcessEnv,
  ) {
    this.label = label;
    const [cmd, argv] =
      cpus === '' ? [command, [...args]] : ['taskset', ['-c', cpus, command, ...args]];
    this.proc = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    live.add(this.proc);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc);
        resolve({ code, signal });
        for (const wake of this.#waiters) wake();
      });
    });
    this.proc.once('error', (err) => {
      this.#append(`spawn error: ${err.message}\n`);
      live.delete(this.proc);
    });
    // a child that exits early closes its stdin pipe: that EPIPE is reported by exit, not here
    this.proc.stdin?.on('error', (err) => this.#append(`stdin: ${err.message}\n`));
    const out = readline.createInterface({ input: this.proc.stdout! });
    out.on('line', (line) => this.#onLine(line));
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (chunk: string) => this.#append(chunk));
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  get running(): boolean {
    return (
      this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid !== undefined
    );
  }

  /** The last few KiB the child printed that were not JSON messages (stderr and stray stdout). */
  get tail(): string {
    return this.#tail;
  }

  #append(text: string): void {
    this.#tail = (this.#tail + text).slice(-TAIL_BYTES);
  }

  #onLine(line: string): void {
    if (line.startsWith('{')) {
      try {
        const msg = JSON.parse(line) as ChildMessage;
        if (typeof msg.type === 'string') {
          this.#messages.push(msg);
          for (const wake of this.#waiters) wake();
          return;
        }
      } catch (err) {
        this.#append(`[unparsable JSON line: ${(err as Error).message}]\n`);
      }
    }
    this.#append(`${line}\n`);
  }

  /** Resolves with the first message of `type` (removing it), rejects on exit or timeout. */
  next(type: string, timeoutMs: number): Promise<ChildMessage> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.#messages.findIndex((m) => m.type === type);
        if (i >= 0) {
          const [msg] = this.#messages.splice(i, 1);
          done();
          resolve(msg!);
          return true;
        }
        const failed = this.#messages.find((m) => m.type === 'error');
        if (failed !== undefined) {
          done();
          reject(new Error(`${this.label}: ${String(failed.message)}`));
          return true;
        }
        if (!this.running) {
          done();
          reject(
            new Error(
              `${this.label} exited (${this.proc.exitCode ?? this.proc.signalCode}) before "${type}"\n${this.#tail}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label}: no "${type}" within ${timeoutMs} ms\n${this.#tail}`));
      }, timeoutMs);
      const wake = () => {
        check();
      };
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
      };
      if (!check()) this.#waiters.add(wake);
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.running) this.proc.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function spawnChild(
  label: string,
  script: string,
  args: readonly string[],
  cpus: string,
  nodeArgs: readonly string[] = [],
  env?: NodeJS.ProcessEnv,
): Child {
  return new Child(label, process.execPath, [...nodeArgs, script, ...args], cpus, env);
}

/** Waits for `proc`'s exit event if it has not happened yet. */
export async function waitExit(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await once(proc, 'exit');
}
