/**
 * How the customer client runs an operator's command on its own machine (canned scripts,
 * special tasks, after-session actions, elevation): through `runCommand`, with the result in
 * the shape the client reports back.
 */
import type { ActionCommand } from '../tools/after-session.js';
import { runCommand } from '../tools/run-command.js';

export interface LocalRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stdout and stderr as they arrived, bounded. */
  readonly output: string;
  readonly timedOut: boolean;
  readonly truncated: boolean;
}

/**
 * Runs a command on this machine: a string through the platform shell, an argv array without
 * one; stdout and stderr joined in arrival order and bounded; SIGKILL past `timeoutMs` (its
 * process group on POSIX). Rejects only when it cannot start.
 */
export async function runLocal(
  command: ActionCommand,
  options: { env?: NodeJS.ProcessEnv; timeoutMs: number; maxOutputBytes: number; cwd?: string },
): Promise<LocalRun> {
  const run = await runCommand(command, options);
  return {
    code: run.code,
    signal: run.signal,
    output: run.output,
    timedOut: run.timedOut,
    truncated: run.outputTruncated,
  };
}
