/**
 * Command shells in the reference clients (spec session-tools E1-E3), over the SHELL channel
 * (Frame.stream = shell id):
 * - `CustomerShells` runs the shells a technician opens as real processes through `ShellHost`
 *   (no PTY: see src/tools/shell-host.ts), forwards their output in order and acknowledges it to
 *   the host once the WebSocket has written it (flow control: a shell whose output is not
 *   leaving pauses); output produced while the connection is being resumed is queued and sent
 *   on the resume. Shells end when the shell grant is revoked or the client closes.
 * - `TechnicianShells` opens shells (several at once), and each `RemoteShell` writes, resizes,
 *   closes and emits its output and exit.
 * The gateway enforces the grant, the per-session cap and the recording; nothing here is a check.
 */
import { randomInt } from 'node:crypto';
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
      this.#send(
        id,
        shellFrame(id, { opened: { name: op.name, shell: info.shell, pid: info.pid ?? 0 } }),
        0,
      );
    } catch (err) {
      const code = (err as { code?: string }).code ?? Codes.SHELL_NOT_FOUND.code;
      refuse(code, (err as Error).message);
    }
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

/** One shell a technician opened on the customer's machine. */
export class RemoteShell extends EventEmitter<RemoteShellEvents> {
  readonly id: number;
  name: string;
  program = '';
  pid = 0;
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

  resize(cols: number, rows: number): boolean {
    return this.#client.sendRaw(shellFrame(this.id, { resize: { cols, rows } }));
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
  readonly shell: RemoteShell;
  resolve(shell: RemoteShell): void;
  reject(err: Error): void;
  readonly timer: NodeJS.Timeout;
}

/** The technician side: opens and tracks shells. */
export class TechnicianShells {
  readonly #client: FerryClient;
  readonly #shells = new Map<number, RemoteShell>();
  readonly #pending = new Map<number, PendingOpen>();
  /**
   * Shell ids are per session and every technician of it picks its own: each client starts at a
   * random point so two collaborators do not collide (and `open` retries on SHELL_EXISTS).
   */
  #nextId = randomInt(1, 0x40000000);

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

  get(id: number): RemoteShell | undefined {
    return this.#shells.get(id);
  }

  /** Opens a shell; resolves once the customer runs it, or rejects with the coded refusal. */
  async open(options: OpenShellOptions = {}): Promise<RemoteShell> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#open(options);
      } catch (err) {
        // another technician of the session holds that id: take the next one
        if ((err as FerryError).code !== Codes.SHELL_EXISTS.code || attempt >= 3) throw err;
      }
    }
  }

  #open(options: OpenShellOptions): Promise<RemoteShell> {
    let id = this.#nextId;
    while (this.#shells.has(id) || this.#pending.has(id)) id++;
    this.#nextId = id + 1;
    const shell = new RemoteShell(
      this.#client,
      id,
      options.name ?? '',
      options.keepBytes ?? 1024 * 1024,
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new FerryError(Codes.TIMEOUT.code, `shell ${id} did not open`));
      }, options.timeoutMs ?? 10_000);
      this.#pending.set(id, { shell, resolve, reject, timer });
      const sent = this.#client.sendRaw(
        shellFrame(id, {
          open: {
            kind: options.kind ?? '',
            name: options.name ?? '',
            cols: options.cols ?? 80,
            rows: options.rows ?? 24,
          },
        }),
      );
      if (!sent) this.#settle(id, new FerryError(Codes.CLOSED.code, 'not connected'));
    });
  }

  #settle(id: number, err: Error | null): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (err !== null) {
      pending.reject(err);
      return;
    }
    this.#shells.set(id, pending.shell);
    pending.resolve(pending.shell);
  }

  #onMessage(id: number, msg: ferry.v1.ShellMessage): void {
    const pending = this.#pending.get(id);
    if (msg.kind === 'opened' && pending !== undefined) {
      const opened = msg.opened as ferry.v1.ShellOpened;
      pending.shell.name = opened.name || pending.shell.name;
      pending.shell.program = opened.shell;
      pending.shell.pid = opened.pid;
      this.#settle(id, null);
      return;
    }
    if (msg.kind === 'exit') {
      const exit = msg.exit as ferry.v1.ShellExit;
      const info: ShellExitInfo = {
        code: exit.code,
        signal: exit.signal,
        errorCode: exit.errorCode,
        message: exit.message,
      };
      if (pending !== undefined) {
        this.#settle(
          id,
          new FerryError(exit.errorCode || Codes.SHELL_NOT_FOUND.code, exit.message || 'exited'),
        );
        return;
      }
      const shell = this.#shells.get(id);
      this.#shells.delete(id);
      shell?.onExit(info);
      return;
    }
    if (msg.kind === 'output') this.#shells.get(id)?.onOutput(Buffer.from(msg.output!.data!));
  }

  #onRefused(id: number, err: ferry.v1.Error): void {
    if (this.#pending.has(id)) {
      this.#settle(id, new FerryError(err.code, err.message));
      return;
    }
    this.#shells.get(id)?.emit('refused', err);
  }
}
