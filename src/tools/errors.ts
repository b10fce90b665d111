import { Codes } from '../protocol/codes.js';

/**
 * The error codes of the session-tool building blocks (shells, recordings, file transfer, jump
 * clients, support buttons, after-session actions). Entries have the same shape as
 * `src/protocol/codes.ts` (`code`, `close`, `doc`) so the wiring can merge them into that one
 * table; none of them closes a connection. Every refusal here is a `ToolError` whose `code` is
 * stable: callers and tests match on it, never on the message.
 */

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
  JUMP_CLIENT_AUTH_FAILED: entry(
    'FERRY_ERR_JUMP_CLIENT_AUTH_FAILED',
    'no jump client registration matches this id and key',
  ),
  JUMP_CLIENT_REVOKED: entry(
    'FERRY_ERR_JUMP_CLIENT_REVOKED',
    'the jump client was unpinned: its key was revoked at the gateway (told only to a holder of the right key)',
  ),
  JUMP_CLIENT_NOT_FOUND: entry(
    'FERRY_ERR_JUMP_CLIENT_NOT_FOUND',
    'no jump client registration has this id',
  ),
  SUPPORT_BUTTON_NOT_FOUND: entry(
    'FERRY_ERR_SUPPORT_BUTTON_NOT_FOUND',
    'no support button registration has this id',
  ),
  REGISTRY_INVALID_FIELD: entry(
    'FERRY_ERR_REGISTRY_INVALID_FIELD',
    'technician, team and device name must be non-empty strings of at most 256 characters',
  ),
  REGISTRY_FULL: entry(
    'FERRY_ERR_REGISTRY_FULL',
    'the registry holds its maximum number of jump clients or support buttons',
  ),
  REGISTRY_CORRUPT: entry(
    'FERRY_ERR_REGISTRY_CORRUPT',
    'the registry file is not valid JSON of the expected shape; it was left untouched',
  ),
  ACTION_UNKNOWN: entry(
    'FERRY_ERR_ACTION_UNKNOWN',
    'the after-session action is not one of lock, logout, uninstall',
  ),
  ACTION_NOT_CONFIGURED: entry(
    'FERRY_ERR_ACTION_NOT_CONFIGURED',
    'the operator configured no command for this after-session action',
  ),
  ACTION_ALREADY_RUN: entry(
    'FERRY_ERR_ACTION_ALREADY_RUN',
    'a different after-session action already ran for this session',
  ),
  ACTION_SPAWN_FAILED: entry(
    'FERRY_ERR_ACTION_SPAWN_FAILED',
    'the after-session command could not be started',
  ),
} as const satisfies Record<string, ToolCodeEntry>;

/** The shell and file codes, already merged into `Codes` (src/protocol/codes.ts). */
type MergedName = Extract<keyof typeof Codes, `SHELL_${string}` | `FILE_${string}`>;

export type ToolCodeName = keyof typeof ToolCodes | MergedName;
export type ToolErrorCode =
  | (typeof ToolCodes)[keyof typeof ToolCodes]['code']
  | (typeof Codes)[MergedName]['code'];

/** A refusal with a stable code from `ToolCodes` (or the shell and file entries of `Codes`). */
export class ToolError extends Error {
  readonly code: ToolErrorCode;

  constructor(name: ToolCodeName, detail?: string) {
    const e =
      name in ToolCodes ? ToolCodes[name as keyof typeof ToolCodes] : Codes[name as MergedName];
    super(detail === undefined ? e.doc : `${e.doc}: ${detail}`);
    this.name = 'ToolError';
    this.code = e.code;
  }
}
