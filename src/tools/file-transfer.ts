/**
 * File transfer primitives, independent of the transport (spec: issue 8 item 2; the FILE channel
 * carries them, stream = file id). Three parts:
 * - `FileSender` reads a file in chunks from an offset, with at most `windowChunks` chunks sent
 *   and not yet acknowledged; `onAck(offset)` slides the window, `resumeFrom(offset)` rewinds to
 *   the offset a receiver reports after a reconnect. Its SHA-256 is computed when it opens, so the
 *   offer can carry it.
 * - `FileReceiver` writes chunks into a temporary file next to the destination, strictly in
 *   order (a gap or an overlap is refused with a code and changes nothing), hashes them as they
 *   come, and on `finish` checks the size and the sender's SHA-256, syncs, and moves the file into
 *   place atomically (never replacing an existing file unless told to). Its `offset` is what it
 *   has durably queued in order: the number to acknowledge and to resume from. The temporary
 *   file's name carries the digest, so reopening the same transfer after a restart resumes from
 *   the bytes already on disk.
 * - `checkSize` and `TransferGuard` for the gateway: refuse an oversized offer, and refuse chunks
 *   that go past the announced size (a client cannot lie its way past the limit).
 *
 * Acks are cumulative byte offsets ("every byte before this one is written"), never chunk
 * numbers, so a resumed transfer may use another chunk size.
 */
import { createHash, type Hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Codes, type ErrorCode } from '../protocol/codes.js';
import { ToolError } from './errors.js';

export const DEFAULT_CHUNK_BYTES = 64 * 1024;
export const DEFAULT_WINDOW_CHUNKS = 8;
export const DEFAULT_MAX_CHUNK_BYTES = 1024 * 1024;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface TransferProgress {
  readonly bytes: number;
  readonly total: number;
  /** 0-100 with one decimal; 100 for an empty file. */
  readonly percent: number;
}

export function progressOf(bytes: number, total: number): TransferProgress {
  return { bytes, total, percent: total === 0 ? 100 : Math.floor((bytes * 1000) / total) / 10 };
}

/**
 * The size check for an offer: `FERRY_ERR_FILE_SIZE_INVALID` for a size that is not a
 * non-negative safe integer, `FERRY_ERR_FILE_TOO_LARGE` past `limitBytes`, else null.
 */
export function checkSize(size: number, limitBytes: number): ErrorCode | null {
  if (!Number.isSafeInteger(size) || size < 0) return Codes.FILE_SIZE_INVALID.code;
  if (size > limitBytes) return Codes.FILE_TOO_LARGE.code;
  return null;
}

/**
 * Gateway-side meter of one relayed transfer: the offer's size was checked against the limit,
 * and each relayed chunk must fit inside it. Offsets may go back (a resume), never past the size.
 */
export class TransferGuard {
  relayedBytes = 0;
  highestOffset = 0;

  constructor(
    readonly size: number,
    readonly limitBytes: number,
  ) {}

  /** Checks the offer; null when it may go ahead. */
  checkOffer(): ErrorCode | null {
    return checkSize(this.size, this.limitBytes);
  }

  /** Checks one chunk before relaying it; null when it may be relayed. */
  onChunk(offset: number, length: number): ErrorCode | null {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      return Codes.FILE_BEYOND_SIZE.code;
    }
    this.relayedBytes += length;
    if (offset + length > this.highestOffset) this.highestOffset = offset + length;
    return null;
  }
}

export interface FileChunk {
  readonly offset: number;
  readonly data: Buffer;
  /** This chunk ends the file. */
  readonly last: boolean;
}

export interface FileSenderOptions {
  readonly chunkBytes?: number;
  readonly windowChunks?: number;
}

export interface FileSenderEvents {
  /** After each ack or resume: bytes acknowledged by the receiver. */
  progress: [progress: TransferProgress];
  /** The window has room again. */
  drain: [];
  /** Every byte is acknowledged. */
  done: [];
}

async function hashFile(fh: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1024 * 1024));
  let pos = 0;
  while (pos < size) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) throw new ToolError('FILE_INCOMPLETE', 'the file shrank while hashing');
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash.digest('hex');
}

export class FileSender extends EventEmitter<FileSenderEvents> {
  readonly chunkBytes: number;
  readonly windowChunks: number;
  #sentOffset = 0;
  #ackedOffset = 0;
  /** End offsets of the chunks sent and not acknowledged, ascending. */
  #inflight: number[] = [];
  #epoch = 0;
  #closed = false;

  private constructor(
    readonly path: string,
    readonly size: number,
    readonly sha256: string,
    readonly fh: FileHandle,
    opts: FileSenderOptions,
  ) {
    super();
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.windowChunks = opts.windowChunks ?? DEFAULT_WINDOW_CHUNKS;
    if (!(this.chunkBytes >= 1) || !(this.windowChunks >= 1)) {
      throw new RangeError('chunkBytes and windowChunks must be at least 1');
    }
  }

  /** Opens `file`, takes its size and SHA-256 (one read of the whole file). */
  static async open(file: string, opts: FileSenderOptions = {}): Promise<FileSender> {
    const fh = await fsp.open(file, 'r');
    try {
      const { size } = await fh.stat();
      const sha256 = await hashFile(fh, size);
      return new FileSender(file, size, sha256, fh, opts);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get sentOffset(): number {
    return this.#sentOffset;
  }

  get ackedOffset(): number {
    return this.#ackedOffset;
  }

  get inflightChunks(): number {
    return this.#inflight.length;
  }

  /** Increases at every `resumeFrom`: a chunk read under an older epoch must not be sent. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Every byte acknowledged. */
  get done(): boolean {
    return this.#ackedOffset === this.size;
  }

  /** True when `read` may be called: the window has room and bytes are left to send. */
  canSend(): boolean {
    return (
      !this.#closed && this.#sentOffset < this.size && this.#inflight.length < this.windowChunks
    );
  }

  /**
   * Reads the next chunk and counts it as sent. Throws `FILE_WINDOW_FULL` when `canSend()` is
   * false. The returned buffer is the caller's (a fresh allocation per chunk).
   */
  async read(): Promise<FileChunk> {
    if (!this.canSend()) throw new ToolError('FILE_WINDOW_FULL');
    const offset = this.#sentOffset;
    const len = Math.min(this.chunkBytes, this.size - offset);
    // reserve synchronously, so concurrent reads take consecutive chunks
    this.#sentOffset = offset + len;
    this.#inflight.push(offset + len);
    const data = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(data, got, len - got, offset + got);
      if (bytesRead === 0) throw new ToolError('FILE_INCOMPLETE', 'the file shrank while sending');
      got += bytesRead;
    }
    return { offset, data, last: offset + len === this.size };
  }

  /**
   * The receiver has written every byte before `offset`. A repeated ack is ignored (false); an
   * offset that is not the end of a sent chunk throws `FILE_BAD_ACK`.
   */
  onAck(offset: number): boolean {
    if (offset === this.#ackedOffset) return false;
    if (
      offset < this.#ackedOffset ||
      offset > this.#sentOffset ||
      !this.#inflight.includes(offset)
    ) {
      throw new ToolError(
        'FILE_BAD_ACK',
        `${offset} (acked ${this.#ackedOffset}, sent ${this.#sentOffset})`,
      );
    }
    const hadRoom = this.canSend();
    while (this.#inflight.length > 0 && this.#inflight[0]! <= offset) this.#inflight.shift();
    this.#ackedOffset = offset;
    if (this.listenerCount('progress') > 0) this.emit('progress', progressOf(offset, this.size));
    if (this.done) this.emit('done');
    else if (!hadRoom && this.canSend()) this.emit('drain');
    return true;
  }

  /**
   * Rewinds (or skips) to `offset`, the receiver's reported offset after a reconnect: everything
   * before it counts as acknowledged, nothing is in flight. Throws `FILE_BAD_ACK` outside
   * 0..size.
   */
  resumeFrom(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.size) {
      throw new ToolError('FILE_BAD_ACK', `resume from ${offset} of ${this.size}`);
    }
    this.#epoch++;
    this.#sentOffset = offset;
    this.#ackedOffset = offset;
    this.#inflight = [];
    if (this.listenerCount('progress') > 0) this.emit('progress', progressOf(offset, this.size));
    if (this.done) this.emit('done');
    else this.emit('drain');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.fh.close();
  }
}

/**
 * Sends `sender`'s file through `send` until every byte is acknowledged ('done') or `signal`
 * aborts ('aborted'; the sender keeps its offsets for `resumeFrom`). Acks come back through
 * `sender.onAck` from the transport's side.
 */
export async function pumpFile(
  sender: FileSender,
  send: (chunk: FileChunk) => void,
  signal?: AbortSignal,
): Promise<'done' | 'aborted'> {
  while (!sender.done) {
    if (signal?.aborted) return 'aborted';
    if (sender.canSend()) {
      const epoch = sender.epoch;
      const chunk = await sender.read();
      if (signal?.aborted) return 'aborted';
      if (sender.epoch === epoch) send(chunk);
      continue;
    }
    await new Promise<void>((resolve) => {
      const wake = () => {
        sender.off('drain', wake);
        sender.off('done', wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      sender.on('drain', wake);
      sender.on('done', wake);
      signal?.addEventListener('abort', wake);
    });
  }
  return 'done';
}

export interface FileReceiverOptions {
  /** Where the finished file goes. */
  readonly path: string;
  /** The size the sender announced. */
  readonly size: number;
  /** The sender's SHA-256 (lowercase hex), if known now; else give it to `finish`. */
  readonly sha256?: string;
  /** Refuse the transfer past this size (`FILE_TOO_LARGE`). Default: no limit. */
  readonly limitBytes?: number;
  readonly maxChunkBytes?: number;
  /** Replace an existing destination. Default false (`FILE_EXISTS`). */
  readonly overwrite?: boolean;
}

export interface FileReceiverEvents {
  /** After each chunk is written. */
  progress: [progress: TransferProgress];
}

export interface ReceivedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

const RECEIVING = 0;
const FINISHED = 1;
const FAILED = 2;

/** The temporary file of a transfer: hidden, next to the destination, named after the digest. */
export function partPath(dest: string, sha256?: string): string {
  const tag = sha256 === undefined ? '' : `.${sha256.slice(0, 16)}`;
  return path.join(path.dirname(dest), `.${path.basename(dest)}${tag}.ferry-part`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export class FileReceiver extends EventEmitter<FileReceiverEvents> {
  readonly maxChunkBytes: number;
  readonly overwrite: boolean;
  #state = RECEIVING;
  #error: Error | null = null;
  /** Next offset a chunk must start at (accepted, maybe still being written). */
  #next: number;
  /** Bytes written in order. */
  #offset: number;
  #queue: Promise<void> = Promise.resolve();
  #fhOpen = true;

  private constructor(
    readonly path: string,
    readonly tempPath: string,
    readonly size: number,
    readonly sha256: string | undefined,
    readonly fh: FileHandle,
    readonly hash: Hash,
    resumedBytes: number,
    opts: FileReceiverOptions,
  ) {
    super();
    this.maxChunkBytes = opts.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
    this.overwrite = opts.overwrite ?? false;
    this.#next = resumedBytes;
    this.#offset = resumedBytes;
  }

  /**
   * Prepares to receive. Refuses with `FILE_SIZE_INVALID`, `FILE_TOO_LARGE`,
   * `FILE_DIGEST_INVALID` or `FILE_EXISTS`. When the temporary file of the same transfer (same
   * destination and digest) is already there, its bytes are kept and hashed: `offset` starts
   * there.
   */
  static async open(opts: FileReceiverOptions): Promise<FileReceiver> {
    const sizeError = checkSize(opts.size, opts.limitBytes ?? Number.MAX_SAFE_INTEGER);
    if (sizeError === Codes.FILE_SIZE_INVALID.code) {
      throw new ToolError('FILE_SIZE_INVALID', String(opts.size));
    }
    if (sizeError !== null) throw new ToolError('FILE_TOO_LARGE', `${opts.size} bytes`);
    if (opts.sha256 !== undefined && !SHA256_HEX.test(opts.sha256)) {
      throw new ToolError('FILE_DIGEST_INVALID');
    }
    if (!(opts.overwrite ?? false) && (await exists(opts.path))) {
      throw new ToolError('FILE_EXISTS', opts.path);
    }
    const temp = partPath(opts.path, opts.sha256);
    // 0600: the transferred file is the user's until it is in place
    const fh = await fsp.open(temp, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      let { size: have } = await fh.stat();
      if (have > opts.size) {
        await fh.truncate(0);
        have = 0;
      }
      const hash = createHash('sha256');
      const buf = Buffer.allocUnsafe(Math.min(Math.max(have, 1), 1024 * 1024));
      let pos = 0;
      while (pos < have) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, have - pos), pos);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      return new FileReceiver(opts.path, temp, opts.size, opts.sha256, fh, hash, pos, opts);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Bytes written in order: acknowledge this, and resume from it. */
  get offset(): number {
    return this.#offset;
  }

  /** Waits for queued writes, then gives `offset` (what to report when the sender reconnects). */
  async settled(): Promise<number> {
    await this.#queue;
    if (this.#error !== null) throw this.#error;
    return this.#offset;
  }

  /**
   * Accepts the chunk at `offset` and resolves with the new `offset` once it is written (the ack
   * to send). Refusals change nothing: `FILE_OUT_OF_ORDER` (a gap), `FILE_OVERLAP` (already
   * written), `FILE_BEYOND_SIZE`, `FILE_CHUNK_TOO_LARGE`, `FILE_CLOSED`. The bytes are copied, so
   * the caller's buffer may be reused at once.
   */
  write(offset: number, data: Uint8Array): Promise<number> {
    if (this.#state !== RECEIVING) {
      return Promise.reject(this.#error ?? new ToolError('FILE_CLOSED'));
    }
    const len = data.byteLength;
    let refusal: ToolError | null = null;
    if (len > this.maxChunkBytes) refusal = new ToolError('FILE_CHUNK_TOO_LARGE', `${len} bytes`);
    else if (offset > this.#next) {
      refusal = new ToolError('FILE_OUT_OF_ORDER', `chunk at ${offset}, expected ${this.#next}`);
    } else if (offset < this.#next) {
      refusal = new ToolError('FILE_OVERLAP', `chunk at ${offset}, expected ${this.#next}`);
    } else if (offset + len > this.size) {
      refusal = new ToolError('FILE_BEYOND_SIZE', `chunk ends at ${offset + len} of ${this.size}`);
    }
    if (refusal !== null) return Promise.reject(refusal);
    // copy: the transport may reuse (or neuter) its buffer before the write runs
    const copy = Buffer.from(data);
    this.hash.update(copy);
    this.#next = offset + len;
    const end = this.#next;
    const done = this.#queue.then(async () => {
      if (this.#error !== null) throw this.#error;
      let put = 0;
      while (put < len) {
        const { bytesWritten } = await this.fh.write(copy, put, len - put, offset + put);
        put += bytesWritten;
      }
      this.#offset = end;
      if (this.listenerCount('progress') > 0) this.emit('progress', progressOf(end, this.size));
      return end;
    });
    this.#queue = done.then(
      () => undefined,
      (err: Error) => {
        this.#error ??= err;
        this.#state = FAILED;
      },
    );
    return done;
  }

  /**
   * Checks that every byte came (`FILE_INCOMPLETE`: nothing is lost, resume) and that the SHA-256
   * matches `sha256` (or the one given to `open`): `FILE_DIGEST_MISMATCH` discards the temporary
   * file. Then syncs and moves the file into place: `FILE_EXISTS` if one appeared meanwhile and
   * overwriting is off (the temporary file is discarded).
   */
  async finish(sha256?: string): Promise<ReceivedFile> {
    const expected = sha256 ?? this.sha256;
    if (expected === undefined || !SHA256_HEX.test(expected)) {
      throw new ToolError('FILE_DIGEST_INVALID');
    }
    await this.#queue;
    if (this.#state !== RECEIVING) throw this.#error ?? new ToolError('FILE_CLOSED');
    if (this.#offset !== this.size) {
      throw new ToolError('FILE_INCOMPLETE', `${this.#offset} of ${this.size} bytes`);
    }
    this.#state = FINISHED;
    const actual = this.hash.digest('hex');
    if (actual !== expected) {
      await this.#discard();
      throw this.#fail(new ToolError('FILE_DIGEST_MISMATCH', `got ${actual}`));
    }
    await this.fh.datasync();
    await this.#closeFile();
    try {
      await this.#place();
    } catch (err) {
      await fsp.rm(this.tempPath, { force: true });
      throw this.#fail(err as Error);
    }
    if (process.platform !== 'win32') {
      // the rename is durable once the directory entry is
      const dir = await fsp.open(path.dirname(this.path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    }
    return { path: this.path, size: this.size, sha256: actual };
  }

  /**
   * Stops receiving but keeps the temporary file, for a later `FileReceiver.open` of the same
   * transfer to resume (the client is going away). Resolves with the offset kept.
   */
  async suspend(): Promise<number> {
    await this.#queue;
    if (this.#state === RECEIVING) this.#state = FINISHED;
    await this.#closeFile();
    if (this.#error !== null) throw this.#error;
    return this.#offset;
  }

  /** Gives up: closes and removes the temporary file. */
  async abort(): Promise<void> {
    await this.#queue;
    if (this.#state === FINISHED) return;
    this.#state = FINISHED;
    await this.#discard();
  }

  #fail(err: Error): Error {
    this.#state = FAILED;
    this.#error = err;
    return err;
  }

  async #closeFile(): Promise<void> {
    if (!this.#fhOpen) return;
    this.#fhOpen = false;
    await this.fh.close();
  }

  async #discard(): Promise<void> {
    await this.#closeFile();
    await fsp.rm(this.tempPath, { force: true });
  }

  async #place(): Promise<void> {
    if (this.overwrite) {
      await fsp.rename(this.tempPath, this.path);
      return;
    }
    try {
      // link fails with EEXIST atomically: an existing file is never replaced
      await fsp.link(this.tempPath, this.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new ToolError('FILE_EXISTS', this.path);
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
        throw err;
      }
      // no hard links on this file system: check, then rename (a narrow race remains)
      if (await exists(this.path)) throw new ToolError('FILE_EXISTS', this.path);
      await fsp.rename(this.tempPath, this.path);
      return;
    }
    await fsp.unlink(this.tempPath);
  }
}
