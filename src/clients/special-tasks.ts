/**
 * The customer side of OS-specific special tasks (docs/spec/session-tools.md C4.4, C4.5), for the
 * reference customer client. The operator configures named tasks with their commands (a JSON
 * file: `ferry customer --special-tasks tasks.json`); the client advertises, in its Hello, the
 * ones meant for its platform (ids, names, contexts: never a command) and runs a task when the
 * gateway relays a technician's SpecialAction for its id. The wire never carries a command.
 *
 * Contexts:
 * - CURRENT_USER: the task's command, as the user this client runs as;
 * - SYSTEM: only when this client is elevated; through the operator's `systemCommand` prefix
 *   (e.g. `psexec -s -accepteula` on Windows), or directly when none is set (the elevated client
 *   already has the rights);
 * - AS_USER: through the operator's `runAsCommand` prefix (e.g. `sudo -k -u admin --`, or a
 *   `runas` wrapper): its own prompt asks, at this machine, for the account and its password.
 *   Nothing typed there reaches this client's connection, so the gateway can neither store nor
 *   log it. Without a run-as command the context is not offered.
 */
import { Codes } from '../protocol/codes.js';
import { ferry } from '../protocol/gen/ferry.js';
import type { ActionCommand } from '../tools/after-session.js';
import type { CustomerClient } from './customer.js';
import { runLocal } from './run-local.js';

const C = ferry.v1.SpecialActionContext;

export type SpecialTaskContextName = 'current_user' | 'system' | 'as_user';

const CONTEXTS: Record<SpecialTaskContextName, ferry.v1.SpecialActionContext> = {
  current_user: C.SPECIAL_ACTION_CONTEXT_CURRENT_USER,
  system: C.SPECIAL_ACTION_CONTEXT_SYSTEM,
  as_user: C.SPECIAL_ACTION_CONTEXT_AS_USER,
};

/** One task of the operator's configuration. */
export interface SpecialTaskConfig {
  readonly id: string;
  readonly name?: string;
  readonly description?: string;
  /** A string runs through the platform shell; an argv array without one. */
  readonly command: ActionCommand;
  /** The platforms (process.platform values) it is offered on; none: every platform. */
  readonly platforms?: readonly string[];
  /** Where it may run; default ['current_user']. */
  readonly contexts?: readonly SpecialTaskContextName[];
}

export interface SpecialTaskOptions {
  readonly tasks: readonly SpecialTaskConfig[];
  /** Prefix that runs a command as another account after a local prompt (AS_USER). */
  readonly runAsCommand?: ActionCommand;
  /** Prefix that runs a command as the System account (SYSTEM); none: run it directly. */
  readonly systemCommand?: ActionCommand;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
  /** Default: process.platform. */
  readonly platform?: string;
}

/** Told of each task run (or refusal) once its result went back. */
export type TaskListener = (
  request: ferry.v1.SpecialAction,
  result: ferry.v1.SpecialActionResult.$Properties,
) => void;

export const DEFAULT_TASK_TIMEOUT_MS = 120_000;
export const DEFAULT_TASK_MAX_OUTPUT_BYTES = 128 * 1024;

/** Reads the operator's task file: `{"tasks": [...]}` or a bare array; throws on a bad entry. */
export function parseSpecialTasks(text: string): SpecialTaskConfig[] {
  const data = JSON.parse(text) as unknown;
  const list = Array.isArray(data) ? data : (data as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(list)) throw new TypeError('special tasks: expected {"tasks": [...]}');
  return list.map((raw, i) => {
    const t = raw as Partial<SpecialTaskConfig> | null;
    const okCommand =
      typeof t?.command === 'string' ||
      (Array.isArray(t?.command) && t.command.every((w) => typeof w === 'string'));
    if (typeof t?.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(t.id) || !okCommand) {
      throw new TypeError(
        `special tasks: entry ${i} needs an id (letters, digits, ._-) and a command`,
      );
    }
    for (const c of t.contexts ?? []) {
      if (!Object.hasOwn(CONTEXTS, c)) {
        throw new TypeError(`special tasks: ${t.id}: unknown context "${c}"`);
      }
    }
    return t as SpecialTaskConfig;
  });
}

/** A command as argv: a string through the platform shell. */
function argvOf(command: ActionCommand, platform: string): string[] {
  if (typeof command !== 'string') return [...command];
  return platform === 'win32' ? ['cmd.exe', '/d', '/s', '/c', command] : ['/bin/sh', '-c', command];
}

/** A prefix given as one string is split on spaces (no quoting). */
function prefixOf(command: ActionCommand): string[] {
  return typeof command === 'string' ? command.split(/\s+/).filter((w) => w !== '') : [...command];
}

export class CustomerSpecialTasks {
  readonly client: CustomerClient;
  readonly #options: SpecialTaskOptions;
  readonly #isElevated: () => boolean;
  readonly #onRun: TaskListener | undefined;
  /** The tasks offered on this platform, by id. */
  readonly #tasks = new Map<string, SpecialTaskConfig>();
  runs = 0;

  /** Advertises the tasks in the client's Hello: construct before `connect()`. */
  constructor(
    client: CustomerClient,
    options: SpecialTaskOptions,
    isElevated: () => boolean,
    onRun?: TaskListener,
  ) {
    this.client = client;
    this.#options = options;
    this.#isElevated = isElevated;
    this.#onRun = onRun;
    const platform = options.platform ?? process.platform;
    for (const t of options.tasks) {
      if (t.platforms === undefined || t.platforms.length === 0 || t.platforms.includes(platform))
        this.#tasks.set(t.id, t);
    }
    client.specialTasks = [...this.#tasks.values()].map((t) => ({
      id: t.id,
      name: t.name ?? t.id,
      description: t.description ?? '',
      contexts: this.#contexts(t).map((c) => CONTEXTS[c]),
    }));
    client.on('control', (control) => {
      if (control.specialAction) void this.#run(control.specialAction as ferry.v1.SpecialAction);
    });
  }

  #contexts(t: SpecialTaskConfig): SpecialTaskContextName[] {
    const wanted =
      t.contexts === undefined || t.contexts.length === 0 ? ['current_user' as const] : t.contexts;
    // AS_USER needs the operator's run-as command: without one it is not offered
    return wanted.filter((c) => c !== 'as_user' || this.#options.runAsCommand !== undefined);
  }

  /** The argv to run, or the reason it does not run here. */
  #command(
    task: SpecialTaskConfig,
    context: ferry.v1.SpecialActionContext,
    platform: string,
  ): string[] | string {
    const name = (Object.keys(CONTEXTS) as SpecialTaskContextName[]).find(
      (k) => CONTEXTS[k] === context,
    );
    if (name === undefined || !this.#contexts(task).includes(name)) {
      return `FERRY_ERR_SPECIAL_ACTION_CONTEXT: ${task.id} is not offered in this context`;
    }
    const argv = argvOf(task.command, platform);
    if (name === 'system') {
      if (!this.#isElevated()) {
        return `${Codes.ELEVATION_REQUIRED.code}: this client is not elevated`;
      }
      const prefix = this.#options.systemCommand;
      return prefix === undefined ? argv : [...prefixOf(prefix), ...argv];
    }
    if (name === 'as_user') return [...prefixOf(this.#options.runAsCommand!), ...argv];
    return argv;
  }

  async #run(request: ferry.v1.SpecialAction): Promise<void> {
    const base = { ticket: request.ticket, actionId: request.actionId, context: request.context };
    const context = request.context || C.SPECIAL_ACTION_CONTEXT_CURRENT_USER;
    const task = this.#tasks.get(request.actionId);
    const platform = this.#options.platform ?? process.platform;
    const argv =
      task === undefined
        ? `FERRY_ERR_SPECIAL_ACTION_UNKNOWN: no task ${request.actionId} here`
        : this.#command(task, context, platform);
    let result: ferry.v1.SpecialActionResult.$Properties;
    if (typeof argv === 'string') {
      result = { ...base, exitCode: -1, error: argv };
    } else {
      this.runs++;
      try {
        const run = await runLocal(argv, {
          timeoutMs: this.#options.timeoutMs ?? DEFAULT_TASK_TIMEOUT_MS,
          maxOutputBytes: this.#options.maxOutputBytes ?? DEFAULT_TASK_MAX_OUTPUT_BYTES,
          env: {
            ...process.env,
            FERRY_SESSION_ID: this.client.welcome?.sessionId ?? '',
            FERRY_TASK_ID: request.actionId,
            FERRY_TASK_CONTEXT:
              context === C.SPECIAL_ACTION_CONTEXT_SYSTEM
                ? 'system'
                : context === C.SPECIAL_ACTION_CONTEXT_AS_USER
                  ? 'as_user'
                  : 'current_user',
            FERRY_REQUESTED_BY: request.requestedBy,
          },
        });
        result = {
          ...base,
          exitCode: run.code ?? -1,
          output: run.output,
          timedOut: run.timedOut,
          outputTruncated: run.truncated,
        };
      } catch (err) {
        result = {
          ...base,
          exitCode: -1,
          error: `FERRY_ERR_ACTION_SPAWN_FAILED: ${(err as Error).message}`,
        };
      }
    }
    this.client.notify({ specialActionResult: result });
    this.#onRun?.(request, result);
  }
}
