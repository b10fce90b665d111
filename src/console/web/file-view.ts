/**
 * File transfer in the technician console, both ways, over the FILE channel
 * (proto/ferry/v1/file.proto; Frame.stream = a file id this console picks):
 * - upload: the browser reads the picked file, computes its SHA-256 with crypto.subtle, offers
 *   it, and on FileAccept sends 64 KiB chunks with a window of 8 in flight, moving on with the
 *   customer's acks; FileDone (the customer checked the digest) marks it verified;
 * - download: FileRequest names a path the customer shares; the customer offers it, the console
 *   accepts, acks each chunk, checks the SHA-256 of what arrived against the offer, answers
 *   FileDone (or FileCancel on a mismatch) and offers the file as a download link.
 * Each transfer shows a progress bar, its rate and the digest check. The gateway enforces the
 * grant and the size limit.
 */
import { Codes } from '../../protocol/codes.js';
import { ferry } from '../../protocol/gen/ferry.js';
import type { Conn } from './conn.js';
import { button, formatRate, h } from './dom.js';

const C = ferry.v1.Channel;
const CHUNK_BYTES = 64 * 1024;
const WINDOW_CHUNKS = 8;

async function sha256Hex(data: BufferSource): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

interface Transfer {
  readonly id: number;
  readonly direction: 'upload' | 'download';
  name: string;
  size: number;
  sha256: string;
  /** Upload: the file's bytes. Download: the bytes received so far. */
  data: Uint8Array<ArrayBuffer>;
  /** Upload: next byte to send; download: bytes received in order. */
  offset: number;
  /** Upload: bytes the customer acknowledged. */
  acked: number;
  started: number;
  finished: boolean;
  readonly row: HTMLElement;
  readonly bar: HTMLProgressElement;
  readonly text: HTMLElement;
}

export class FileView {
  readonly root: HTMLElement;
  readonly #conn: Conn;
  readonly #list: HTMLElement;
  readonly #transfers = new Map<number, Transfer>();
  #nextId = 1 + Math.floor(Math.random() * 0x3fffffff);

  constructor(conn: Conn) {
    this.#conn = conn;
    const picker = h('input', { type: 'file', id: 'file-upload', 'aria-label': 'file to send' });
    picker.addEventListener('change', () => {
      for (const file of picker.files ?? []) void this.upload(file);
      picker.value = '';
    });
    const remotePath = h('input', {
      id: 'file-remote-path',
      placeholder: "file on the customer's side",
    });
    this.#list = h('ul', { class: 'transfers', id: 'transfers' });
    this.root = h(
      'section',
      { class: 'files', id: 'files' },
      h('h3', {}, 'Files'),
      h('label', {}, 'Send to the customer ', picker),
      h(
        'div',
        { class: 'file-download' },
        remotePath,
        button(
          'Fetch',
          () => {
            const p = remotePath.value.trim();
            if (p !== '') this.download(p);
          },
          { id: 'file-fetch' },
        ),
      ),
      this.#list,
    );
    conn.on('frame', (frame) => {
      if (frame.channel === C.CHANNEL_FILE && frame.file) {
        this.#onMessage(frame.stream, frame.file as ferry.v1.FileMessage);
      } else if (
        frame.channel === C.CHANNEL_EVENT &&
        frame.event?.error?.channel === C.CHANNEL_FILE &&
        frame.stream !== 0
      ) {
        const err = frame.event.error;
        this.#fail(frame.stream, `refused: ${err.code} ${err.message}`);
      }
    });
  }

  #newTransfer(direction: Transfer['direction'], name: string, size: number): Transfer {
    const id = this.#nextId++;
    const bar = h('progress', { max: '1', value: '0' });
    const text = h('span', { class: 'transfer-text' }, 'waiting');
    const row = h(
      'li',
      {
        class: 'transfer',
        'data-id': String(id),
        'data-direction': direction,
        'data-state': 'open',
      },
      h('span', { class: 'transfer-name' }, `${direction === 'upload' ? '↑' : '↓'} ${name}`),
      bar,
      text,
    );
    const tr: Transfer = {
      id,
      direction,
      name,
      size,
      sha256: '',
      data: new Uint8Array(0),
      offset: 0,
      acked: 0,
      started: performance.now(),
      finished: false,
      row,
      bar,
      text,
    };
    row.append(button('Cancel', () => this.#cancel(tr), { class: 'transfer-cancel' }));
    this.#transfers.set(id, tr);
    this.#list.prepend(row);
    return tr;
  }

  /** Sends `file` to the customer. */
  async upload(file: File): Promise<void> {
    const tr = this.#newTransfer('upload', file.name, file.size);
    tr.text.textContent = 'computing SHA-256…';
    tr.data = new Uint8Array(await file.arrayBuffer());
    tr.sha256 = await sha256Hex(tr.data);
    tr.row.dataset.sha256 = tr.sha256;
    tr.text.textContent = 'offered';
    this.#send(tr.id, { offer: { name: file.name, size: file.size, sha256: tr.sha256 } });
  }

  /** Asks the customer for the file at `remotePath`. */
  download(remotePath: string): void {
    const name = remotePath.split(/[\\/]/).pop() || remotePath;
    const tr = this.#newTransfer('download', name, 0);
    tr.text.textContent = 'requested';
    this.#send(tr.id, { request: { path: remotePath } });
  }

  #send(id: number, file: ferry.v1.FileMessage.$Properties): boolean {
    return this.#conn.send({ channel: C.CHANNEL_FILE, stream: id, file });
  }

  #onMessage(id: number, msg: ferry.v1.FileMessage): void {
    const tr = this.#transfers.get(id);
    if (tr === undefined || tr.finished) return;
    switch (msg.kind) {
      case 'accept':
        if (tr.direction !== 'upload') return;
        tr.offset = tr.acked = Math.min(Number(msg.accept!.offset), tr.size);
        tr.started = performance.now();
        this.#pump(tr);
        return;
      case 'ack':
        if (tr.direction !== 'upload') return;
        tr.acked = Math.max(tr.acked, Math.min(Number(msg.ack!.offset), tr.size));
        this.#progress(tr, tr.acked);
        this.#pump(tr);
        return;
      case 'done':
        if (tr.direction !== 'upload') return;
        if (msg.done!.sha256 !== tr.sha256) {
          this.#fail(id, `the customer's SHA-256 ${msg.done!.sha256} differs`);
          return;
        }
        this.#finish(tr, `verified SHA-256 ${tr.sha256.slice(0, 16)}…`);
        return;
      case 'offer':
        if (tr.direction !== 'download') return;
        this.#offered(tr, msg.offer as ferry.v1.FileOffer);
        return;
      case 'chunk':
        if (tr.direction !== 'download') return;
        void this.#chunk(tr, msg.chunk as ferry.v1.FileChunk);
        return;
      case 'cancel':
        this.#fail(id, `cancelled: ${msg.cancel?.code ?? ''} ${msg.cancel?.message ?? ''}`, false);
        return;
      default:
    }
  }

  /** Keeps a window of chunks in flight ahead of the last ack. */
  #pump(tr: Transfer): void {
    while (
      !tr.finished &&
      tr.offset < tr.size &&
      tr.offset - tr.acked < WINDOW_CHUNKS * CHUNK_BYTES
    ) {
      const end = Math.min(tr.offset + CHUNK_BYTES, tr.size);
      if (
        !this.#send(tr.id, { chunk: { offset: tr.offset, data: tr.data.subarray(tr.offset, end) } })
      )
        return;
      tr.offset = end;
    }
  }

  #offered(tr: Transfer, offer: ferry.v1.FileOffer): void {
    tr.size = Number(offer.size);
    tr.sha256 = offer.sha256;
    tr.data = new Uint8Array(tr.size);
    tr.offset = 0;
    tr.started = performance.now();
    this.#send(tr.id, { accept: { offset: 0 } });
    if (tr.size === 0) void this.#complete(tr);
  }

  async #chunk(tr: Transfer, chunk: ferry.v1.FileChunk): Promise<void> {
    const at = Number(chunk.offset);
    if (at < tr.offset) return; // sent again: have it
    if (at > tr.offset || at + chunk.data.length > tr.size) {
      this.#fail(tr.id, `chunk at ${at} does not follow ${tr.offset}`);
      return;
    }
    tr.data.set(chunk.data, at);
    tr.offset = at + chunk.data.length;
    this.#send(tr.id, { ack: { offset: tr.offset } });
    this.#progress(tr, tr.offset);
    if (tr.offset === tr.size) await this.#complete(tr);
  }

  async #complete(tr: Transfer): Promise<void> {
    const digest = await sha256Hex(tr.data);
    tr.row.dataset.sha256 = digest;
    if (digest !== tr.sha256) {
      this.#fail(tr.id, `SHA-256 mismatch: got ${digest}, offered ${tr.sha256}`);
      return;
    }
    this.#send(tr.id, { done: { sha256: digest, size: tr.size } });
    this.#finish(tr, `verified SHA-256 ${digest.slice(0, 16)}…`);
    const url = URL.createObjectURL(new Blob([tr.data]));
    tr.row.append(h('a', { href: url, download: tr.name, class: 'transfer-save' }, 'Save'));
  }

  #progress(tr: Transfer, bytes: number): void {
    const seconds = Math.max((performance.now() - tr.started) / 1000, 0.001);
    tr.bar.max = Math.max(tr.size, 1);
    tr.bar.value = bytes;
    tr.row.dataset.bytes = String(bytes);
    const pct = tr.size > 0 ? Math.floor((bytes * 100) / tr.size) : 100;
    tr.text.textContent = `${pct}% · ${formatBytes(bytes)} of ${formatBytes(tr.size)} · ${formatRate((bytes * 8) / seconds)}`;
  }

  #finish(tr: Transfer, text: string): void {
    tr.finished = true;
    this.#progress(tr, tr.size);
    tr.row.dataset.state = 'verified';
    tr.text.textContent += ` · ${text}`;
    tr.row.querySelector('.transfer-cancel')?.remove();
    if (tr.direction === 'upload') tr.data = new Uint8Array(0);
  }

  #cancel(tr: Transfer): void {
    if (tr.finished) return;
    this.#send(tr.id, {
      cancel: { code: Codes.FILE_CLOSED.code, message: 'cancelled by the technician' },
    });
    this.#fail(tr.id, 'cancelled', false);
  }

  #fail(id: number, why: string, tell = true): void {
    const tr = this.#transfers.get(id);
    if (tr === undefined || tr.finished) return;
    if (tell) this.#send(id, { cancel: { code: Codes.FILE_CLOSED.code, message: why } });
    tr.finished = true;
    tr.data = new Uint8Array(0);
    tr.row.dataset.state = 'failed';
    tr.text.textContent = why;
    tr.row.querySelector('.transfer-cancel')?.remove();
  }
}

function formatBytes(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}
