/**
 * File transfer in the reference clients, both ways, over the FILE channel (Frame.stream = file
 * id), on the building blocks of src/tools/file-transfer.ts:
 * - the sender (`FileSender` + `pumpFile`) keeps a window of chunks in flight and moves on with
 *   the receiver's acks (byte offsets): flow control end to end;
 * - the receiver (`FileReceiver`) writes in order to a hidden part file, acks each chunk, and
 *   once every byte is there checks the SHA-256 and puts the file in place (FileDone);
 * - resume: after a reconnect the sender offers again (same id, size, digest) and the receiver
 *   answers FileAccept with the offset it has; a receiver that reconnected sends FileAccept by
 *   itself; a gap (frames lost meanwhile) makes the receiver send FileAccept once with its
 *   offset. Acks are offsets, so a stale one is harmless and ignored;
 * - progress: both sides emit `progress` events.
 * `TechnicianFiles` uploads and downloads; `CustomerFiles` receives uploads into, and serves
 * downloads from, one directory it shares (nothing outside it is reachable).
 * The gateway enforces the grant and the size limit; nothing here is a check.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Codes } from '../protocol/codes.js';
import { Channel, encodeFrame, u64 } from '../protocol/frames.js';
import type { ferry } from '../protocol/gen/ferry.js';
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW_CHUNKS,
  FileReceiver,
  FileSender,
  pumpFile,
  type ReceivedFile,
  type TransferProgress,
} from '../tools/file-transfer.js';
import { type FerryClient, FerryError } from './client.js';

export type TransferDirection = 'send' | 'receive';

export interface FileProgress extends TransferProgress {
  readonly id: number;
  readonly direction: TransferDirection;
  readonly name: string;
}

export interface FileTransferEvents {
  progress: [progress: FileProgress];
  /** A file arrived complete and verified. */
  received: [id: number, file: ReceivedFile];
  /** A file we sent was received and verified. */
  sent: [id: number, file: { name: string; size: number; sha256: string }];
  /** A transfer ended unfinished (cancelled by either side, refused by the gateway). */
  failed: [id: number, err: FerryError];
}

export interface FileTransferOptions {
  readonly chunkBytes?: number;
  readonly windowChunks?: number;
  /** Largest file this side accepts to receive. Default: no limit of its own. */
  readonly limitBytes?: number;
}

interface Outgoing {
  readonly id: number;
  readonly sender: FileSender;
  readonly name: string;
  pumping: boolean;
  readonly abort: AbortController;
  resolve(file: { name: string; size: number; sha256: string }): void;
  reject(err: Error): void;
}

interface Incoming {
  readonly id: number;
  receiver: FileReceiver | null;
  readonly dest: string;
  readonly overwrite: boolean;
  name: string;
  sha256: string;
  /** The offset a FileAccept was last sent for after a gap (sent once per offset). */
  resyncAt: number;
  finishing: boolean;
  resolve(file: ReceivedFile): void;
  reject(err: Error): void;
}

function fileFrame(id: number, file: ferry.v1.FileMessage.$Properties): Uint8Array {
  return encodeFrame({ channel: Channel.CHANNEL_FILE, stream: id, file });
}

const noop = (): void => undefined;

/** The transfer machinery both reference clients share. */
export class FileTransfers extends EventEmitter<FileTransferEvents> {
  protected readonly client: FerryClient;
  readonly chunkBytes: number;
  readonly windowChunks: number;
  readonly limitBytes: number | undefined;
  protected readonly outgoing = new Map<number, Outgoing>();
  protected readonly incoming = new Map<number, Incoming>();
  /** Acks of chunks sent before a resume, ignored (FileAccept tells the offset again). */
  staleAcks = 0;

  constructor(client: FerryClient, options: FileTransferOptions = {}) {
    super();
    this.client = client;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.windowChunks = options.windowChunks ?? DEFAULT_WINDOW_CHUNKS;
    this.limitBytes = options.limitBytes;
    client.on('frame', (frame) => {
      if (frame.channel === Channel.CHANNEL_FILE && frame.file) {
        this.onMessage(frame.stream, frame.file as ferry.v1.FileMessage);
      } else if (
        frame.channel === Channel.CHANNEL_EVENT &&
        frame.event?.error?.channel === Channel.CHANNEL_FILE &&
        frame.stream !== 0
      ) {
        const e = frame.event.error;
        this.fail(frame.stream, new FerryError(e.code ?? '', e.message ?? ''), false);
      }
    });
    client.on('resumed', () => void this.#resume());
    client.on('close', () => {
      for (const id of [...this.outgoing.keys(), ...this.incoming.keys()]) {
        this.fail(id, new FerryError(Codes.CLOSED.code, 'the client closed'), false, true);
      }
    });
  }

  /** Transfers in progress, by id. */
  get active(): number[] {
    return [...this.outgoing.keys(), ...this.incoming.keys()];
  }

  protected send(id: number, file: ferry.v1.FileMessage.$Properties): boolean {
    return this.client.sendRaw(fileFrame(id, file));
  }

  protected onMessage(id: number, msg: ferry.v1.FileMessage): void {
    switch (msg.kind) {
      case 'accept': {
        const out = this.outgoing.get(id);
        if (out === undefined) return;
        try {
          out.sender.resumeFrom(u64(msg.accept!.offset));
        } catch (err) {
          this.fail(id, new FerryError((err as FerryError).code ?? '', (err as Error).message));
          return;
        }
        this.#pump(out);
        return;
      }
      case 'ack': {
        try {
          this.outgoing.get(id)?.sender.onAck(u64(msg.ack!.offset));
        } catch (err) {
          // an ack from before a resume: the receiver's offset arrives again with FileAccept
          if ((err as { code?: unknown }).code !== Codes.FILE_BAD_ACK.code) throw err;
          this.staleAcks++;
        }
        return;
      }
      case 'done': {
        const out = this.outgoing.get(id);
        if (out === undefined) return;
        this.outgoing.delete(id);
        out.abort.abort();
        const file = { name: out.name, size: out.sender.size, sha256: out.sender.sha256 };
        void out.sender.close();
        this.emit('sent', id, file);
        out.resolve(file);
        return;
      }
      case 'cancel':
        this.fail(
          id,
          new FerryError(msg.cancel?.code || Codes.FILE_CLOSED.code, msg.cancel?.message ?? ''),
          false,
        );
        return;
      case 'chunk':
        this.#onChunk(id, msg.chunk as ferry.v1.FileChunk);
        return;
      case 'offer': {
        const inc = this.incoming.get(id);
        if (inc?.receiver) {
          // the sender resumed: tell it where we stand
          void this.#acceptAt(inc);
          return;
        }
        this.onOffer(id, msg.offer as ferry.v1.FileOffer, inc);
        return;
      }
      case 'request':
        this.onRequest(id, msg.request as ferry.v1.FileRequest);
        return;
      default:
    }
  }

  /** A new offer (or the answer to our download request, `inc`). Subclasses decide. */
  protected onOffer(id: number, offer: ferry.v1.FileOffer, inc: Incoming | undefined): void {
    if (inc === undefined) {
      this.send(id, {
        cancel: { code: Codes.UNSUPPORTED_OPERATION.code, message: 'offers are not taken here' },
      });
      return;
    }
    void this.receiveInto(inc, offer);
  }

  /** A download request from a technician. Subclasses that share files answer it. */
  protected onRequest(id: number, _request: ferry.v1.FileRequest): void {
    this.send(id, { cancel: { code: Codes.FILE_NOT_FOUND.code, message: 'nothing is shared' } });
  }

  /** Opens the receiver for an offer and accepts at its offset (0, or a kept part file). */
  protected async receiveInto(inc: Incoming, offer: ferry.v1.FileOffer): Promise<void> {
    inc.name = offer.name;
    inc.sha256 = offer.sha256;
    try {
      const receiver = await FileReceiver.open({
        path: inc.dest,
        size: u64(offer.size),
        sha256: offer.sha256,
        overwrite: inc.overwrite,
        ...(this.limitBytes !== undefined ? { limitBytes: this.limitBytes } : {}),
      });
      inc.receiver = receiver;
      receiver.on('progress', (p) =>
        this.emit('progress', { ...p, id: inc.id, direction: 'receive', name: inc.name }),
      );
      if (!this.incoming.has(inc.id)) {
        // cancelled while the part file was being opened
        await receiver.suspend();
        return;
      }
      this.send(inc.id, { accept: { offset: receiver.offset } });
      if (receiver.offset === receiver.size) void this.#finish(inc);
    } catch (err) {
      this.fail(inc.id, asFerryError(err), true);
    }
  }

  /** Starts a transfer this side receives: registered before the offer arrives. */
  protected expect(id: number, dest: string, overwrite: boolean): Promise<ReceivedFile> {
    return new Promise((resolve, reject) => {
      this.incoming.set(id, {
        id,
        receiver: null,
        dest,
        overwrite,
        name: path.basename(dest),
        sha256: '',
        resyncAt: -1,
        finishing: false,
        resolve,
        reject,
      });
    });
  }

  /** Starts a transfer this side sends: offers it and pumps once accepted. */
  protected offer(
    id: number,
    sender: FileSender,
    name: string,
  ): Promise<{ name: string; size: number; sha256: string }> {
    return new Promise((resolve, reject) => {
      const out: Outgoing = {
        id,
        sender,
        name,
        pumping: false,
        abort: new AbortController(),
        resolve,
        reject,
      };
      this.outgoing.set(id, out);
      sender.on('progress', (p) => this.emit('progress', { ...p, id, direction: 'send', name }));
      this.send(id, { offer: { name, size: sender.size, sha256: sender.sha256 } });
    });
  }

  #pump(out: Outgoing): void {
    if (out.pumping) return;
    out.pumping = true;
    const send = (chunk: { offset: number; data: Buffer }) => {
      // lost while the connection is down: the resume's FileAccept rewinds to what arrived
      this.send(out.id, { chunk: { offset: chunk.offset, data: chunk.data } });
    };
    pumpFile(out.sender, send, out.abort.signal).then(
      () => {
        out.pumping = false;
      },
      (err: unknown) => {
        out.pumping = false;
        this.fail(out.id, asFerryError(err), true);
      },
    );
  }

  #onChunk(id: number, chunk: ferry.v1.FileChunk): void {
    const inc = this.incoming.get(id);
    const receiver = inc?.receiver;
    if (inc === undefined || receiver == null) return;
    receiver.write(u64(chunk.offset), chunk.data).then(
      (offset) => {
        this.send(id, { ack: { offset } });
        if (offset === receiver.size) void this.#finish(inc);
      },
      (err: unknown) => {
        const code = (err as FerryError).code;
        if (code === Codes.FILE_OVERLAP.code) return; // sent again after a resume: have it
        if (code === Codes.FILE_OUT_OF_ORDER.code) {
          // frames were lost: ask once to go back to where we are
          void this.#acceptAt(inc, true);
          return;
        }
        this.fail(id, asFerryError(err), true);
      },
    );
  }

  async #acceptAt(inc: Incoming, gap = false): Promise<void> {
    const receiver = inc.receiver;
    if (receiver === null) return;
    let offset: number;
    try {
      offset = await receiver.settled();
    } catch (err) {
      this.fail(inc.id, asFerryError(err), true);
      return;
    }
    if (gap) {
      if (inc.resyncAt === offset) return;
      inc.resyncAt = offset;
    }
    this.send(inc.id, { accept: { offset } });
  }

  async #finish(inc: Incoming): Promise<void> {
    if (inc.finishing || inc.receiver === null) return;
    inc.finishing = true;
    try {
      const file = await inc.receiver.finish(inc.sha256);
      this.incoming.delete(inc.id);
      this.send(inc.id, { done: { sha256: file.sha256, size: file.size } });
      this.emit('received', inc.id, file);
      inc.resolve(file);
    } catch (err) {
      this.fail(inc.id, asFerryError(err), true);
    }
  }

  /** After a reconnect: senders offer again, receivers tell their offset. */
  async #resume(): Promise<void> {
    for (const out of this.outgoing.values()) {
      const s = out.sender;
      this.send(out.id, { offer: { name: out.name, size: s.size, sha256: s.sha256 } });
    }
    for (const inc of this.incoming.values()) if (inc.receiver !== null) void this.#acceptAt(inc);
  }

  /**
   * Ends transfer `id` unfinished: rejects its promise, emits `failed`; `tell` sends FileCancel
   * to the other side. A receiver keeps its part file when the client just closed (`keepPart`),
   * for a later resume; otherwise it is removed.
   */
  protected fail(id: number, err: FerryError, tell = false, keepPart = false): void {
    const out = this.outgoing.get(id);
    if (out !== undefined) {
      this.outgoing.delete(id);
      out.abort.abort();
      void out.sender.close().catch(noop);
      out.reject(err);
    }
    const inc = this.incoming.get(id);
    if (inc !== undefined) {
      this.incoming.delete(id);
      const receiver = inc.receiver;
      if (receiver !== null) void (keepPart ? receiver.suspend() : receiver.abort()).catch(noop);
      inc.reject(err);
    }
    if (out === undefined && inc === undefined) return;
    if (tell) this.send(id, { cancel: { code: err.code, message: err.message } });
    this.emit('failed', id, err);
  }

  /** Cancels transfer `id` (either direction); the other side is told. */
  cancel(id: number, reason = 'cancelled'): void {
    this.fail(id, new FerryError(Codes.FILE_CLOSED.code, reason), true);
  }
}

function asFerryError(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  const code = (err as { code?: string }).code;
  return new FerryError(
    typeof code === 'string' && code.startsWith('FERRY_ERR_') ? code : Codes.FILE_CLOSED.code,
    (err as Error).message,
  );
}

export interface TransferOptions {
  /** Name the receiver sees (upload). Default: the local file's base name. */
  readonly name?: string;
  /** Replace an existing local file (download). Default false. */
  readonly overwrite?: boolean;
}

/** The technician side: sends files to the customer and fetches files from it. */
export class TechnicianFiles extends FileTransfers {
  /** File ids are per session: a random start keeps collaborators' ids apart. */
  #nextId = randomInt(1, 0x40000000);

  #id(): number {
    let id = this.#nextId;
    while (this.outgoing.has(id) || this.incoming.has(id)) id++;
    this.#nextId = id + 1;
    return id;
  }

  /**
   * Sends `localPath` to the customer. Resolves once the customer has it, verified; rejects
   * with the coded refusal (FERRY_ERR_FILE_TOO_LARGE, FERRY_ERR_NOT_GRANTED, ...).
   */
  async upload(
    localPath: string,
    options: TransferOptions = {},
  ): Promise<{ id: number; name: string; size: number; sha256: string }> {
    const sender = await FileSender.open(localPath, {
      chunkBytes: this.chunkBytes,
      windowChunks: this.windowChunks,
    });
    const id = this.#id();
    const file = await this.offer(id, sender, options.name ?? path.basename(localPath));
    return { id, ...file };
  }

  /** Fetches `remotePath` (relative to what the customer shares) into `localPath`. */
  async download(
    remotePath: string,
    localPath: string,
    options: TransferOptions = {},
  ): Promise<ReceivedFile & { id: number }> {
    const id = this.#id();
    const done = this.expect(id, localPath, options.overwrite ?? false);
    if (!this.send(id, { request: { path: remotePath } })) {
      this.fail(id, new FerryError(Codes.CLOSED.code, 'not connected'));
    }
    const file = await done;
    return { id, ...file };
  }
}

export interface CustomerFileOptions extends FileTransferOptions {
  /** The one directory uploads land in and downloads are served from. */
  readonly dir: string;
}

/** The customer side: takes uploads into `dir`, serves downloads from it. */
export class CustomerFiles extends FileTransfers {
  readonly dir: string;

  constructor(client: FerryClient, options: CustomerFileOptions) {
    super(client, options);
    this.dir = path.resolve(options.dir);
  }

  protected override onOffer(
    id: number,
    offer: ferry.v1.FileOffer,
    inc: Incoming | undefined,
  ): void {
    if (inc !== undefined) {
      void this.receiveInto(inc, offer);
      return;
    }
    const name = path.basename(offer.name);
    if (name === '' || name === '.' || name === '..') {
      this.send(id, { cancel: { code: Codes.INVALID_ARGUMENT.code, message: 'no file name' } });
      return;
    }
    const done = this.expect(id, path.join(this.dir, name), false);
    done.catch(noop); // failures are emitted as 'failed'
    void this.receiveInto(this.incoming.get(id)!, offer);
  }

  protected override onRequest(id: number, request: ferry.v1.FileRequest): void {
    void this.#serve(id, request.path);
  }

  /** A file of `dir` only: no absolute paths, no `..`, no symbolic link leading out. */
  async #resolve(wanted: string): Promise<string | null> {
    const full = path.resolve(this.dir, wanted);
    const rel = path.relative(this.dir, full);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
    try {
      const [real, root] = await Promise.all([fsp.realpath(full), fsp.realpath(this.dir)]);
      const realRel = path.relative(root, real);
      if (realRel === '' || realRel.startsWith('..') || path.isAbsolute(realRel)) return null;
      const stat = await fsp.stat(real);
      return stat.isFile() ? real : null;
    } catch {
      return null;
    }
  }

  async #serve(id: number, wanted: string): Promise<void> {
    const file = await this.#resolve(wanted);
    if (file === null) {
      this.send(id, {
        cancel: { code: Codes.FILE_NOT_FOUND.code, message: `${wanted} is not shared` },
      });
      return;
    }
    try {
      const sender = await FileSender.open(file, {
        chunkBytes: this.chunkBytes,
        windowChunks: this.windowChunks,
      });
      await this.offer(id, sender, path.basename(file));
    } catch (err) {
      if (!(err instanceof FerryError)) {
        this.send(id, { cancel: { code: Codes.FILE_NOT_FOUND.code, message: String(err) } });
      }
      // a FerryError was emitted as 'failed' already
    }
  }
}
