/**
 * The customer-side executor of after-session actions (spec session-tools.md F2 lock / log off,
 * A5.2 uninstall the customer client): each action runs the command the operator configured for
 * it, never a command that came over the wire.
 *
 * Invariants:
 * - At most one action runs per session id: a repeated `run` of the same action gets the first
 *   run's result (the gateway sends the action as soon as it is set and again at the close), a
 *   different action is refused with ACTION_ALREADY_RUN. A refused call (unknown or unconfigured
 *   action) does not count.
 * - A command string runs through the platform shell (`/bin/sh -c`, `cmd.exe /c`); an argv array
 *   runs without one. The command sees FERRY_SESSION_ID and FERRY_AFTER_SESSION_ACTION.
 * - A command past `timeoutMs` gets SIGTERM (its process group on POSIX), then SIGKILL after
 *   `killGraceMs`; the result says `timedOut`. Captured stdout/stderr are bounded.
 * - The memory of sessions already handled is bounded (`maxSessions`, oldest forgotten first).
 */
import { ToolError } from './errors.js';
import { type ActionCommand, runCommand } from './run-command.js';

export const AfterSessionActions = ['lock', 'logout', 'uninstall'] as const;
export type AfterSessionAction = (typeof AfterSessionActions)[number];
export type { ActionCommand };

export const DEFAULT_ACTION_TIMEOUT_MS = 30_000;
export const DEFAULT_ACTION_KILL_GRACE_MS = 2000;
export const DEFAULT_ACTION_MAX_OUTPUT_BYTES = 64 * 1024;
export const DEFAULT_ACTION_MAX_SESSIONS = 1000;

export interface AfterSessionOptions {
  /** The operator's command per action; an action without one is refused. */
  readonly commands: Readonly<Partial<Record<AfterSessionAction, ActionCommand>>>;
  readonly timeoutMs?: number;
  readonly killGraceMs?: number;
  /** Bound of captured stdout and of stderr, each. */
  readonly maxOutputBytes?: number;
  readonly maxSessions?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ActionResult {
  readonly sessionId: string;
  readonly action: AfterSessionAction;
  /** null when ended by a signal (see `signal`). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly outputTruncated: boolean;
  readonly durationMs: number;
}

function isAction(a: string): a is AfterSessionAction {
  return (AfterSessionActions as readonly string[]).includes(a);
}

export class AfterSessionExecutor {
  readonly timeoutMs: number;
  readonly killGraceMs: number;
  readonly maxOutputBytes: number;
  readonly maxSessions: number;
  readonly #opts: AfterSessionOptions;
  readonly #runs = new Map<string, { action: AfterSessionAction; result: Promise<ActionResult> }>();

  constructor(opts: AfterSessionOptions) {
    this.#opts = opts;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_ACTION_TIMEOUT_MS;
    this.killGraceMs = opts.killGraceMs ?? DEFAULT_ACTION_KILL_GRACE_MS;
    this.maxOutputBytes = opts.maxOutputBytes ?? DEFAULT_ACTION_MAX_OUTPUT_BYTES;
    this.maxSessions = opts.maxSessions ?? DEFAULT_ACTION_MAX_SESSIONS;
  }

  /** The action already run (or running) for this session, if any. */
  ranFor(sessionId: string): AfterSessionAction | undefined {
    return this.#runs.get(sessionId)?.action;
  }

  /**
   * Runs `action` for `sessionId` once. Throws (rejects) ACTION_UNKNOWN, ACTION_NOT_CONFIGURED,
   * ACTION_ALREADY_RUN (another action ran for this session) or ACTION_SPAWN_FAILED. A non-zero
   * exit or a timeout is a result, not an error.
   */
  run(sessionId: string, action: string): Promise<ActionResult> {
    if (!isAction(action)) return Promise.reject(new ToolError('ACTION_UNKNOWN', action));
    const command = this.#opts.commands[action];
    if (command === undefined || command.length === 0) {
      return Promise.reject(new ToolError('ACTION_NOT_CONFIGURED', action));
    }
    const previous = this.#runs.get(sessionId);
    if (previous !== undefined) {
      if (previous.action === action) return previous.result;
      return Promise.reject(
        new ToolError('ACTION_ALREADY_RUN', `${previous.action} ran for session ${sessionId}`),
      );
    }
    const result = this.#execute(sessionId, action, command);
    this.#runs.set(sessionId, { action, result });
    if (this.#runs.size > this.maxSessions) {
      const oldest = this.#runs.keys().next().value;
      if (oldest !== undefined) this.#runs.delete(oldest);
    }
    return result;
  }

  async #execute(
    sessionId: string,
    action: AfterSessionAction,
    command: ActionCommand,
  ): Promise<ActionResult> {
    const env = {
      ...(this.#opts.env ?? process.env),
      FERRY_SESSION_ID: sessionId,
      FERRY_AFTER_SESSION_ACTION: action,
    };
    try {
      const run = await runCommand(command, {
        env,
        ...(this.#opts.cwd === undefined ? {} : { cwd: this.#opts.cwd }),
        timeoutMs: this.timeoutMs,
        killGraceMs: this.killGraceMs,
        maxOutputBytes: this.maxOutputBytes,
      });
      return {
        sessionId,
        action,
        code: run.code,
        signal: run.signal,
        stdout: run.stdout,
        stderr: run.stderr,
        timedOut: run.timedOut,
        outputTruncated: run.truncated,
        durationMs: run.durationMs,
      };
    } catch (e) {
      throw new ToolError('ACTION_SPAWN_FAILED', `${action}: ${(e as Error).message}`);
    }
  }
}
