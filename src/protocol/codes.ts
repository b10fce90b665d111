/**
 * The one table of error codes (`Codes`) and the WebSocket close codes. The gateway answers with
 * them (`Error{code, message}` on the EVENT channel; a code with `close` set ends the connection
 * after the Error is sent), the admin HTTP API puts them in its JSON errors (`http` is the status),
 * and the reference clients and the tools raise them locally. Clients and tests match on `code`,
 * never on the message text: the strings and close codes are the contract.
 * `Refusal`, `refuse` and `isRefusal` are the coded "no" that session operations return.
 */

/**
 * WebSocket close codes: RFC 6455 ones and Ferry's private 4000-4999 range, by cause (the table
 * of docs/protocol.md "How a connection ends"):
 * - 1000 and 4100-4199 are normal ends, never errors, and final (a client does not reconnect):
 *   the final StatusChanged of the session reached the participant before the close;
 * - 1001 is the gateway going away: an EVENT Closing with the drain deadline came first;
 * - every other code is an error, sent after an EVENT Error naming it (`Codes`).
 */
export const CloseCodes = {
  /** The participant's own end: it closed its connection (the gateway never sends it). */
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  /** A handler failed and the session it was in could not go on. */
  INTERNAL_ERROR: 1011,
  HELLO_TIMEOUT: 4001,
  HELLO_REQUIRED: 4002,
  AUTH_FAILED: 4003,
  SLOW_CONSUMER: 4008,
  REPLACED: 4009,
  /** Not an error: another gateway owns what the Hello named; a Redirect said where (final here). */
  REDIRECT: 4010,
  RATE_LIMITED: 4029,
  /** Normal: a technician or an operator ended the session. */
  SESSION_CLOSED: 4100,
  /** Normal: the customer closed the session itself (customer_close). */
  SESSION_LEFT: 4101,
  /** Normal: a timeout ended the session (PIN expiry, idle, offline or resume window). */
  SESSION_TIMED_OUT: 4102,
} as const;

/** The range of normal session ends (4100-4199): final, not an error. */
export const NORMAL_CLOSE_RANGE = { min: 4100, max: 4199 } as const;

/** A close by which the gateway let a participant go because its session is over (4100-4199). */
export function isSessionEndClose(code: number): boolean {
  return code >= NORMAL_CLOSE_RANGE.min && code <= NORMAL_CLOSE_RANGE.max;
}

/** A close that ends a participant's part normally: 1000 or the 4100-4199 range. Final. */
export function isNormalClose(code: number): boolean {
  return code === CloseCodes.NORMAL || isSessionEndClose(code);
}

export interface CodeEntry {
  readonly code: `FERRY_ERR_${string}`;
  readonly doc: string;
  /** Close code sent after the Error, or 0 to keep the connection open. */
  readonly close: number;
  /** HTTP status of the admin API's answer, for the codes only that API sends. */
  readonly http?: number;
}

function entry(code: `FERRY_ERR_${string}`, close: number, doc: string): CodeEntry {
  return { code, close, doc };
}

function httpEntry(code: `FERRY_ERR_${string}`, http: number, doc: string): CodeEntry {
  return { code, close: 0, doc, http };
}

export const Codes = {
  FRAME_EMPTY: entry('FERRY_ERR_FRAME_EMPTY', 0, 'a binary message with no bytes'),
  INTERNAL: entry(
    'FERRY_ERR_INTERNAL',
    0,
    'the gateway failed while handling this frame; the failure is logged and counted, other sessions go on',
  ),
  FRAME_NO_CHANNEL: entry(
    'FERRY_ERR_FRAME_NO_CHANNEL',
    0,
    'the frame does not start with field 1 (channel, tag byte 0x08)',
  ),
  FRAME_TRUNCATED: entry(
    'FERRY_ERR_FRAME_TRUNCATED',
    0,
    'a varint at the start of the frame (channel or stream) is cut off or too long',
  ),
  UNKNOWN_CHANNEL: entry(
    'FERRY_ERR_UNKNOWN_CHANNEL',
    0,
    'the channel number is 0 (CHANNEL_UNSPECIFIED) or not in ferry.v1.Channel',
  ),
  FRAME_DECODE: entry(
    'FERRY_ERR_FRAME_DECODE',
    0,
    'a frame the gateway must decode (CONTROL, CHAT, HEARTBEAT) is not valid protobuf or lacks its body',
  ),
  FRAME_TOO_LARGE: entry(
    'FERRY_ERR_FRAME_TOO_LARGE',
    0,
    "the frame exceeds its channel's size limit; it was not relayed",
  ),
  TEXT_FRAME: entry(
    'FERRY_ERR_TEXT_FRAME',
    CloseCodes.UNSUPPORTED_DATA,
    'a text WebSocket message; Ferry speaks binary frames only',
  ),
  HELLO_REQUIRED: entry(
    'FERRY_ERR_HELLO_REQUIRED',
    CloseCodes.HELLO_REQUIRED,
    'the first frame of a connection must be a CONTROL Hello',
  ),
  HELLO_TIMEOUT: entry(
    'FERRY_ERR_HELLO_TIMEOUT',
    CloseCodes.HELLO_TIMEOUT,
    'no Hello arrived within the hello deadline',
  ),
  HELLO_DUPLICATE: entry('FERRY_ERR_HELLO_DUPLICATE', 0, 'a second Hello on the same connection'),
  ROLE_INVALID: entry(
    'FERRY_ERR_ROLE_INVALID',
    CloseCodes.AUTH_FAILED,
    'Hello names no role, or a role without its credential (token or PIN)',
  ),
  TOKEN_MALFORMED: entry(
    'FERRY_ERR_TOKEN_MALFORMED',
    CloseCodes.AUTH_FAILED,
    'the technician token is missing or not a Ferry token',
  ),
  TOKEN_SIGNATURE: entry(
    'FERRY_ERR_TOKEN_SIGNATURE',
    CloseCodes.AUTH_FAILED,
    "the technician token's signature does not match this gateway's secret (unsigned or tampered)",
  ),
  TOKEN_EXPIRED: entry(
    'FERRY_ERR_TOKEN_EXPIRED',
    CloseCodes.AUTH_FAILED,
    'the technician token has expired',
  ),
  TOKEN_NOT_YET_VALID: entry(
    'FERRY_ERR_TOKEN_NOT_YET_VALID',
    CloseCodes.AUTH_FAILED,
    'the technician token is not valid yet (its nbf is in the future)',
  ),
  TOKEN_AUDIENCE: entry(
    'FERRY_ERR_TOKEN_AUDIENCE',
    CloseCodes.AUTH_FAILED,
    "the technician token's audience (aud) is not this gateway's tokenAudience",
  ),
  TOKEN_ISSUER: entry(
    'FERRY_ERR_TOKEN_ISSUER',
    CloseCodes.AUTH_FAILED,
    "the technician token's issuer (iss) is not this gateway's tokenIssuer",
  ),
  TOKEN_REVOKED: entry(
    'FERRY_ERR_TOKEN_REVOKED',
    CloseCodes.AUTH_FAILED,
    'the technician token was revoked (its jti is on the deny-list)',
  ),
  PIN_INVALID: entry(
    'FERRY_ERR_PIN_INVALID',
    CloseCodes.AUTH_FAILED,
    'no session waits for this PIN: wrong, already used, or expired',
  ),
  WRONG_ROLE: entry(
    'FERRY_ERR_WRONG_ROLE',
    0,
    "the sender's role may not send this channel or operation",
  ),
  WRONG_STATE: entry(
    'FERRY_ERR_WRONG_STATE',
    0,
    'the session is not in a status that allows this frame or operation',
  ),
  NOT_IN_SESSION: entry(
    'FERRY_ERR_NOT_IN_SESSION',
    0,
    'the sender is not a participant of a session (or not of the one named)',
  ),
  NOT_CONTROLLER: entry(
    'FERRY_ERR_NOT_CONTROLLER',
    0,
    'INPUT from a technician who does not hold control of the session',
  ),
  NOT_GRANTED: entry(
    'FERRY_ERR_NOT_GRANTED',
    0,
    'the customer has not granted the permission this channel needs; nothing was relayed',
  ),
  SESSION_NOT_FOUND: entry('FERRY_ERR_SESSION_NOT_FOUND', 0, 'no session has this id'),
  INVALID_TRANSITION: entry(
    'FERRY_ERR_INVALID_TRANSITION',
    0,
    'the trigger is not allowed in the session status (docs/spec/session-states.json)',
  ),
  PIN_EXPIRED: entry(
    'FERRY_ERR_PIN_EXPIRED',
    0,
    "sent to the technician: the session's PIN expired before a customer joined; the session ended",
  ),
  UNSUPPORTED_OPERATION: entry(
    'FERRY_ERR_UNSUPPORTED_OPERATION',
    0,
    'a CONTROL operation this gateway does not accept from clients',
  ),
  SLOW_CONSUMER: entry(
    'FERRY_ERR_SLOW_CONSUMER',
    CloseCodes.SLOW_CONSUMER,
    'the connection did not read fast enough: its send buffer passed the hard cap for reliable frames',
  ),
  RATE_LIMITED: entry(
    'FERRY_ERR_RATE_LIMITED',
    CloseCodes.RATE_LIMITED,
    'too many PIN attempts from this address (or the gateway), or too many frames per second',
  ),
  CHAT_RATE_LIMITED: entry(
    'FERRY_ERR_CHAT_RATE_LIMITED',
    0,
    'more chat messages per second than --max-chat-per-second allows (in bursts of twice as many): this one was neither logged nor relayed; the connection stays, but refusals count toward --max-bad-frames',
  ),
  TOO_MANY_ERRORS: entry(
    'FERRY_ERR_TOO_MANY_ERRORS',
    CloseCodes.POLICY_VIOLATION,
    'the connection kept sending refused frames; it is closed',
  ),
  IDLE_TIMEOUT: entry(
    'FERRY_ERR_IDLE_TIMEOUT',
    CloseCodes.POLICY_VIOLATION,
    'the connection sent nothing (not even pongs) for the idle timeout',
  ),
  SESSION_ENDED: entry(
    'FERRY_ERR_SESSION_ENDED',
    0,
    'the session has ended (its connections were closed with a normal close, 4100-4102)',
  ),
  SHUTTING_DOWN: entry(
    'FERRY_ERR_SHUTTING_DOWN',
    CloseCodes.GOING_AWAY,
    'the gateway is shutting down',
  ),
  NOT_OWNER: entry(
    'FERRY_ERR_NOT_OWNER',
    0,
    'only the technician who owns the session may do this (hold, transfer, invite, remove, hand over, reboot)',
  ),
  TECHNICIAN_NOT_FOUND: entry(
    'FERRY_ERR_TECHNICIAN_NOT_FOUND',
    0,
    'no connected technician has this name or participant id (or it names the sender itself)',
  ),
  NO_INVITATION: entry(
    'FERRY_ERR_NO_INVITATION',
    0,
    'the technician has no pending invitation to this session',
  ),
  DIRECTORY_UNAVAILABLE: entry(
    'FERRY_ERR_DIRECTORY_UNAVAILABLE',
    0,
    'the shared directory (Redis, --directory) cannot be reached: this gateway starts no new session and finds no PIN another gateway holds until it is back; live sessions go on',
  ),
  RESUME_INVALID: entry(
    'FERRY_ERR_RESUME_INVALID',
    CloseCodes.AUTH_FAILED,
    'the resume token is unknown, expired, for another role, or its session has ended',
  ),
  RESUMED_ELSEWHERE: entry(
    'FERRY_ERR_RESUMED_ELSEWHERE',
    CloseCodes.REPLACED,
    "a new connection resumed this participant's place with its resume token; this one is closed",
  ),
  FRAMES_LOST: entry(
    'FERRY_ERR_FRAMES_LOST',
    0,
    'reliable frames for an absent participant were discarded: its resume buffer was full or it stayed away past the Offline window (a FramesLost event)',
  ),
  PERMISSION_UNAVAILABLE: entry(
    'FERRY_ERR_PERMISSION_UNAVAILABLE',
    0,
    'a consent request, answer or revocation names no permission, or one this gateway does not offer',
  ),
  UNKNOWN_REQUEST: entry(
    'FERRY_ERR_UNKNOWN_REQUEST',
    0,
    'an answer (ConsentResponse, SysinfoResponse) names a request that is not pending: never made, already answered, or given up',
  ),
  INVALID_ARGUMENT: entry(
    'FERRY_ERR_INVALID_ARGUMENT',
    0,
    'an operation carries a value out of its range: an empty or oversized note, an unknown monitor or quality preset, too many monitors or categories',
  ),
  // The direct path (docs/direct-path.md).
  SIGNAL_INVALID: entry(
    'FERRY_ERR_SIGNAL_INVALID',
    0,
    'a direct-path signal the gateway will not pass on: an SDP that is not a data-channel offer or answer, an offer from the answerer, a second answer, or a candidate line that does not parse',
  ),
  CANDIDATE_LIMIT: entry(
    'FERRY_ERR_CANDIDATE_LIMIT',
    0,
    'a direct-path attempt already carried the most ICE candidates the gateway passes on (32); later ones are dropped',
  ),
  // Session tools II: command shells and file transfer (spec session-tools E, issue 8 item 2).
  SHELL_LIMIT: entry(
    'FERRY_ERR_SHELL_LIMIT',
    0,
    "the session already has the maximum number of concurrent shells (the gateway's maxShellsPerSession, or the customer client's own cap)",
  ),
  SHELL_EXISTS: entry('FERRY_ERR_SHELL_EXISTS', 0, 'a shell with this id is already open'),
  SHELL_NOT_FOUND: entry('FERRY_ERR_SHELL_NOT_FOUND', 0, 'no open shell has this id'),
  SHELL_INPUT_FULL: entry(
    'FERRY_ERR_SHELL_INPUT_FULL',
    0,
    'the shell process is not reading its input; the bytes were not written',
  ),
  SHELL_BAD_SIZE: entry(
    'FERRY_ERR_SHELL_BAD_SIZE',
    0,
    'columns and rows must be integers from 1 to 10000',
  ),
  FILE_TOO_LARGE: entry(
    'FERRY_ERR_FILE_TOO_LARGE',
    0,
    "the file is larger than the gateway's (or the receiver's) transfer size limit",
  ),
  FILE_SIZE_INVALID: entry(
    'FERRY_ERR_FILE_SIZE_INVALID',
    0,
    'the announced file size is not a non-negative safe integer',
  ),
  FILE_OUT_OF_ORDER: entry(
    'FERRY_ERR_FILE_OUT_OF_ORDER',
    0,
    'a chunk starts past the next expected offset (a gap); resume from the reported offset',
  ),
  FILE_OVERLAP: entry(
    'FERRY_ERR_FILE_OVERLAP',
    0,
    'a chunk starts before the next expected offset (already written); resume from the reported offset',
  ),
  FILE_BEYOND_SIZE: entry(
    'FERRY_ERR_FILE_BEYOND_SIZE',
    0,
    'a chunk ends past the announced file size',
  ),
  FILE_CHUNK_TOO_LARGE: entry(
    'FERRY_ERR_FILE_CHUNK_TOO_LARGE',
    0,
    "a chunk is larger than the receiver's chunk limit",
  ),
  FILE_BAD_ACK: entry(
    'FERRY_ERR_FILE_BAD_ACK',
    0,
    'an acknowledged offset is not one the sender sent (behind the last ack, past what was sent, or not a chunk end)',
  ),
  FILE_WINDOW_FULL: entry(
    'FERRY_ERR_FILE_WINDOW_FULL',
    0,
    'the sender has its whole window of chunks unacknowledged, or nothing is left to send',
  ),
  FILE_INCOMPLETE: entry(
    'FERRY_ERR_FILE_INCOMPLETE',
    0,
    'the transfer was finished before all announced bytes were written',
  ),
  FILE_DIGEST_MISMATCH: entry(
    'FERRY_ERR_FILE_DIGEST_MISMATCH',
    0,
    "the received bytes' SHA-256 differs from the sender's digest; the file was discarded",
  ),
  FILE_DIGEST_INVALID: entry(
    'FERRY_ERR_FILE_DIGEST_INVALID',
    0,
    'a SHA-256 digest must be 64 lowercase hex characters',
  ),
  FILE_EXISTS: entry(
    'FERRY_ERR_FILE_EXISTS',
    0,
    'the destination file exists and overwriting was not allowed',
  ),
  FILE_CLOSED: entry(
    'FERRY_ERR_FILE_CLOSED',
    0,
    'the transfer was already finished, aborted or failed',
  ),
  SHELL_RECORDING_FAILED: entry(
    'FERRY_ERR_SHELL_RECORDING_FAILED',
    0,
    'the operator requires shell recording and the gateway could not start the recording files; the shell was not opened',
  ),
  FILE_UNKNOWN: entry(
    'FERRY_ERR_FILE_UNKNOWN',
    0,
    'no open transfer (or pending file request) has this file id in the session, or the sender is not its party',
  ),
  FILE_NOT_FOUND: entry(
    'FERRY_ERR_FILE_NOT_FOUND',
    0,
    'the file asked for does not exist, is not a regular file, or is outside what the customer client shares',
  ),
  // Session tools II: special actions, elevation, unattended access, after-session actions
  PERMISSION_DENIED: entry(
    'FERRY_ERR_PERMISSION_DENIED',
    0,
    "the technician's permissions (token claim perms, or the gateway's technicianDefaultPermissions) do not include this operation: sysinfo, reboot, scripts, elevate, jump_client, unattended, support_button, after_session_lock, after_session_logout",
  ),
  SCRIPT_NOT_FOUND: entry(
    'FERRY_ERR_SCRIPT_NOT_FOUND',
    0,
    "no canned script with this id is in the operator's library for the technician's teams",
  ),
  ELEVATION_UNSUPPORTED: entry(
    'FERRY_ERR_ELEVATION_UNSUPPORTED',
    0,
    "the elevation asked for is not offered: unknown kind, credentials from the technician (never relayed), or the customer's platform is not in elevationPlatforms",
  ),
  ELEVATION_REQUIRED: entry(
    'FERRY_ERR_ELEVATION_REQUIRED',
    0,
    'the operation needs an elevated customer client (a service-mode jump client, spec A1.3; a special task in the SYSTEM context, C4.5)',
  ),
  ELEVATION_FAILED: entry(
    'FERRY_ERR_ELEVATION_FAILED',
    0,
    'the customer client could not elevate: no elevation command configured, the command failed or timed out, or the relaunched process does not run with more privilege (its effective uid is not 0)',
  ),
  JUMP_CLIENT_AUTH_FAILED: entry(
    'FERRY_ERR_JUMP_CLIENT_AUTH_FAILED',
    CloseCodes.AUTH_FAILED,
    'no jump client registration matches this id and key',
  ),
  JUMP_CLIENT_REVOKED: entry(
    'FERRY_ERR_JUMP_CLIENT_REVOKED',
    CloseCodes.AUTH_FAILED,
    'the jump client was unpinned: its key was revoked at the gateway (told only to a holder of the right key, which should uninstall)',
  ),
  JUMP_CLIENT_NOT_FOUND: entry(
    'FERRY_ERR_JUMP_CLIENT_NOT_FOUND',
    0,
    'no active jump client registration has this id that the technician may reach (unknown, unpinned, or of another team)',
  ),
  JUMP_CLIENT_OFFLINE: entry(
    'FERRY_ERR_JUMP_CLIENT_OFFLINE',
    0,
    'the jump client is registered but not connected in unattended mode (or already in a session)',
  ),
  JUMP_CLIENT_ELSEWHERE: entry(
    'FERRY_ERR_JUMP_CLIENT_ELSEWHERE',
    0,
    'the jump client is connected to another gateway of the deployment, and the technician works sessions on this one (a redirect would take it away from them): finish them first, or connect to that gateway',
  ),
  SUPPORT_BUTTON_NOT_FOUND: entry(
    'FERRY_ERR_SUPPORT_BUTTON_NOT_FOUND',
    0,
    'no support button registration has this id',
  ),
  SUPPORT_BUTTON_INVALID: entry(
    'FERRY_ERR_SUPPORT_BUTTON_INVALID',
    CloseCodes.AUTH_FAILED,
    'a customer Hello names a support button the gateway has no registration for (removed, or never registered)',
  ),
  REGISTRY_INVALID_FIELD: entry(
    'FERRY_ERR_REGISTRY_INVALID_FIELD',
    0,
    'technician, team and device name must be non-empty strings of at most 256 characters',
  ),
  REGISTRY_FULL: entry(
    'FERRY_ERR_REGISTRY_FULL',
    0,
    'the registry holds its maximum number of jump clients or support buttons',
  ),
  ACTION_UNKNOWN: entry(
    'FERRY_ERR_ACTION_UNKNOWN',
    0,
    'the after-session action is not one of lock, logout, uninstall (uninstall only through CloseSession)',
  ),
  ACTION_NOT_CONFIGURED: entry(
    'FERRY_ERR_ACTION_NOT_CONFIGURED',
    0,
    'the operator configured no command for this after-session action (or elevation, or canned scripts) on the customer client',
  ),
  ACTION_ALREADY_RUN: entry(
    'FERRY_ERR_ACTION_ALREADY_RUN',
    0,
    'a different after-session action already ran for this session',
  ),
  ACTION_SPAWN_FAILED: entry(
    'FERRY_ERR_ACTION_SPAWN_FAILED',
    0,
    'the after-session command could not be started',
  ),
  SPECIAL_ACTION_UNKNOWN: entry(
    'FERRY_ERR_SPECIAL_ACTION_UNKNOWN',
    0,
    "the customer client did not advertise a special task with this id (spec C4.4: only the tasks of the customer's own configuration run)",
  ),
  SPECIAL_ACTION_CONTEXT: entry(
    'FERRY_ERR_SPECIAL_ACTION_CONTEXT',
    0,
    'the special task is not offered in this context (CURRENT_USER, SYSTEM or AS_USER, spec C4.5), or the context is unknown',
  ),
  // Session tools run on either side: recordings and the jump client registry file.
  RECORDING_STREAMED: entry(
    'FERRY_ERR_RECORDING_STREAMED',
    0,
    'a recording streamed to a file keeps no events in memory; read the file instead',
  ),
  RECORDING_CLOSED: entry('FERRY_ERR_RECORDING_CLOSED', 0, 'the recording was closed'),
  REGISTRY_CORRUPT: entry(
    'FERRY_ERR_REGISTRY_CORRUPT',
    0,
    'the registry file is not valid JSON of the expected shape; it was left untouched',
  ),
  // The native customer's own machine: screen capture, input injection, its resume file. Sent to
  // the technicians in ScreenShareStop.reason ("<code>: <message>"); the client goes on.
  SCREEN_UNAVAILABLE: entry(
    'FERRY_ERR_SCREEN_UNAVAILABLE',
    0,
    'the customer has no screen to share: no display ($DISPLAY unset or not reachable), or a program capture needs (ffmpeg, xrandr) is not installed; shell, files and system information still work',
  ),
  SCREEN_CAPTURE_FAILED: entry(
    'FERRY_ERR_SCREEN_CAPTURE_FAILED',
    0,
    'screen capture stopped: the display went away or the capture program (ffmpeg) failed; sharing stopped, the other tools go on',
  ),
  SCREEN_ENCODE_FAILED: entry(
    'FERRY_ERR_SCREEN_ENCODE_FAILED',
    0,
    'the tile encoder (JPEG/WebP) failed; sharing stopped, the other tools go on',
  ),
  INPUT_UNAVAILABLE: entry(
    'FERRY_ERR_INPUT_UNAVAILABLE',
    0,
    'the customer cannot inject input: no display, or xdotool is not installed; the events are dropped and counted',
  ),
  RESUME_STATE_INVALID: entry(
    'FERRY_ERR_RESUME_STATE_INVALID',
    0,
    'the resume file is corrupt or belongs to another gateway; it was removed and the client joins afresh with a PIN',
  ),
  // Admin HTTP API (the JSON body of a non-2xx answer); never sent on a WebSocket.
  UNAUTHORIZED: httpEntry(
    'FERRY_ERR_UNAUTHORIZED',
    401,
    'the admin API wants the admin token as "Authorization: Bearer <token>"',
  ),
  NOT_FOUND: httpEntry(
    'FERRY_ERR_NOT_FOUND',
    404,
    'no admin API route (or recording file) has this path',
  ),
  METHOD_NOT_ALLOWED: httpEntry(
    'FERRY_ERR_METHOD_NOT_ALLOWED',
    405,
    'the admin API route does not serve this method (reads: GET and HEAD; operator actions: POST or DELETE)',
  ),
  FORBIDDEN: httpEntry(
    'FERRY_ERR_FORBIDDEN',
    403,
    'the bearer token is a valid technician token, but the admin API wants the admin (operator) token',
  ),
  BAD_REQUEST: httpEntry(
    'FERRY_ERR_BAD_REQUEST',
    400,
    'a query parameter or body field of the admin API is missing, malformed or out of range (limit, date, cursor, format, reason)',
  ),
  PARTICIPANT_NOT_FOUND: httpEntry(
    'FERRY_ERR_PARTICIPANT_NOT_FOUND',
    404,
    'the live session has no participant with this participant id',
  ),
  PIN_NOT_FOUND: httpEntry(
    'FERRY_ERR_PIN_NOT_FOUND',
    404,
    'no live session holds this PIN open (wrong, already used, expired or revoked)',
  ),
  STATE_CONFLICT: httpEntry(
    'FERRY_ERR_STATE_CONFLICT',
    409,
    'the operator action does not fit the current state: the session already ended, its PIN was already used, the participant is its owner or customer, or the gateway is already draining',
  ),
  REPORT_NOT_READY: httpEntry(
    'FERRY_ERR_REPORT_NOT_READY',
    404,
    'the session is still live; its report exists once it ends',
  ),
  // Raised by the reference clients themselves; the gateway never sends them.
  CLOSED: entry(
    'FERRY_ERR_CLOSED',
    0,
    'the connection is closed (or was never open), so the request could not be sent or answered',
  ),
  TIMEOUT: entry('FERRY_ERR_TIMEOUT', 0, 'no reply from the gateway within the request timeout'),
  PROTOCOL: entry(
    'FERRY_ERR_PROTOCOL',
    0,
    'the gateway answered with something the client did not expect (no Welcome, a reply without its body)',
  ),
  RESUME_GAVE_UP: entry(
    'FERRY_ERR_RESUME_GAVE_UP',
    0,
    'the client lost its connection and every resume attempt failed; it stopped trying',
  ),
  // Raised at start-up, before any connection.
  CONFIG: entry('FERRY_ERR_CONFIG', 0, 'the configuration (file, environment or flags) is invalid'),
  UWS_UNAVAILABLE: entry(
    'FERRY_ERR_UWS_UNAVAILABLE',
    0,
    'uWebSockets.js could not be loaded on this platform',
  ),
} as const satisfies Record<string, CodeEntry>;

export type CodeName = keyof typeof Codes;
export type ErrorCode = (typeof Codes)[CodeName]['code'];

/** A coded refusal: what a session operation returns instead of throwing on client input. */
export interface Refusal {
  readonly ok: false;
  readonly entry: CodeEntry;
  readonly message: string;
}

export const refuse = (entry: CodeEntry, message: string): Refusal => ({
  ok: false,
  entry,
  message,
});

export const isRefusal = (x: unknown): x is Refusal =>
  typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === false;
