/**
 * The journal's on-disk record format: one record per line, `<crc32> <json>\n`, where `<crc32>`
 * is the CRC-32 of the JSON bytes as 8 lowercase hex digits.
 *
 * Why this shape:
 * - readable with standard tools: `cut -c10- x.journal | jq .` shows every record, `tail -f`
 *   follows a live session, `grep` finds one; no framing library is needed to inspect a journal;
 * - torn writes are detectable: a crash mid-append leaves a last line without its newline (a torn
 *   tail, dropped and truncated on the next open), and a damaged complete line fails its CRC or
 *   its JSON and is skipped alone while the lines after it still read;
 * - JSON.stringify never emits a raw 0x0a byte (newlines in strings are escaped), so a newline
 *   always ends a record.
 */

import { crc32 } from 'node:zlib';

/** Bytes before the JSON: 8 hex digits and a space. */
const PREFIX_BYTES = 9;
const NEWLINE = 0x0a;
const SPACE = 0x20;

export interface DecodeResult {
  /** The good records, in file order. */
  records: unknown[];
  /** Complete lines whose CRC or JSON failed; skipped. */
  corrupt: number;
  /** The file ends with a line that has no newline (an interrupted append); skipped. */
  tornTail: boolean;
  /** Offset just after the last complete line, good or corrupt: the length to truncate to. */
  validBytes: number;
}

/** Encodes one record as a complete line. Throws when `value` has no JSON form (cycles, BigInt). */
export function encodeRecord(value: object): Buffer {
  const json = JSON.stringify(value);
  if (typeof json !== 'string') throw new TypeError('journal record has no JSON form');
  const jsonBytes = Buffer.byteLength(json);
  const line = Buffer.allocUnsafe(PREFIX_BYTES + jsonBytes + 1);
  line.write(json, PREFIX_BYTES, 'utf8');
  const crc = crc32(line.subarray(PREFIX_BYTES, PREFIX_BYTES + jsonBytes)) >>> 0;
  line.write(crc.toString(16).padStart(8, '0'), 0, 'latin1');
  line[PREFIX_BYTES - 1] = SPACE;
  line[line.length - 1] = NEWLINE;
  return line;
}

/** Value of 8 lowercase hex digits at `start`, or -1 if they are anything else. */
function readHex8(buf: Buffer, start: number): number {
  let value = 0;
  for (let i = start; i < start + 8; i++) {
    const c = buf[i]!;
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** The record of the complete line `[start, end)` (newline excluded), or `undefined` if corrupt. */
function decodeLine(buf: Buffer, start: number, end: number): { value: unknown } | undefined {
  if (end - start < PREFIX_BYTES + 1 || buf[start + PREFIX_BYTES - 1] !== SPACE) return undefined;
  const expected = readHex8(buf, start);
  if (expected < 0) return undefined;
  const json = buf.subarray(start + PREFIX_BYTES, end);
  if (crc32(json) >>> 0 !== expected) return undefined;
  try {
    return { value: JSON.parse(json.toString('utf8')) };
  } catch (err) {
    // A CRC collision on damaged bytes: as corrupt as a CRC mismatch.
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Decodes a whole journal. Never throws on bad content: it counts it. */
export function decodeRecords(buf: Buffer): DecodeResult {
  const records: unknown[] = [];
  let corrupt = 0;
  let start = 0;
  while (start < buf.length) {
    const newline = buf.indexOf(NEWLINE, start);
    if (newline < 0) break;
    const decoded = decodeLine(buf, start, newline);
    if (decoded === undefined) corrupt++;
    else records.push(decoded.value);
    start = newline + 1;
  }
  return { records, corrupt, tornTail: start < buf.length, validBytes: start };
}
