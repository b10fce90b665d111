/**
 * Shell recordings: one `AsciicastRecorder` per shell writes an asciicast v2 recording (the
 * format asciinema plays: a JSON header line, then one `[seconds, code, data]` line per event,
 * https://docs.asciinema.org/manual/asciicast/v2/) and a plain-text transcript of the same shell.
 * Spec: session-tools.md E4 (recording captured at the gateway from the relayed stream), E5
 * (a transcript of each shell).
 *
 * Invariants:
 * - Event times are seconds since `startedAtMs`, rounded to microseconds, never decreasing (a
 *   clock that steps back repeats the last time) and never negative.
 * - The recording (header included) never exceeds `maxBytes`: room for one truncation marker
 *   (an "o" event, so players show it) is kept back, and once an event does not fit the marker is
 *   written and every later event is dropped and counted. The transcript has its own bound and
 *   marker.
 * - Bytes are decoded as UTF-8 per direction with a carried-over decoder, so a character split
 *   across two relayed frames is recorded whole.
 * - In streaming mode (`file` / `transcriptFile`) lines go straight to an fs.WriteStream (mode
 *   0600, never overwriting) and are not kept in memory; `close()` flushes and ends the streams.
 */
import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { ToolError } from './errors.js';

/** Default bound of one recording and of one transcript. */
export const DEFAULT_RECORDING_MAX_BYTES = 16 * 1024 * 1024;
/** A line of the transcript longer than this is wrapped (bounds the line assembler's memory). */
export const TRANSCRIPT_MAX_LINE_CHARS = 16 * 1024;

export interface AsciicastHeader {
  readonly version: 2;
  readonly width: number;
  readonly height: number;
  /** Unix time in whole seconds of the start of the recording. */
  readonly timestamp: number;
  readonly title?: string;
  readonly env?: Readonly<Record<string, string>>;
}

export type AsciicastEventCode = 'o' | 'i' | 'r';

export interface TranscriptOptions {
  /** Prefix each line with the time since the start, `[HH:MM:SS.mmm] `. Default false. */
  readonly timestamps?: boolean;
  /** Include the typed input as its own lines, prefixed `> ` (spec E5). Default false. */
  readonly input?: boolean;
}

export interface AsciicastOptions {
  readonly width: number;
  readonly height: number;
  readonly startedAtMs: number;
  readonly title?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Bound of the recording, header included. Default `DEFAULT_RECORDING_MAX_BYTES`. */
  readonly maxBytes?: number;
  /** Bound of the transcript. Default `maxBytes`. */
  readonly maxTranscriptBytes?: number;
  /** Stream the recording to this new file instead of keeping it in memory. */
  readonly file?: string;
  /** Stream the transcript to this new file instead of keeping it in memory. */
  readonly transcriptFile?: string;
  readonly transcript?: TranscriptOptions;
}

export interface RecordingStats {
  readonly events: number;
  readonly bytes: number;
  readonly truncated: boolean;
  readonly droppedEvents: number;
  readonly transcriptBytes: number;
  readonly transcriptTruncated: boolean;
}

/** Where finished lines go: an array in memory or an append-only file. */
interface LineSink {
  write(line: string): void;
  end(): Promise<void>;
}

class MemorySink implements LineSink {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  end(): Promise<void> {
    return Promise.resolve();
  }
}

class FileSink implements LineSink {
  readonly stream: fs.WriteStream;
  error: Error | null = null;

  constructor(path: string) {
    // 'wx': a recording never replaces another file; 0600: recordings hold what the customer typed
    this.stream = fs.createWriteStream(path, { flags: 'wx', mode: 0o600 });
    this.stream.on('error', (err) => {
      this.error = err;
    });
  }

  write(line: string): void {
    // bounded by maxBytes, so the stream's own buffer is the queue; no drain wait needed
    if (this.error === null) this.stream.write(line);
  }

  end(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.error !== null) {
        reject(this.error);
        return;
      }
      this.stream.end((err?: Error | null) => {
        const failed = err ?? this.error;
        if (failed) reject(failed);
        else resolve();
      });
    });
  }
}

const GROUND = 0;
const ESC = 1;
const ESC_INTERMEDIATE = 2;
const CSI = 3;
const OSC = 4;
const OSC_ESC = 5;
const STRING = 6;
const STRING_ESC = 7;

/**
 * Turns a terminal byte stream (already decoded to text) into plain lines: drops ANSI/VT escape
 * sequences (CSI, OSC, DCS/SOS/PM/APC strings, two-byte escapes, 8-bit C1 forms) and C0 controls,
 * keeps tabs, and applies the cursor moves that matter for a text record: CR returns to column 0
 * (so `\r\n` and `\n` end a line alike and `\r`-redrawn progress lines keep their last state),
 * backspace steps back, `CSI K` erases to the end of the line. In input mode CR or LF ends a line
 * (Enter sends CR) and backspace/DEL delete the previous character.
 */
export class LineAssembler {
  #state = GROUND;
  #csiParams = '';
  #chars: string[] = [];
  #col = 0;
  #lineStartMs = -1;
  #lastWasCr = false;

  constructor(
    readonly onLine: (text: string, atMs: number) => void,
    readonly inputMode = false,
  ) {}

  /** The unfinished current line. */
  get pending(): string {
    return this.#chars.join('');
  }

  get pendingStartMs(): number {
    return this.#lineStartMs;
  }

  feed(text: string, atMs: number): void {
    for (const ch of text) this.#step(ch, atMs);
  }

  /** Emits the unfinished line, if any. */
  flush(): void {
    if (this.#chars.length > 0) this.#commit(this.#lineStartMs);
  }

  #step(ch: string, atMs: number): void {
    const c = ch.codePointAt(0)!;
    switch (this.#state) {
      case GROUND:
        this.#ground(ch, c, atMs);
        return;
      case ESC:
        if (c === 0x5b) {
          this.#state = CSI;
          this.#csiParams = '';
        } else if (c === 0x5d) this.#state = OSC;
        else if (c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) this.#state = STRING;
        else if (c >= 0x20 && c <= 0x2f) this.#state = ESC_INTERMEDIATE;
        else if (c !== 0x1b) this.#state = GROUND;
        return;
      case ESC_INTERMEDIATE:
        if (c >= 0x30 && c <= 0x7e) this.#state = GROUND;
        else if (c === 0x18 || c === 0x1a) this.#state = GROUND;
        return;
      case CSI:
        if (c >= 0x40 && c <= 0x7e) {
          this.#state = GROUND;
          if (c === 0x4b) this.#eraseInLine(this.#csiParams);
        } else if (c === 0x18 || c === 0x1a) this.#state = GROUND;
        else if (c === 0x1b) this.#state = ESC;
        else if (this.#csiParams.length < 32) this.#csiParams += ch;
        return;
      case OSC:
        if (c === 0x07 || c === 0x9c) this.#state = GROUND;
        else if (c === 0x1b) this.#state = OSC_ESC;
        return;
      case STRING:
        if (c === 0x9c) this.#state = GROUND;
        else if (c === 0x1b) this.#state = STRING_ESC;
        return;
      default:
        // OSC_ESC, STRING_ESC: ESC \ is the string terminator; any other ESC starts a new sequence
        this.#state = ESC;
        if (c === 0x5c) this.#state = GROUND;
        else this.#step(ch, atMs);
    }
  }

  #ground(ch: string, c: number, atMs: number): void {
    const wasCr = this.#lastWasCr;
    this.#lastWasCr = c === 0x0d;
    if (c === 0x1b) this.#state = ESC;
    else if (c === 0x9b) {
      this.#state = CSI;
      this.#csiParams = '';
    } else if (c === 0x9d) this.#state = OSC;
    else if (c === 0x90 || c === 0x98 || c === 0x9e || c === 0x9f) this.#state = STRING;
    else if (c === 0x0a) {
      if (this.inputMode && wasCr) return;
      this.#commit(atMs);
    } else if (c === 0x0d) {
      if (this.inputMode) this.#commit(atMs);
      else this.#col = 0;
    } else if (c === 0x08 || (c === 0x7f && this.inputMode)) {
      if (this.#col === 0) return;
      this.#col--;
      if (this.inputMode) this.#chars.splice(this.#col, 1);
    } else if ((c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f)) {
      // other C0/C1 controls (BEL, SO/SI, ...) leave no text
    } else {
      if (this.#lineStartMs < 0) this.#lineStartMs = atMs;
      if (this.#col < this.#chars.length) this.#chars[this.#col] = ch;
      else this.#chars.push(ch);
      this.#col++;
      if (this.#chars.length >= TRANSCRIPT_MAX_LINE_CHARS) this.#commit(atMs);
    }
  }

  #eraseInLine(params: string): void {
    if (params === '' || params === '0') this.#chars.length = this.#col;
    else if (params === '2') {
      this.#chars.length = 0;
      this.#col = 0;
    }
  }

  /** `atMs`: when the line ended; a blank line is stamped with it. */
  #commit(atMs: number): void {
    const start = this.#lineStartMs < 0 ? atMs : this.#lineStartMs;
    const text = this.#chars.join('');
    this.#chars = [];
    this.#col = 0;
    this.#lineStartMs = -1;
    this.onLine(text, start);
  }
}

/** `[HH:MM:SS.mmm]` of a duration in milliseconds. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor(total / 60_000) % 60;
  const s = Math.floor(total / 1000) % 60;
  const milli = total % 1000;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `[${p2(h)}:${p2(m)}:${p2(s)}.${String(milli).padStart(3, '0')}]`;
}

/** Records one shell. See the file head for the invariants. */
export class AsciicastRecorder {
  readonly maxBytes: number;
  readonly maxTranscriptBytes: number;
  readonly startedAtMs: number;
  readonly #header: AsciicastHeader;
  readonly #sink: LineSink;
  readonly #transcriptSink: LineSink;
  readonly #markerReserve: number;
  readonly #transcriptMarkerReserve: number;
  readonly #timestamps: boolean;
  readonly #recordInput: boolean;
  readonly #outDecoder = new StringDecoder('utf8');
  readonly #inDecoder = new StringDecoder('utf8');
  readonly #outLines: LineAssembler;
  readonly #inLines: LineAssembler;
  #bytes = 0;
  #events = 0;
  #lastSeconds = 0;
  #truncated = false;
  #droppedEvents = 0;
  #transcriptBytes = 0;
  #transcriptTruncated = false;
  #closed = false;

  constructor(opts: AsciicastOptions) {
    this.startedAtMs = opts.startedAtMs;
    this.maxBytes = opts.maxBytes ?? DEFAULT_RECORDING_MAX_BYTES;
    this.maxTranscriptBytes = opts.maxTranscriptBytes ?? this.maxBytes;
    this.#timestamps = opts.transcript?.timestamps ?? false;
    this.#recordInput = opts.transcript?.input ?? false;
    const header: {
      version: 2;
      width: number;
      height: number;
      timestamp: number;
      title?: string;
      env?: Readonly<Record<string, string>>;
    } = {
      version: 2,
      width: opts.width,
      height: opts.height,
      timestamp: Math.floor(opts.startedAtMs / 1000),
    };
    if (opts.title !== undefined) header.title = opts.title;
    if (opts.env !== undefined) header.env = { ...opts.env };
    this.#header = header;

    this.#markerReserve = Buffer.byteLength(this.#markerLine(99_999_999.999999));
    this.#transcriptMarkerReserve = Buffer.byteLength(this.#transcriptMarker());
    const headerLine = `${JSON.stringify(header)}\n`;
    const headerBytes = Buffer.byteLength(headerLine);
    if (headerBytes + this.#markerReserve > this.maxBytes) {
      throw new RangeError(`maxBytes ${this.maxBytes} leaves no room for the header and marker`);
    }
    if (this.#transcriptMarkerReserve > this.maxTranscriptBytes) {
      throw new RangeError(`maxTranscriptBytes ${this.maxTranscriptBytes} is below its marker`);
    }

    this.#sink = opts.file === undefined ? new MemorySink() : new FileSink(opts.file);
    this.#transcriptSink =
      opts.transcriptFile === undefined ? new MemorySink() : new FileSink(opts.transcriptFile);
    this.#sink.write(headerLine);
    this.#bytes = headerBytes;
    this.#outLines = new LineAssembler((text, at) => this.#transcriptLine('', text, at));
    this.#inLines = new LineAssembler((text, at) => this.#transcriptLine('> ', text, at), true);
  }

  header(): AsciicastHeader {
    return this.#header;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  stats(): RecordingStats {
    return {
      events: this.#events,
      bytes: this.#bytes,
      truncated: this.#truncated,
      droppedEvents: this.#droppedEvents,
      transcriptBytes: this.#transcriptBytes,
      transcriptTruncated: this.#transcriptTruncated,
    };
  }

  /** Bytes the shell printed (ShellOutput). False when dropped (truncated or closed). */
  output(data: string | Uint8Array, atMs: number): boolean {
    if (this.#closed) return this.#drop();
    const text = typeof data === 'string' ? data : this.#outDecoder.write(data);
    if (text === '') return true;
    this.#outLines.feed(text, atMs);
    return this.#event('o', text, atMs);
  }

  /** Bytes the technician typed (ShellInput). False when dropped (truncated or closed). */
  input(data: string | Uint8Array, atMs: number): boolean {
    if (this.#closed) return this.#drop();
    const text = typeof data === 'string' ? data : this.#inDecoder.write(data);
    if (text === '') return true;
    if (this.#recordInput) this.#inLines.feed(text, atMs);
    return this.#event('i', text, atMs);
  }

  /** A ShellResize: recorded as an "r" event with data `COLSxROWS`. */
  resize(cols: number, rows: number, atMs: number): boolean {
    if (this.#closed) return this.#drop();
    return this.#event('r', `${cols}x${rows}`, atMs);
  }

  /** The whole recording: header line, then event lines, each ending with `\n`. */
  toString(): string {
    if (!(this.#sink instanceof MemorySink)) throw new ToolError('RECORDING_STREAMED');
    return this.#sink.lines.join('');
  }

  /**
   * The transcript so far: finished lines, then the unfinished output and input lines. Each line
   * ends with `\n`.
   */
  transcript(): string {
    if (!(this.#transcriptSink instanceof MemorySink)) throw new ToolError('RECORDING_STREAMED');
    let text = this.#transcriptSink.lines.join('');
    if (this.#transcriptTruncated) return text;
    const out = this.#outLines.pending;
    if (out !== '') text += this.#formatLine('', out, this.#outLines.pendingStartMs);
    const inp = this.#inLines.pending;
    if (inp !== '') text += this.#formatLine('> ', inp, this.#inLines.pendingStartMs);
    return text;
  }

  /**
   * Flushes what the decoders and line assemblers still hold, then ends the file streams. Later
   * events are dropped. Rejects with the write error if a file stream failed.
   */
  async close(atMs?: number): Promise<void> {
    if (this.#closed) return;
    const at = atMs ?? this.startedAtMs + this.#lastSeconds * 1000;
    const outRest = this.#outDecoder.end();
    if (outRest !== '') this.output(outRest, at);
    const inRest = this.#inDecoder.end();
    if (inRest !== '') this.input(inRest, at);
    this.#outLines.flush();
    this.#inLines.flush();
    this.#closed = true;
    const results = await Promise.allSettled([this.#sink.end(), this.#transcriptSink.end()]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  #drop(): false {
    this.#droppedEvents++;
    return false;
  }

  #seconds(atMs: number): number {
    let s = Math.round(((atMs - this.startedAtMs) / 1000) * 1e6) / 1e6;
    if (!(s >= this.#lastSeconds)) s = this.#lastSeconds; // also catches NaN
    this.#lastSeconds = s;
    return s;
  }

  #markerLine(seconds: number): string {
    const text = `\r\n[ferry: recording truncated at ${this.maxBytes} bytes]\r\n`;
    return `${JSON.stringify([seconds, 'o', text])}\n`;
  }

  #event(code: AsciicastEventCode, text: string, atMs: number): boolean {
    if (this.#truncated) return this.#drop();
    const seconds = this.#seconds(atMs);
    const line = `${JSON.stringify([seconds, code, text])}\n`;
    const len = Buffer.byteLength(line);
    if (this.#bytes + len + this.#markerReserve > this.maxBytes) {
      this.#truncated = true;
      const marker = this.#markerLine(seconds);
      this.#sink.write(marker);
      this.#bytes += Buffer.byteLength(marker);
      this.#events++;
      return this.#drop();
    }
    this.#sink.write(line);
    this.#bytes += len;
    this.#events++;
    return true;
  }

  #transcriptMarker(): string {
    return `[ferry: transcript truncated at ${this.maxTranscriptBytes} bytes]\n`;
  }

  #formatLine(prefix: string, text: string, atMs: number): string {
    const time = this.#timestamps ? `${formatElapsed(atMs - this.startedAtMs)} ` : '';
    return `${time}${prefix}${text}\n`;
  }

  #transcriptLine(prefix: string, text: string, atMs: number): void {
    if (this.#transcriptTruncated) return;
    const line = this.#formatLine(prefix, text, atMs);
    const len = Buffer.byteLength(line);
    if (this.#transcriptBytes + len + this.#transcriptMarkerReserve > this.maxTranscriptBytes) {
      this.#transcriptTruncated = true;
      const marker = this.#transcriptMarker();
      this.#transcriptSink.write(marker);
      this.#transcriptBytes += Buffer.byteLength(marker);
      return;
    }
    this.#transcriptSink.write(line);
    this.#transcriptBytes += len;
  }
}
