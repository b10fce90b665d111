/**
 * The customer-side shell host: runs the shell processes a technician opens (spec
 * session-tools.md E1-E3), several at once, each under its own id (the SHELL channel's stream
 * number). It knows nothing of frames or sockets: the customer client feeds `ShellInput` bytes to
 * `write`, forwards each `'output'` chunk as `ShellOutput`, and calls `ack` once a chunk has left
 * (flow control below).
 *
 * Two backends, one API:
 * - `pty` (the default): each shell runs on a pseudo-terminal of its own (`@lydell/node-pty`,
 *   whose npm package ships the native binaries), with `TERM=xterm-256color` and the size asked
 *   for, so prompts, echo, job control, full-screen programs (`top`, `less`, editors) and
 *   password prompts (`sudo`) work as on a local terminal. `resize` sets the terminal's size
 *   (the programs get SIGWINCH). Output is the terminal's one stream.
 * - `pipe`: the shell reads a pipe, so it runs non-interactive (no prompt, no echo, no job
 *   control) with `TERM=dumb`; the size is passed as COLUMNS/LINES when it starts and `resize`
 *   only records the new size. stderr is joined to stdout inside the process (`exec shell 2>&1`
 *   through /bin/sh), so the two are ordered as on a terminal; on Windows, or with
 *   `mergeStderr: false`, they come as two streams each in order.
 * `backend: 'auto'` (the default) takes `pty` and falls back to `pipe` only when the PTY module
 * cannot load; `fallbackReason` then says why, for the customer client to tell the technician.
 *
 * Invariants:
 * - Output of one shell is emitted in the order the process wrote it.
 * - Flow control: each shell may have at most `maxUnackedBytes` of emitted, unacknowledged
 *   output. Past it the host stops reading the shell's output (pipes paused, or the PTY master
 *   no longer read: the process blocks on write once the kernel buffer fills) and emits
 *   `'pause'`; it resumes when `ack` brings the count to half, with `'resume'`. Output that was
 *   already read when the pause came is held (and emitted first on the resume), so memory per
 *   shell is bounded by that cap plus one read-ahead.
 * - Known limit of PTY shells (node-pty on Linux): the last bytes a process prints right before
 *   the terminal closes may be lost (the master reads EIO before the kernel has handed them
 *   over), and a shell that exits while paused for more than 200 ms loses what it left unread
 *   (node-pty closes the terminal then). An interactive shell is not hit while it runs: it stays
 *   after each command, so every command's output arrives; only the output of the shell's own
 *   last moments (`exit` typed after a burst) may be cut.
 * - A shell counts against `maxShells` from `open` until its `'exit'`.
 * - `close(id)` ends the shell and what it started: a pipe shell gets its stdin ended and its
 *   process group SIGTERM; a PTY shell and every process of its terminal session (on Linux; its
 *   process group elsewhere) get SIGHUP, as when a terminal window closes. SIGKILL follows after
 *   `killGraceMs`. Output that arrives after `close` is discarded; `'exit'` follows. A shell that
 *   exits by itself (the technician typed `exit`) has its output emitted before `'exit'` (all of
 *   it on pipes; on a PTY see the known limit above). A
 *   background job that keeps the shell's output open delays `'exit'` until it ends or `close`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Readable } from 'node:stream';
import type * as NodePty from '@lydell/node-pty';
import { ToolError } from './errors.js';

export type ShellId = number | string;

export const DEFAULT_MAX_SHELLS = 8;
export const DEFAULT_SHELL_MAX_UNACKED_BYTES = 256 * 1024;
export const DEFAULT_SHELL_MAX_INPUT_BUFFERED_BYTES = 1024 * 1024;
export const DEFAULT_SHELL_KILL_GRACE_MS = 2000;
/** The terminal type PTY shells get. */
export const PTY_TERM = 'xterm-256color';
const MAX_SIZE = 10_000;

export const ShellBackend = { AUTO: 'auto', PTY: 'pty', PIPE: 'pipe' } as const;
export type ShellBackendName = (typeof ShellBackend)[keyof typeof ShellBackend];

export type PtyModule = typeof NodePty;

const require = createRequire(import.meta.url);

/** Loads `@lydell/node-pty` (its platform package holds the native binary). Throws when it cannot. */
export function loadNodePty(): PtyModule {
  return require('@lydell/node-pty') as PtyModule;
}

export interface ShellHostOptions {
  /** Concurrent shells allowed. Default `DEFAULT_MAX_SHELLS`. */
  readonly maxShells?: number;
  /** Emitted but unacknowledged output per shell before it pauses. `Infinity` disables. */
  readonly maxUnackedBytes?: number;
  /** Input bytes queued to a shell that does not read before `write` refuses. */
  readonly maxInputBufferedBytes?: number;
  readonly killGraceMs?: number;
  /** Used when `open` names no shell. Default `$SHELL` or /bin/sh (`%ComSpec%` on Windows). */
  readonly defaultShell?: string;
  /** The environment shells start from (then `open`'s env, then TERM and size). Default process.env. */
  readonly baseEnv?: NodeJS.ProcessEnv;
  /** Pipe backend: join stderr to stdout in the process (POSIX only). Default true. */
  readonly mergeStderr?: boolean;
  /**
   * `auto` (default): a PTY, or pipes when the PTY module cannot load (`fallbackReason` says
   * why). `pty`: a PTY or the constructor throws FERRY_ERR_UNSUPPORTED_OPERATION. `pipe`: pipes.
   */
  readonly backend?: ShellBackendName;
  /** How the PTY module is loaded (tests stand in a failing loader). Default `loadNodePty`. */
  readonly loadPty?: () => PtyModule;
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
  /** True when the shell runs on a pseudo-terminal. */
  readonly pty: boolean;
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

/** What the host needs of a running shell, whichever backend runs it. */
interface ShellProcess {
  readonly pid: number | undefined;
  readonly pty: boolean;
  /** Bytes written but not yet taken by the process; null when input is closed. */
  queuedInput(): number | null;
  write(data: string | Uint8Array): boolean;
  pause(): void;
  resume(): void;
  resize(cols: number, rows: number): void;
  /** Stops input and signals the shell and what it started (first signal of `close`). */
  hangUp(): void;
  kill(): void;
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
  proc!: ShellProcess;
  readonly exited: Promise<void>;
  markExited!: () => void;

  constructor(
    readonly id: ShellId,
    readonly shell: string,
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

/** Sends `signal` to `pid` (a group when negative); false when there is no such process. */
function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * The processes of terminal session `sid` (Linux, from /proc): a PTY shell leads a session of
 * its own, and its jobs run in process groups of their own inside it. Empty without /proc.
 */
function sessionMembers(sid: number): number[] {
  if (process.platform !== 'linux') return [];
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const members: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch (err) {
      // the process ended between readdir and read
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') continue;
      throw err;
    }
    // pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) === sid) members.push(Number(name));
  }
  return members;
}

/** What a backend does for a step it has no part in (a pipe's resize, a dead process's pause). */
const nothing = (): undefined => undefined;

function signalName(signal: number): NodeJS.Signals | null {
  for (const [name, n] of Object.entries(os.constants.signals)) {
    if (n === signal) return name as NodeJS.Signals;
  }
  return null;
}

export class ShellHost extends EventEmitter<ShellHostEvents> {
  readonly maxShells: number;
  readonly maxUnackedBytes: number;
  readonly maxInputBufferedBytes: number;
  readonly killGraceMs: number;
  readonly defaultShell: string;
  readonly baseEnv: NodeJS.ProcessEnv;
  readonly mergeStderr: boolean;
  /** The backend shells run on: `pty`, or `pipe` (asked for, or the PTY module did not load). */
  readonly backend: 'pty' | 'pipe';
  /** Why `auto` fell back to pipes (the PTY module's load error); null otherwise. */
  readonly fallbackReason: string | null;
  readonly #pty: PtyModule | null;
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
    const wanted = opts.backend ?? ShellBackend.AUTO;
    let pty: PtyModule | null = null;
    let reason: string | null = null;
    if (wanted !== ShellBackend.PIPE) {
      try {
        pty = (opts.loadPty ?? loadNodePty)();
      } catch (err) {
        reason = `the PTY module @lydell/node-pty did not load: ${(err as Error).message.split('\n')[0]}`;
        if (wanted === ShellBackend.PTY) throw new ToolError('UNSUPPORTED_OPERATION', reason);
      }
    }
    this.#pty = pty;
    this.backend = pty !== null ? 'pty' : 'pipe';
    this.fallbackReason = reason;
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
      pid: s.proc.pid,
      shell: s.shell,
      pty: s.proc.pty,
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
    const s = new Shell(id, opts.shell ?? this.defaultShell, cols, rows);
    s.proc = this.#pty !== null ? this.#spawnPty(s, this.#pty, opts) : this.#spawnPipe(s, opts);
    this.#shells.set(id, s);
    return this.info(id)!;
  }

  #spawnPty(s: Shell, pty: PtyModule, opts: ShellOpenOptions): ShellProcess {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...this.baseEnv, ...opts.env })) {
      if (v !== undefined) env[k] = v;
    }
    // the terminal's size is the PTY's own (it follows resize): stale COLUMNS/LINES would shadow it
    delete env.COLUMNS;
    delete env.LINES;
    env.TERM = PTY_TERM;
    let term: NodePty.IPty;
    try {
      term = pty.spawn(s.shell, [...(opts.args ?? [])], {
        name: PTY_TERM,
        cols: s.cols,
        rows: s.rows,
        cwd: opts.cwd ?? os.homedir(),
        env,
        encoding: null,
      });
    } catch (err) {
      // no process: report as the pipe backend does, after open has returned
      process.nextTick(() => {
        this.emit('failed', s.id, err as Error);
        this.#onExit(s, null, null);
      });
      return deadProcess();
    }
    term.onData((chunk) => this.#onData(s, chunk as unknown as Buffer, 'stdout'));
    term.onExit(({ exitCode, signal }) => {
      const name = signal ? signalName(signal) : null;
      this.#onExit(s, name === null ? exitCode : null, name);
    });
    // node-pty keeps the master's socket private; its queue is the input bound
    const socket = (term as unknown as { _socket?: { writableLength?: number } })._socket;
    const posix = process.platform !== 'win32';
    let inputOpen = true;
    const signalSession = (signal: NodeJS.Signals) => {
      if (!posix) {
        term.kill();
        return;
      }
      signalPid(-term.pid, signal);
      for (const pid of sessionMembers(term.pid)) signalPid(pid, signal);
    };
    return {
      pid: term.pid,
      pty: true,
      queuedInput: () => (inputOpen ? (socket?.writableLength ?? 0) : null),
      write: (data) => {
        term.write(data as string);
        return (socket?.writableLength ?? 0) === 0;
      },
      pause: () => term.pause(),
      resume: () => term.resume(),
      resize: (cols, rows) => term.resize(cols, rows),
      hangUp: () => {
        inputOpen = false;
        signalSession('SIGHUP');
      },
      kill: () => signalSession('SIGKILL'),
    };
  }

  #spawnPipe(s: Shell, opts: ShellOpenOptions): ShellProcess {
    const env: NodeJS.ProcessEnv = {
      ...this.baseEnv,
      TERM: 'dumb',
      ...opts.env,
      COLUMNS: String(s.cols),
      LINES: String(s.rows),
    };
    const args = opts.args ?? [];
    const posix = process.platform !== 'win32';
    const [file, argv] = this.mergeStderr
      ? ['/bin/sh', ['-c', 'exec "$0" "$@" 2>&1', s.shell, ...args]]
      : [s.shell, [...args]];
    // detached: the shell leads its own process group, so close() also ends what it started
    const child: ChildProcess = spawn(file, argv, {
      cwd: opts.cwd ?? os.homedir(),
      env,
      stdio: ['pipe', 'pipe', this.mergeStderr ? 'ignore' : 'pipe'],
      detached: posix,
      windowsHide: true,
    });
    const pipes: Readable[] = [];
    if (child.stdout !== null) pipes.push(child.stdout);
    if (child.stderr !== null) pipes.push(child.stderr);
    child.stdout?.on('data', (chunk: Buffer) => this.#onData(s, chunk, 'stdout'));
    child.stderr?.on('data', (chunk: Buffer) => this.#onData(s, chunk, 'stderr'));
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET: the shell exited while input was queued; its 'exit' tells the story
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') this.emit('failed', s.id, err);
    });
    child.on('error', (err) => {
      this.emit('failed', s.id, err);
      if (child.pid === undefined) this.#onExit(s, null, null);
    });
    child.on('close', (code, signal) => this.#onExit(s, code, signal));
    const signalGroup = (signal: NodeJS.Signals) => {
      const pid = child.pid;
      if (pid === undefined) return;
      if (posix) signalPid(-pid, signal);
      else child.kill(signal);
    };
    return {
      get pid() {
        return child.pid;
      },
      pty: false,
      queuedInput: () =>
        child.stdin === null || !child.stdin.writable ? null : child.stdin.writableLength,
      write: (data) => child.stdin!.write(data),
      pause: () => {
        for (const p of pipes) p.pause();
      },
      resume: () => {
        for (const p of pipes) p.resume();
      },
      resize: nothing,
      hangUp: () => {
        child.stdin?.end();
        signalGroup('SIGTERM');
      },
      kill: () => signalGroup('SIGKILL'),
    };
  }

  /**
   * Queues bytes to the shell's input. Returns false when its queue is past its high-water mark
   * (the process is not reading; retry later). Throws `SHELL_NOT_FOUND` or `SHELL_INPUT_FULL`
   * (nothing written).
   */
  write(id: ShellId, data: string | Uint8Array): boolean {
    const s = this.#open(id);
    const queued = s.proc.queuedInput();
    if (queued === null) throw new ToolError('SHELL_NOT_FOUND', String(id));
    const len = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (queued + len > this.maxInputBufferedBytes) {
      throw new ToolError('SHELL_INPUT_FULL', `${queued} bytes queued`);
    }
    return s.proc.write(data);
  }

  /**
   * Sets the shell's size: a PTY's window size (its programs get SIGWINCH); a pipe shell only
   * records it. Emits `'resize'`.
   */
  resize(id: ShellId, cols: number, rows: number): void {
    const s = this.#open(id);
    checkSize(cols, rows);
    s.proc.resize(cols, rows);
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
   * Ends one shell (and what it started): other shells keep running. Resolves after its
   * `'exit'`. False when no such shell is open.
   */
  close(id: ShellId): Promise<boolean> {
    const s = this.#shells.get(id);
    if (s === undefined) return Promise.resolve(false);
    if (!s.closing) {
      s.closing = true;
      // output after close is discarded: let it drain so the process is not stuck on a full pipe
      if (s.paused) this.#resume(s);
      if (!s.done) s.proc.hangUp();
      s.killTimer = setTimeout(() => {
        if (!s.done) s.proc.kill();
      }, this.killGraceMs);
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

  #onData(s: Shell, chunk: Buffer, stream: 'stdout' | 'stderr'): void {
    if (s.closing || s.done) return;
    if (s.paused) {
      // read before the pause took hold (or Node resumed a child's pipes at its exit): hold it
      s.held.push({ chunk, stream });
      s.heldBytes += chunk.length;
      s.proc.pause();
      return;
    }
    this.#emitOutput(s, chunk, stream);
  }

  #emitOutput(s: Shell, chunk: Buffer, stream: 'stdout' | 'stderr'): void {
    s.unacked += chunk.length;
    this.emit('output', s.id, chunk, stream);
    if (!s.paused && s.unacked >= this.maxUnackedBytes) {
      s.paused = true;
      s.proc.pause();
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
    s.proc.resume();
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

/** A shell whose process never started: it takes no input and has nothing to signal. */
function deadProcess(): ShellProcess {
  return {
    pid: undefined,
    pty: true,
    queuedInput: () => null,
    write: () => false,
    pause: nothing,
    resume: nothing,
    resize: nothing,
    hangUp: nothing,
    kill: nothing,
  };
}
