/**
 * Runs an operator-configured command on the customer's machine (after-session actions, canned
 * scripts, elevation, special tasks): a string through the platform shell, an argv array without
 * one. Output is bounded; past `timeoutMs` the command gets SIGTERM and, `killGraceMs` later,
 * SIGKILL, on POSIX to its whole process group, so what it started ends too. A non-zero exit or
 * a timeout is a result; only a command that cannot start rejects.
 */
import { spawn } from 'node:child_process';

/** A string runs through the platform shell; an array is argv, run without one. */
export type ActionCommand = string | readonly string[];

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeoutMs: number;
  /** From SIGTERM to SIGKILL after a timeout; 0 = SIGKILL at once. */
  readonly killGraceMs?: number;
  /** Bound of each captured stream (stdout, stderr, and both joined). */
  readonly maxOutputBytes: number;
}

export interface CommandRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr as they arrived. */
  readonly output: string;
  readonly timedOut: boolean;
  /** stdout or stderr reached its bound. */
  readonly truncated: boolean;
  /** `output` (both joined) reached its bound. */
  readonly outputTruncated: boolean;
  readonly durationMs: number;
}

class Capture {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  truncated = false;

  constructor(readonly max: number) {}

  push(chunk: Buffer): void {
    const room = this.max - this.#bytes;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.#chunks.push(part);
    this.#bytes += part.length;
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}

export function runCommand(command: ActionCommand, options: RunOptions): Promise<CommandRun> {
  const started = performance.now();
  const posix = process.platform !== 'win32';
  const common = {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
    // its own process group, so a timeout also ends what the command started
    detached: posix,
    windowsHide: true,
  };
  const child =
    typeof command === 'string'
      ? spawn(command, { ...common, shell: true })
      : spawn(command[0]!, command.slice(1), common);
  const out = new Capture(options.maxOutputBytes);
  const err = new Capture(options.maxOutputBytes);
  const both = new Capture(options.maxOutputBytes);
  child.stdout?.on('data', (c: Buffer) => {
    out.push(c);
    both.push(c);
  });
  child.stderr?.on('data', (c: Buffer) => {
    err.push(c);
    both.push(c);
  });
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let killTimer: NodeJS.Timeout | null = null;
    const signal = (sig: NodeJS.Signals) => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      if (!posix) {
        child.kill(sig);
        return;
      }
      try {
        process.kill(-child.pid, sig);
      } catch (e) {
        // ESRCH: the group is gone already, nothing is left to signal
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') return;
        // the group may not be signalled (EPERM): end at least the command itself
        child.kill(sig);
      }
    };
    const grace = options.killGraceMs ?? 0;
    const timer = setTimeout(() => {
      timedOut = true;
      if (grace <= 0) {
        signal('SIGKILL');
        return;
      }
      signal('SIGTERM');
      killTimer = setTimeout(() => signal('SIGKILL'), grace);
    }, options.timeoutMs);
    const settle = () => {
      clearTimeout(timer);
      if (killTimer !== null) clearTimeout(killTimer);
    };
    child.on('error', (e) => {
      settle();
      reject(e);
    });
    child.on('close', (code, sig) => {
      settle();
      resolve({
        code,
        signal: sig,
        stdout: out.text(),
        stderr: err.text(),
        output: both.text(),
        timedOut,
        truncated: out.truncated || err.truncated,
        outputTruncated: both.truncated,
        durationMs: Math.round(performance.now() - started),
      });
    });
  });
}
