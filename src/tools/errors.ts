/**
 * `ToolError`: how the session-tool building blocks (shells, recordings, file transfer, jump
 * clients, support buttons, after-session actions) refuse. It is named after an entry of the one
 * table `Codes` (`src/protocol/codes.ts`), so its `code` is stable: callers and tests match on it,
 * never on the message.
 */

import { type CodeName, Codes, type ErrorCode } from '../protocol/codes.js';

/** A refusal with a stable code from `Codes`; the message is the entry's doc plus the detail. */
export class ToolError extends Error {
  readonly code: ErrorCode;

  constructor(name: CodeName, detail?: string) {
    const e = Codes[name];
    super(detail === undefined ? e.doc : `${e.doc}: ${detail}`);
    this.name = 'ToolError';
    this.code = e.code;
  }
}
