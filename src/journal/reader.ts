/**
 * Reads a whole journal file back (replay after a restart). A missing file is an empty journal.
 */

import { readFile } from 'node:fs/promises';
import { type DecodeResult, decodeRecords } from './record.js';

export type ReadResult = DecodeResult;

export async function readJournal(file: string): Promise<ReadResult> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { records: [], corrupt: 0, tornTail: false, validBytes: 0 };
    }
    throw err;
  }
  return decodeRecords(buf);
}
