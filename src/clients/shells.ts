/**
 * Command shells in the reference clients (spec session-tools E1-E3), over the SHELL channel
 * (Frame.stream = shell id):
 * - `CustomerShells` runs the shells a technician opens as real processes through `ShellHost`,
 *   each on a pseudo-terminal (TERM=xterm-256color, the size asked for, resized as the
 *   technician's terminal is), forwards their output in order and acknowledges it to the host
 *   once the WebSocket has written it (flow control: a shell whose output is not leaving
 *   pauses); output produced while the connection is being resumed is queued and sent on the
 *   resume. When the PTY module cannot load, shells run on pipes and every ShellOpened says so
 *   (`pty` false and a `note`). Shells end when the shell grant is revoked or the client closes.
 * - `TechnicianShells` opens shells (several at once) under open references above 1000; the
 *   gateway names each shell with a small per-session id (1, 2, 3, ...) in its ShellOpened (see
 *   proto/ferry/v1/shell.proto). Each `RemoteShell` writes, resizes (or follows a terminal's
 *   size), closes and emits its output and exit.
 * The gateway enforces the grant, the per-session cap and the recording; nothing here is a check.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { type CodeEntry, Codes } from '../protocol/codes.js';
import { Channel, encodeFrame } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import { ShellHost, type ShellHostOptions } from '../tools/shell-host.js';
import { type FerryClient, FerryError } from './client.js';
import { toNames } from './permissions.js';

/** Shell programs a technician may name in ShellOpen.kind (looked up on the customer's PATH). */
export const SHELL_KINDS: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'zsh',
  'dash',
  'fish',
  'pwsh',
  'powershell',
  'cmd',
]);

/** True when `err` carries the code of one of `entries`. */
function isCode(err: unknown, ...entries: readonly CodeEntry[]): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return entries.some((e) => e.code === code);
}

function shellFrame(id: number, shell: ferry.v1.ShellMessage.$Properties): Uint8Array {
  return encodeFrame({ channel: Channel.CHANNEL_SHELL, stream: id, shell });
}

/**
 * Sends `bytes` and calls `written` once `ws` has handed them to the socket; false (and no
 * call) when the connection is not open.
 */
function sendWritten(client: FerryClient, bytes: Uint8Array, written: () => void): boolean {
  const ws = client.ws;
  if (ws === null || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(bytes, () => written());
  client.framesOut++;
  client.bytesOut += bytes.length;
  return true;
}

export interface CustomerShellOptions extends ShellHostOptions {
  /** False: every ShellOpen is answered with an exit naming FERRY_ERR_UNSUPPORTED_OPERATION. */
  readonly enabled?: boolean;
}

/** The customer side: runs shells for the technicians. */
export class CustomerShells {
  readonly host: ShellHost;
  readonly enabled: boolean;
  readonly #client: FerryClient;
  /** Frames made while the connection is down, sent in order on the resume. */
  readonly #queue: { bytes: Uint8Array; id: number; acks: number }[] = [];
  /** Why a shell failed (`'failed'` comes before its `'exit'`). */
  readonly #failures = new Map<number, string>();
  /**
   * Technician frames dropped: input for a shell that is closing or not reading its stdin
   * (the bytes are lost, as on a full terminal), resizes of a closing shell or to a bad size.
   */
  readonly dropped = { input: 0, resize: 0 };

  constructor(client: FerryClient, options: CustomerShellOptions = {}) {
    this.#client = client;
    this.enabled = options.enabled ?? true;
    this.host = new ShellHost(options);
    client.on('frame', (frame) => {
      if (frame.channel === Channel.CHANNEL_SHELL && frame.shell) {
        this.#onMessage(frame.stream, frame.shell as ferry.v1.ShellMessage);
      }
    });
    this.host.on('output', (id, chunk) => {
      this.#send(Number(id), shellFrame(Number(id), { output: { data: chunk } }), chunk.length);
    });
    this.host.on('failed', (id, err) => this.#failures.set(Number(id), err.message));
    this.host.on('exit', (id, code, signal) => {
      const failure = this.#failures.get(Number(id));
      this.#failures.delete(Number(id));
      const exit: ferry.v1.ShellExit.$Properties = {
        code: code ?? -1,
        signal: signal ?? '',
        message: failure ?? '',
      };
      this.#send(Number(id), shellFrame(Number(id), { exit }), 0);
    });
    client.on('resumed', () => this.#flush());
    client.on('close', () => void this.host.closeAll());
    client.on('consentChanged', (c) => {
      if (!toNames(c.granted).includes('shell')) void this.host.closeAll();
    });
  }

  #onMessage(id: number, msg: ferry.v1.ShellMessage): void {
    switch (msg.kind) {
      case 'open':
        this.#open(id, msg.open as ferry.v1.ShellOpen);
        return;
      case 'input':
        try {
          this.host.write(id, msg.input!.data!);
        } catch (err) {
          if (!isCode(err, Codes.SHELL_NOT_FOUND, Codes.SHELL_INPUT_FULL)) throw err;
          this.dropped.input++;
        }
        return;
      case 'resize':
        try {
          this.host.resize(id, msg.resize!.cols!, msg.resize!.rows!);
        } catch (err) {
          if (!isCode(err, Codes.SHELL_NOT_FOUND, Codes.SHELL_BAD_SIZE)) throw err;
          this.dropped.resize++;
        }
        return;
      case 'close':
        void this.host.close(id);
        return;
      default:
    }
  }

  #open(id: number, op: ferry.v1.ShellOpen): void {
    const refuse = (code: string, message: string) =>
      this.#send(id, shellFrame(id, { exit: { code: -1, errorCode: code, message } }), 0);
    if (!this.enabled) {
      refuse(Codes.UNSUPPORTED_OPERATION.code, 'this customer client runs no shells');
      return;
    }
    if (op.kind !== '' && !SHELL_KINDS.has(op.kind)) {
      refuse(Codes.INVALID_ARGUMENT.code, `unknown shell kind ${op.kind}`);
      return;
    }
    try {
      const info = this.host.open(id, {
        ...(op.kind !== '' ? { shell: op.kind } : {}),
        cols: op.cols || 80,
        rows: op.rows || 24,
      });
      const opened: ferry.v1.ShellOpened.$Properties = {
        name: op.name,
        shell: info.shell,
        pid: info.pid ?? 0,
        pty: info.pty,
        note: info.pty ? '' : this.#pipeNote(),
      };
      this.#send(id, shellFrame(id, { opened }), 0);
    } catch (err) {
      const code = (err as { code?: string }).code ?? Codes.SHELL_NOT_FOUND.code;
      refuse(code, (err as Error).message);
    }
  }

  /** What a technician is told when its shell runs on pipes. */
  #pipeNote(): string {
    const why = this.host.fallbackReason ?? 'this customer client runs shells without a terminal';
    return (
      `no PTY (${why}): this shell runs on pipes, with no prompt, no echo and no job control; ` +
      'top, less, editors and sudo prompts will not work'
    );
  }

  /** Sends in order; output is acknowledged to the host once written. */
  #send(id: number, bytes: Uint8Array, acks: number): void {
    if (this.#queue.length > 0 || !this.#sendNow(id, bytes, acks)) {
      this.#queue.push({ bytes, id, acks });
    }
  }

  #sendNow(id: number, bytes: Uint8Array, acks: number): boolean {
    return sendWritten(this.#client, bytes, () => {
      if (acks > 0) this.host.ack(id, acks);
    });
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      if (!this.#sendNow(next.id, next.bytes, next.acks)) return;
      this.#queue.shift();
    }
  }
}

export interface ShellExitInfo {
  readonly code: number;
  readonly signal: string;
  /** FERRY_ERR_* when the shell could not run or was ended by the gateway; '' otherwise. */
  readonly errorCode: string;
  readonly message: string;
}

export interface RemoteShellEvents {
  /** Output, in the order the shell printed it. */
  data: [chunk: Buffer];
  /** The shell's last event. */
  exit: [exit: ShellExitInfo];
  /** The gateway refused a frame of this shell (FERRY_ERR_* code). */
  refused: [err: ferry.v1.Error];
}

/** A terminal whose size a shell can follow (a `tty.WriteStream` such as `process.stdout`). */
export interface SizedTerminal {
  readonly columns: number | undefined;
  readonly rows: number | undefined;
  on(event: 'resize', listener: () => void): unknown;
  off(event: 'resize', listener: () => void): unknown;
}

/** One shell a technician opened on the customer's machine. */
export class RemoteShell extends EventEmitter<RemoteShellEvents> {
  /** The shell id in the session (1, 2, 3, ...), as the gateway allocated it. */
  readonly id: number;
  name: string;
  program = '';
  pid = 0;
  /** True when the customer runs the shell on a pseudo-terminal. */
  pty = false;
  /** The customer's note when it does not (why, and what does not work then). */
  note = '';
  /** Every output byte so far (bounded by `keepBytes`: older bytes are dropped). */
  #output: Buffer[] = [];
  #outputBytes = 0;
  readonly keepBytes: number;
  exitInfo: ShellExitInfo | null = null;
  readonly exited: Promise<ShellExitInfo>;
  #markExited!: (exit: ShellExitInfo) => void;
  readonly #client: FerryClient;

  constructor(client: FerryClient, id: number, name: string, keepBytes: number) {
    super();
    this.#client = client;
    this.id = id;
    this.name = name;
    this.keepBytes = keepBytes;
    this.exited = new Promise((resolve) => {
      this.#markExited = resolve;
    });
  }

  /** The output kept so far, as text. */
  get text(): string {
    return Buffer.concat(this.#output).toString('utf8');
  }

  /** Types into the shell. False when the connection is down (the bytes are not sent). */
  write(data: string | Uint8Array): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return this.#client.sendRaw(shellFrame(this.id, { input: { data: bytes } }));
  }

  /** Sets the shell's terminal size (the customer's PTY window size). */
  resize(cols: number, rows: number): boolean {
    return this.#client.sendRaw(shellFrame(this.id, { resize: { cols, rows } }));
  }

  /**
   * Keeps the shell's size that of `terminal` (the technician's own): sends it now and on every
   * `'resize'` until the shell exits or the returned function is called.
   */
  followSize(terminal: SizedTerminal): () => void {
    const send = () => {
      if (terminal.columns && terminal.rows) this.resize(terminal.columns, terminal.rows);
    };
    const stop = () => {
      terminal.off('resize', send);
      this.off('exit', stop);
    };
    terminal.on('resize', send);
    this.once('exit', stop);
    send();
    return stop;
  }

  /** Ends the shell (its process group on the customer's machine); resolves with its exit. */
  close(reason = ''): Promise<ShellExitInfo> {
    if (this.exitInfo === null) {
      this.#client.sendRaw(shellFrame(this.id, { close: { reason } }));
    }
    return this.exited;
  }

  /** Resolves once the output kept contains `pattern`. */
  waitForOutput(pattern: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const matches = () =>
      typeof pattern === 'string' ? this.text.includes(pattern) : pattern.test(this.text);
    if (matches()) return Promise.resolve(this.text);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('data', check);
        reject(new Error(`shell ${this.id}: timed out waiting for ${String(pattern)}`));
      }, timeoutMs);
      const check = () => {
        if (!matches()) return;
        clearTimeout(timer);
        this.off('data', check);
        resolve(this.text);
      };
      this.on('data', check);
    });
  }

  /** @internal */
  onOutput(chunk: Buffer): void {
    this.#output.push(chunk);
    this.#outputBytes += chunk.length;
    while (this.#outputBytes > this.keepBytes && this.#output.length > 1) {
      this.#outputBytes -= this.#output.shift()!.length;
    }
    this.emit('data', chunk);
  }

  /** @internal */
  onExit(exit: ShellExitInfo): void {
    if (this.exitInfo !== null) return;
    this.exitInfo = exit;
    this.emit('exit', exit);
    this.#markExited(exit);
  }
}

export interface OpenShellOptions {
  /** A shell program of `SHELL_KINDS`; default: the customer's own shell. */
  readonly kind?: string;
  readonly name?: string;
  readonly cols?: number;
  readonly rows?: number;
  readonly timeoutMs?: number;
  /** Output bytes kept in `RemoteShell.text`. Default 1 MiB. */
  readonly keepBytes?: number;
}

interface PendingOpen {
  readonly options: OpenShellOptions;
  resolve(shell: RemoteShell): void;
  reject(err: Error): void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Open references (the Frame.stream of a ShellOpen) are above every shell id (at most 1000, see
 * proto/ferry/v1/shell.proto); they need only be unique among this client's pending opens.
 */
const FIRST_OPEN_REF = 0x10000;
const LAST_OPEN_REF = 0x7fffffff;

/** The technician side: opens and tracks shells. */
export class TechnicianShells {
  readonly #client: FerryClient;
  /** Open shells by shell id. */
  readonly #shells = new Map<number, RemoteShell>();
  /** Opens waiting for their ShellOpened, by open reference. */
  readonly #pending = new Map<number, PendingOpen>();
  #nextRef = FIRST_OPEN_REF;

  constructor(client: FerryClient) {
    this.#client = client;
    client.on('frame', (frame) => {
      if (frame.channel === Channel.CHANNEL_SHELL && frame.shell) {
        this.#onMessage(frame.stream, frame.shell as ferry.v1.ShellMessage);
      } else if (
        frame.channel === Channel.CHANNEL_EVENT &&
        frame.event?.error?.channel === Channel.CHANNEL_SHELL &&
        frame.stream !== 0
      ) {
        this.#onRefused(frame.stream, frame.event.error as ferry.v1.Error);
      }
    });
  }

  /** Shells open now (opened and not exited). */
  list(): RemoteShell[] {
    return [...this.#shells.values()];
  }

  /** The open shell with this id (the number a person types: 1, 2, 3, ...). */
  get(id: number): RemoteShell | undefined {
    return this.#shells.get(id);
  }

  /**
   * Opens a shell; resolves once the customer runs it (the gateway has given it its id), or
   * rejects with the coded refusal.
   */
  open(options: OpenShellOptions = {}): Promise<RemoteShell> {
    let ref = this.#nextRef;
    while (this.#pending.has(ref)) ref = ref >= LAST_OPEN_REF ? FIRST_OPEN_REF : ref + 1;
    this.#nextRef = ref >= LAST_OPEN_REF ? FIRST_OPEN_REF : ref + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(ref);
        reject(new FerryError(Codes.TIMEOUT.code, 'the shell did not open'));
      }, options.timeoutMs ?? 10_000);
      this.#pending.set(ref, { options, resolve, reject, timer });
      const sent = this.#client.sendRaw(
        shellFrame(ref, {
          open: {
            kind: options.kind ?? '',
            name: options.name ?? '',
            cols: options.cols ?? 80,
            rows: options.rows ?? 24,
          },
        }),
      );
      if (!sent) this.#reject(ref, new FerryError(Codes.CLOSED.code, 'not connected'));
    });
  }

  /** The pending open `ref` failed. */
  #reject(ref: number, err: Error): void {
    const pending = this.#pending.get(ref);
    if (pending === undefined) return;
    this.#pending.delete(ref);
    clearTimeout(pending.timer);
    pending.reject(err);
  }

  #opened(ref: number, opened: ferry.v1.ShellOpened): void {
    const pending = this.#pending.get(ref);
    const id = opened.id;
    if (pending === undefined) {
      // an open this client gave up on (timed out) did open after all: end it
      if (id !== 0) this.#client.sendRaw(shellFrame(id, { close: { reason: 'open timed out' } }));
      return;
    }
    this.#pending.delete(ref);
    clearTimeout(pending.timer);
    if (id === 0) {
      pending.reject(new FerryError(Codes.SHELL_NOT_FOUND.code, 'the gateway named no shell id'));
      return;
    }
    const options = pending.options;
    const shell = new RemoteShell(
      this.#client,
      id,
      opened.name || options.name || '',
      options.keepBytes ?? 1024 * 1024,
    );
    shell.program = opened.shell;
    shell.pid = opened.pid;
    shell.pty = opened.pty;
    shell.note = opened.note;
    this.#shells.set(id, shell);
    pending.resolve(shell);
  }

  #onMessage(stream: number, msg: ferry.v1.ShellMessage): void {
    if (msg.kind === 'opened') {
      this.#opened(stream, msg.opened as ferry.v1.ShellOpened);
      return;
    }
    if (msg.kind === 'exit') {
      const exit = msg.exit as ferry.v1.ShellExit;
      if (this.#pending.has(stream)) {
        // the shell never opened: the customer or the gateway refused it
        this.#reject(
          stream,
          new FerryError(exit.errorCode || Codes.SHELL_NOT_FOUND.code, exit.message || 'exited'),
        );
        return;
      }
      const shell = this.#shells.get(stream);
      this.#shells.delete(stream);
      shell?.onExit({
        code: exit.code,
        signal: exit.signal,
        errorCode: exit.errorCode,
        message: exit.message,
      });
      return;
    }
    if (msg.kind === 'output') {
      this.#shells.get(stream)?.onOutput(Buffer.from(msg.output!.data!));
    }
  }

  #onRefused(stream: number, err: ferry.v1.Error): void {
    if (this.#pending.has(stream)) {
      this.#reject(stream, new FerryError(err.code, err.message));
      return;
    }
    this.#shells.get(stream)?.emit('refused', err);
  }
}
