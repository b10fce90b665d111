/**
 * The customer-side shell host: runs the shell processes a technician opens (spec
 * session-tools.md E1-E3), several at once, each under its own id (the SHELL channel's stream
 * number). It knows nothing of frames or sockets: the customer client feeds `ShellInput` bytes to
 * `write`, forwards each `'output'` chunk as `ShellOutput`, and calls `ack` once a chunk has left
 * (flow control below).
 *
 * Invariants:
 * - Output of one shell is emitted in the order the process wrote it. By default stderr is
 *   joined to stdout inside the process (`exec shell 2>&1` through /bin/sh), so the two are
 *   ordered as on a terminal; on Windows, or with `mergeStderr: false`, they come as two streams
 *   each in order.
 * - No PTY (node-pty is not a dependency): the shell reads a pipe, so it runs non-interactive
 *   (no prompt, no echo, no job control) and `TERM=dumb`. The size is passed as COLUMNS/LINES
 *   when the shell starts; `resize` only records the new size and emits `'resize'` so the
 *   recording can note it. A PTY backend could later honour it behind the same API.
 * - Flow control: each shell may have at most `maxUnackedBytes` of emitted, unacknowledged
 *   output. Past it the host pauses the process's pipes (the process blocks on write when the
 *   pipe fills) and emits `'pause'`; it resumes when `ack` brings the count to half, with
 *   `'resume'`. Node resumes a child's pipes by itself when the child exits; output read then
 *   is held (and the pipes paused again) until acks make room. Memory per shell is thus bounded
 *   by that cap plus what a pipe reads ahead (its 64 KiB high-water mark, a few reads at most).
 * - A shell counts against `maxShells` from `open` until its `'exit'`.
 * - `close(id)` ends stdin, signals the shell's whole process group (SIGTERM, then SIGKILL after
 *   `killGraceMs`) and discards output that arrives after it; `'exit'` follows. A shell that exits
 *   by itself (the technician typed `exit`) has all its output emitted before `'exit'`. A
 *   background job that keeps the shell's stdout open delays `'exit'` until it ends or `close`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { ToolError } from './errors.js';

export type ShellId = number | string;

export const DEFAULT_MAX_SHELLS = 8;
export const DEFAULT_SHELL_MAX_UNACKED_BYTES = 256 * 1024;
export const DEFAULT_SHELL_MAX_INPUT_BUFFERED_BYTES = 1024 * 1024;
export const DEFAULT_SHELL_KILL_GRACE_MS = 2000;
const MAX_SIZE = 10_000;

export interface ShellHostOptions {
  /** Concurrent shells allowed. Default `DEFAULT_MAX_SHELLS`. */
  readonly maxShells?: number;
  /** Emitted but unacknowledged output per shell before its pipes pause. `Infinity` disables. */
  readonly maxUnackedBytes?: number;
  /** Input bytes queued to a shell that does not read before `write` refuses. */
  readonly maxInputBufferedBytes?: number;
  readonly killGraceMs?: number;
  /** Used when `open` names no shell. Default `$SHELL` or /bin/sh (`%ComSpec%` on Windows). */
  readonly defaultShell?: string;
  /** The environment shells start from (then `open`'s env, then COLUMNS/LINES). Default process.env. */
  readonly baseEnv?: NodeJS.ProcessEnv;
  /** Join stderr to stdout in the process (POSIX only). Default true. */
  readonly mergeStderr?: boolean;
}

export interface ShellOpenOptions {
  readonly shell?: string;
  readonly args?: readonly string[];
  /** Default: the user's home directory. */
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly cols?: number;
  readonly rows?: number;
}

export interface ShellInfo {
  readonly id: ShellId;
  readonly pid: number | undefined;
  readonly shell: string;
  readonly cols: number;
  readonly rows: number;
  readonly unackedBytes: number;
  /** Output read from the process while paused, not yet emitted. */
  readonly heldBytes: number;
  readonly paused: boolean;
  readonly closing: boolean;
}

export interface ShellHostEvents {
  output: [id: ShellId, chunk: Buffer, stream: 'stdout' | 'stderr'];
  /** `code` is null when the process was ended by `signal` or never started. */
  exit: [id: ShellId, code: number | null, signal: NodeJS.Signals | null];
  resize: [id: ShellId, cols: number, rows: number];
  pause: [id: ShellId];
  resume: [id: ShellId];
  /** The process could not start or a pipe failed; `'exit'` follows when the process is gone. */
  failed: [id: ShellId, err: Error];
}

class Shell {
  unacked = 0;
  paused = false;
  /** Output that arrived while paused (see #onData), emitted before anything newer. */
  readonly held: { chunk: Buffer; stream: 'stdout' | 'stderr' }[] = [];
  heldBytes = 0;
  pendingExit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  closing = false;
  done = false;
  killTimer: NodeJS.Timeout | null = null;
  readonly exited: Promise<void>;
  markExited!: () => void;

  constructor(
    readonly id: ShellId,
    readonly child: ChildProcess,
    readonly shell: string,
    readonly pipes: readonly Readable[],
    public cols: number,
    public rows: number,
  ) {
    this.exited = new Promise((resolve) => {
      this.markExited = resolve;
    });
  }
}

function checkSize(cols: number, rows: number): void {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= MAX_SIZE;
  if (!ok(cols) || !ok(rows)) throw new ToolError('SHELL_BAD_SIZE', `${cols}x${rows}`);
}

export class ShellHost extends EventEmitter<ShellHostEvents> {
  readonly maxShells: number;
  readonly maxUnackedBytes: number;
  readonly maxInputBufferedBytes: number;
  readonly killGraceMs: number;
  readonly defaultShell: string;
  readonly baseEnv: NodeJS.ProcessEnv;
  readonly mergeStderr: boolean;
  readonly #shells = new Map<ShellId, Shell>();

  constructor(opts: ShellHostOptions = {}) {
    super();
    const win = process.platform === 'win32';
    this.maxShells = opts.maxShells ?? DEFAULT_MAX_SHELLS;
    this.maxUnackedBytes = opts.maxUnackedBytes ?? DEFAULT_SHELL_MAX_UNACKED_BYTES;
    this.maxInputBufferedBytes =
      opts.maxInputBufferedBytes ?? DEFAULT_SHELL_MAX_INPUT_BUFFERED_BYTES;
    this.killGraceMs = opts.killGraceMs ?? DEFAULT_SHELL_KILL_GRACE_MS;
    this.defaultShell =
      opts.defaultShell ??
      (win ? (process.env.ComSpec ?? 'cmd.exe') : (process.env.SHELL ?? '/bin/sh'));
    this.baseEnv = opts.baseEnv ?? process.env;
    this.mergeStderr = (opts.mergeStderr ?? true) && !win;
  }

  /** Shells open now (until their `'exit'`). */
  get size(): number {
    return this.#shells.size;
  }

  ids(): ShellId[] {
    return [...this.#shells.keys()];
  }

  info(id: ShellId): ShellInfo | undefined {
    const s = this.#shells.get(id);
    if (s === undefined) return undefined;
    return {
      id,
      pid: s.child.pid,
      shell: s.shell,
      cols: s.cols,
      rows: s.rows,
      unackedBytes: s.unacked,
      heldBytes: s.heldBytes,
      paused: s.paused,
      closing: s.closing,
    };
  }

  /** Starts a shell. Throws `SHELL_LIMIT`, `SHELL_EXISTS` or `SHELL_BAD_SIZE`. */
  open(id: ShellId, opts: ShellOpenOptions = {}): ShellInfo {
    if (this.#shells.has(id)) throw new ToolError('SHELL_EXISTS', String(id));
    if (this.#shells.size >= this.maxShells) {
      throw new ToolError('SHELL_LIMIT', `${this.maxShells} shells open`);
    }
    const cols = opts.cols ?? 80;
    const rows = opts.rows ?? 24;
    checkSize(cols, rows);
    const shell = opts.shell ?? this.defaultShell;
    const args = opts.args ?? [];
    const env: NodeJS.ProcessEnv = {
      ...this.baseEnv,
      TERM: 'dumb',
      ...opts.env,
      COLUMNS: String(cols),
      LINES: String(rows),
    };
    const posix = process.platform !== 'win32';
    const [file, argv] = this.mergeStderr
      ? ['/bin/sh', ['-c', 'exec "$0" "$@" 2>&1', shell, ...args]]
      : [shell, [...args]];
    // detached: the shell leads its own process group, so close() also ends what it started
    const child = spawn(file, argv, {
      cwd: opts.cwd ?? os.homedir(),
      env,
      stdio: ['pipe', 'pipe', this.mergeStderr ? 'ignore' : 'pipe'],
      detached: posix,
      windowsHide: true,
    });
    const pipes: Readable[] = [];
    if (child.stdout !== null) pipes.push(child.stdout);
    if (child.stderr !== null) pipes.push(child.stderr);
    const s = new Shell(id, child, shell, pipes, cols, rows);
    this.#shells.set(id, s);

    child.stdout?.on('data', (chunk: Buffer) => this.#onData(s, chunk, 'stdout'));
    child.stderr?.on('data', (chunk: Buffer) => this.#onData(s, chunk, 'stderr'));
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET: the shell exited while input was queued; its 'exit' tells the story
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') this.emit('failed', id, err);
    });
    child.on('error', (err) => {
      this.emit('failed', id, err);
      if (child.pid === undefined) this.#onExit(s, null, null);
    });
    child.on('close', (code, signal) => this.#onExit(s, code, signal));
    return this.info(id)!;
  }

  /**
   * Queues bytes to the shell's stdin. Returns false when the pipe's buffer is past its
   * high-water mark (keep the next input until `'drain'` on a real stream; here: retry later).
   * Throws `SHELL_NOT_FOUND` or `SHELL_INPUT_FULL` (nothing written).
   */
  write(id: ShellId, data: string | Uint8Array): boolean {
    const s = this.#open(id);
    const stdin = s.child.stdin;
    if (stdin === null || !stdin.writable) throw new ToolError('SHELL_NOT_FOUND', String(id));
    const len = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (stdin.writableLength + len > this.maxInputBufferedBytes) {
      throw new ToolError('SHELL_INPUT_FULL', `${stdin.writableLength} bytes queued`);
    }
    return stdin.write(data);
  }

  /** Records a new size (no PTY: the running process is not told). Emits `'resize'`. */
  resize(id: ShellId, cols: number, rows: number): void {
    const s = this.#open(id);
    checkSize(cols, rows);
    s.cols = cols;
    s.rows = rows;
    this.emit('resize', id, cols, rows);
  }

  /**
   * The consumer has forwarded `bytes` of this shell's output. Resumes a paused shell once half
   * the window is free. False when no such shell is open (acks after its exit are harmless).
   */
  ack(id: ShellId, bytes: number): boolean {
    const s = this.#shells.get(id);
    if (s === undefined) return false;
    s.unacked = Math.max(0, s.unacked - bytes);
    if (s.paused && s.unacked <= this.maxUnackedBytes / 2) this.#resume(s);
    return true;
  }

  /**
   * Ends one shell (its process group): other shells keep running. Resolves after its `'exit'`.
   * False when no such shell is open.
   */
  close(id: ShellId): Promise<boolean> {
    const s = this.#shells.get(id);
    if (s === undefined) return Promise.resolve(false);
    if (!s.closing) {
      s.closing = true;
      // output after close is discarded: let it drain so the process is not stuck on a full pipe
      if (s.paused) this.#resume(s);
      s.child.stdin?.end();
      this.#signal(s, 'SIGTERM');
      s.killTimer = setTimeout(() => this.#signal(s, 'SIGKILL'), this.killGraceMs);
      s.killTimer.unref();
    }
    return s.exited.then(() => true);
  }

  /** Ends every shell; resolves when all have exited. */
  async closeAll(): Promise<void> {
    await Promise.all(this.ids().map((id) => this.close(id)));
  }

  #open(id: ShellId): Shell {
    const s = this.#shells.get(id);
    if (s === undefined || s.closing) throw new ToolError('SHELL_NOT_FOUND', String(id));
    return s;
  }

  #signal(s: Shell, signal: NodeJS.Signals): void {
    const pid = s.child.pid;
    if (s.done || pid === undefined) return;
    if (process.platform === 'win32') {
      s.child.kill(signal);
      return;
    }
    try {
      process.kill(-pid, signal);
    } catch (err) {
      // ESRCH: the group is already gone; 'close' is on its way
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  #onData(s: Shell, chunk: Buffer, stream: 'stdout' | 'stderr'): void {
    if (s.closing || s.done) return;
    if (s.paused) {
      // Node resumes a child's pipes itself when the child exits (flushStdio): hold, pause again
      s.held.push({ chunk, stream });
      s.heldBytes += chunk.length;
      for (const p of s.pipes) p.pause();
      return;
    }
    this.#emitOutput(s, chunk, stream);
  }

  #emitOutput(s: Shell, chunk: Buffer, stream: 'stdout' | 'stderr'): void {
    s.unacked += chunk.length;
    this.emit('output', s.id, chunk, stream);
    if (!s.paused && s.unacked >= this.maxUnackedBytes) {
      s.paused = true;
      for (const p of s.pipes) p.pause();
      this.emit('pause', s.id);
    }
  }

  #resume(s: Shell): void {
    s.paused = false;
    if (s.closing) {
      s.held.length = 0;
      s.heldBytes = 0;
    }
    while (s.held.length > 0 && !s.paused) {
      const { chunk, stream } = s.held.shift()!;
      s.heldBytes -= chunk.length;
      this.#emitOutput(s, chunk, stream);
    }
    if (s.paused) return;
    for (const p of s.pipes) p.resume();
    this.emit('resume', s.id);
    if (s.pendingExit !== null) this.#onExit(s, s.pendingExit.code, s.pendingExit.signal);
  }

  #onExit(s: Shell, code: number | null, signal: NodeJS.Signals | null): void {
    if (s.done) return;
    if (s.held.length > 0 && !s.closing) {
      // held output goes out first: 'exit' is always the last event of a shell
      s.pendingExit = { code, signal };
      return;
    }
    s.done = true;
    if (s.killTimer !== null) clearTimeout(s.killTimer);
    this.#shells.delete(s.id);
    this.emit('exit', s.id, code, signal);
    s.markExited();
  }
}
