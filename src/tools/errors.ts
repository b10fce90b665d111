/**
 * The error codes of the session-tool building blocks (shells, recordings, file transfer, jump
 * clients, support buttons, after-session actions). Entries have the same shape as
 * `src/protocol/codes.ts` (`code`, `close`, `doc`) so the wiring can merge them into that one
 * table; none of them closes a connection. Every refusal here is a `ToolError` whose `code` is
 * stable: callers and tests match on it, never on the message. The jump client, support button,
 * registry and after-session entries now live in `Codes` (the wiring answers with them);
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
  SHELL_LIMIT: entry(
    'FERRY_ERR_SHELL_LIMIT',
    'the customer client already runs the maximum number of concurrent shells',
  ),
  SHELL_EXISTS: entry('FERRY_ERR_SHELL_EXISTS', 'a shell with this id is already open'),
  SHELL_NOT_FOUND: entry('FERRY_ERR_SHELL_NOT_FOUND', 'no open shell has this id'),
  SHELL_INPUT_FULL: entry(
    'FERRY_ERR_SHELL_INPUT_FULL',
    'the shell process is not reading its input; the bytes were not written',
  ),
  SHELL_BAD_SIZE: entry(
    'FERRY_ERR_SHELL_BAD_SIZE',
    'columns and rows must be integers from 1 to 10000',
  ),
  FILE_TOO_LARGE: entry(
    'FERRY_ERR_FILE_TOO_LARGE',
    "the file is larger than the gateway's (or the receiver's) transfer size limit",
  ),
  FILE_SIZE_INVALID: entry(
    'FERRY_ERR_FILE_SIZE_INVALID',
    'the announced file size is not a non-negative safe integer',
  ),
  FILE_OUT_OF_ORDER: entry(
    'FERRY_ERR_FILE_OUT_OF_ORDER',
    'a chunk starts past the next expected offset (a gap); resume from the reported offset',
  ),
  FILE_OVERLAP: entry(
    'FERRY_ERR_FILE_OVERLAP',
    'a chunk starts before the next expected offset (already written); resume from the reported offset',
  ),
  FILE_BEYOND_SIZE: entry(
    'FERRY_ERR_FILE_BEYOND_SIZE',
    'a chunk ends past the announced file size',
  ),
  FILE_CHUNK_TOO_LARGE: entry(
    'FERRY_ERR_FILE_CHUNK_TOO_LARGE',
    "a chunk is larger than the receiver's chunk limit",
  ),
  FILE_BAD_ACK: entry(
    'FERRY_ERR_FILE_BAD_ACK',
    'an acknowledged offset is not one the sender sent (behind the last ack, past what was sent, or not a chunk end)',
  ),
  FILE_WINDOW_FULL: entry(
    'FERRY_ERR_FILE_WINDOW_FULL',
    'the sender has its whole window of chunks unacknowledged, or nothing is left to send',
  ),
  FILE_INCOMPLETE: entry(
    'FERRY_ERR_FILE_INCOMPLETE',
    'the transfer was finished before all announced bytes were written',
  ),
  FILE_DIGEST_MISMATCH: entry(
    'FERRY_ERR_FILE_DIGEST_MISMATCH',
    "the received bytes' SHA-256 differs from the sender's digest; the file was discarded",
  ),
  FILE_DIGEST_INVALID: entry(
    'FERRY_ERR_FILE_DIGEST_INVALID',
    'a SHA-256 digest must be 64 lowercase hex characters',
  ),
  FILE_EXISTS: entry(
    'FERRY_ERR_FILE_EXISTS',
    'the destination file exists and overwriting was not allowed',
  ),
  FILE_CLOSED: entry(
    'FERRY_ERR_FILE_CLOSED',
    'the transfer was already finished, aborted or failed',
  ),
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
