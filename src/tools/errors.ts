/**
 * The error codes of the session-tool building blocks (shells, recordings, file transfer, jump
 * clients, support buttons, after-session actions). Entries have the same shape as
 * `src/protocol/codes.ts` (`code`, `close`, `doc`) so the wiring can merge them into that one
 * table; none of them closes a connection. Every refusal here is a `ToolError` whose `code` is
 * stable: callers and tests match on it, never on the message. The jump client, support button,
 * registry, after-session, shell and file entries now live in `Codes` (the wiring answers with them);
 * `ToolError` takes those names too.
 */

import { type CodeName, Codes } from '../protocol/codes.js';

interface ToolCodeEntry {
  readonly code: `FERRY_ERR_${string}`;
  readonly doc: string;
  /** Close code sent after the Error, or 0 to keep the connection open (always 0 here). */
  readonly close: number;
}

function entry(code: `FERRY_ERR_${string}`, doc: string): ToolCodeEntry {
  return { code, close: 0, doc };
}

export const ToolCodes = {
  RECORDING_STREAMED: entry(
    'FERRY_ERR_RECORDING_STREAMED',
    'a recording streamed to a file keeps no events in memory; read the file instead',
  ),
  RECORDING_CLOSED: entry('FERRY_ERR_RECORDING_CLOSED', 'the recording was closed'),
  REGISTRY_CORRUPT: entry(
    'FERRY_ERR_REGISTRY_CORRUPT',
    'the registry file is not valid JSON of the expected shape; it was left untouched',
  ),
} as const satisfies Record<string, ToolCodeEntry>;

/** Names of `ToolCodes`, and of the entries already moved into the gateway's `Codes`. */
export type ToolCodeName = keyof typeof ToolCodes | CodeName;
export type ToolErrorCode =
  | (typeof ToolCodes)[keyof typeof ToolCodes]['code']
  | (typeof Codes)[CodeName]['code'];

/** A refusal with a stable code from `ToolCodes` (or from `Codes`, for the moved entries). */
export class ToolError extends Error {
  readonly code: ToolErrorCode;

  constructor(name: ToolCodeName, detail?: string) {
    const e: { code: ToolErrorCode; doc: string } =
      name in ToolCodes ? ToolCodes[name as keyof typeof ToolCodes] : Codes[name as CodeName];
    super(detail === undefined ? e.doc : `${e.doc}: ${detail}`);
    this.name = 'ToolError';
    this.code = e.code;
  }
}
