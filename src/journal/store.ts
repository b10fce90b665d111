/**
 * The journal directory: one `<sessionId>.journal` file per session. Opening a session's journal
 * replays what it holds and reopens it for appending with any torn tail cut off, so new records
 * follow the last complete line.
 */

import { mkdirSync } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type ReadResult, readJournal } from './reader.js';
import { JournalWriter, type JournalWriterOptions } from './writer.js';

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SUFFIX = '.journal';

export type JournalOpenOptions = Omit<JournalWriterOptions, 'truncateTo'>;

export interface OpenedJournal {
  writer: JournalWriter;
  /** What the file held before this open (torn tail excluded). */
  replay: ReadResult;
}

export class JournalStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  initSync(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** The journal path of a session. Throws on an id that could escape the directory. */
  fileFor(sessionId: string): string {
    // Ids come from the gateway: a bad one is a programming error, not input to answer.
    if (!SESSION_ID.test(sessionId)) {
      throw new Error(`not a journal session id: ${JSON.stringify(sessionId)}`);
    }
    return join(this.dir, `${sessionId}${SUFFIX}`);
  }

  /** Session ids that have a journal file, sorted. A missing directory holds none. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const ids: string[] = [];
    for (const name of names) {
      if (!name.endsWith(SUFFIX)) continue;
      const id = name.slice(0, -SUFFIX.length);
      if (SESSION_ID.test(id)) ids.push(id);
    }
    return ids.sort();
  }

  /** Deletes a session's journal; a missing one is fine. Close its writer first. */
  async remove(sessionId: string): Promise<void> {
    // unlink, not rm: rm walks the path (lstat, retries) for what is always one plain file
    await unlink(this.fileFor(sessionId)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /**
   * A session's journal. A restored session's (`truncateTo`) opens its file now; under `always`
   * a new one's is created now; otherwise once the session
   * has lived one fsync period (100 ms under `off`), or sooner when a record must be durable: a
   * session set up and ended within it costs no file (a file per session meant a create, an
   * unlink and two fsyncs: about 200 µs of CPU; docs/benchmarks.md, churn).
   */
  create(sessionId: string, options: JournalWriterOptions): JournalWriter {
    const file = this.fileFor(sessionId);
    const fsync = options.fsync;
    // a restored session's file exists (its torn tail is cut now)
    if (fsync.kind === 'always' || options.truncateTo !== undefined) {
      return JournalWriter.openSync(file, options);
    }
    return JournalWriter.deferred(file, options, fsync.kind === 'interval' ? fsync.ms : 100);
  }

  /** Replays a session's journal and opens it for appending after its last complete line. */
  async open(sessionId: string, options: JournalOpenOptions): Promise<OpenedJournal> {
    const file = this.fileFor(sessionId);
    const replay = await readJournal(file);
    const writer = await JournalWriter.open(file, { ...options, truncateTo: replay.validBytes });
    return { writer, replay };
  }
}
