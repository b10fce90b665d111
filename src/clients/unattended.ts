/**
 * The customer side of session tools II (docs/spec/session-tools.md A1, A3, A4, A5.2, C4.4-C4.6, F2),
 * for the reference customer client:
 * - `CustomerTools` attaches to any `CustomerClient`: runs the canned scripts the gateway sends
 *   (their body comes from the operator's library at the gateway) and answers with the output;
 *   elevates through the operator's command, credentials typed into the local OS prompt only:
 *   with `relaunch` the command starts this client again (`--resume`), and the relaunched
 *   process takes over the session and reports the identity it really runs as; without it the
 *   command runs and this process's own effective uid decides. Elevated means effective uid 0,
 *   never just "the command exited 0" (src/clients/elevation.ts);
 *   keeps the jump client key and support button id it is given (files of mode 0600); and runs
 *   the after-session action and the uninstall command once, when its session closes.
 * - `UnattendedCustomer` is the customer client in unattended mode: it says Hello with a jump
 *   client id and key (no PIN, nobody at the keyboard), waits for a technician to start a
 *   session, and after each session connects again, until it is unpinned. With a support button
 *   id instead it starts one new session in the button's team queue.
 *
 * Commands come from this client's own configuration, never from the wire: the wire names an
 * action, a ticket, or (for canned scripts) carries the operator's script body, which runs only
 * because the customer granted the command shell.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Codes, isSessionEndClose } from '../protocol/codes.js';
import { ferry } from '../protocol/gen/ferry.js';
import {
  type ActionCommand,
  type ActionResult,
  AfterSessionExecutor,
  type AfterSessionOptions,
} from '../tools/after-session.js';
import { writeFileAtomic } from '../tools/jump-clients.js';
import { FerryError } from './client.js';
import { CustomerClient, type CustomerOptions } from './customer.js';
import {
  commandWords,
  isPrivileged,
  NOT_ELEVATED_EXIT,
  notElevatedMessage,
  processIdentity,
} from './elevation.js';
import { runLocal } from './run-local.js';
import { CustomerSpecialTasks, type SpecialTaskOptions } from './special-tasks.js';
import { SYSINFO_CATEGORIES } from './sysinfo.js';

const Kind = ferry.v1.AfterSessionActionKind;
const S = ferry.v1.SessionStatus;
/** Statuses in which the customer's part of the session is over: the after-session action runs. */
const ENDED: ReadonlySet<number> = new Set([
  S.SESSION_STATUS_CLOSED,
  S.SESSION_STATUS_CLOSED_BY_TECHNICIAN,
  S.SESSION_STATUS_CLOSED_BY_WAITING_CUSTOMER,
  S.SESSION_STATUS_TIMED_OUT,
  S.SESSION_STATUS_ABORTED,
]);
export const DEFAULT_SCRIPT_TIMEOUT_MS = 60_000;
export const DEFAULT_SCRIPT_MAX_OUTPUT_BYTES = 128 * 1024;
export const DEFAULT_ELEVATE_TIMEOUT_MS = 120_000;
export const JUMP_CLIENT_FILE = 'jump-client.json';
export const SUPPORT_BUTTON_FILE = 'support-button.json';

export interface CustomerToolsOptions {
  /** Where the jump client key and support button id are kept (files, mode 0600); none: memory. */
  readonly stateDir?: string;
  /** Canned scripts: false refuses them; otherwise the shell, timeout and output bound. */
  readonly scripts?:
    | false
    | { readonly shell?: string; readonly timeoutMs?: number; readonly maxOutputBytes?: number };
  /**
   * The operator's elevation command (for example `pkexec` or `sudo -n`), the OS asking the
   * customer for credentials locally. With `relaunch` it is a prefix: the relaunch argv is
   * appended, and the relaunched process must take over the session. Without, it runs on its
   * own (it sees FERRY_URL, FERRY_SESSION_ID, FERRY_RESUME_TOKEN and FERRY_ELEVATION_KIND) and
   * this process must run as uid 0 afterwards. None: elevation is refused
   * (FERRY_ERR_ELEVATION_FAILED).
   */
  readonly elevateCommand?: ActionCommand;
  readonly elevateTimeoutMs?: number;
  /**
   * The argv that starts this client again with `--resume`, answering the ElevateRequest of
   * `ticket` (src/clients/elevation.ts relaunchArgv). Given: admin elevation relaunches.
   */
  readonly relaunch?: (ticket: number, kind: 'admin' | 'full_client') => readonly string[];
  /**
   * The operator's OS-specific special tasks (special-tasks.ts): advertised in the Hello, so
   * construct CustomerTools before `connect()`.
   */
  readonly specialTasks?: SpecialTaskOptions;
  /** The operator's lock / logout / uninstall commands (after-session.ts). */
  readonly afterSession?: Omit<AfterSessionOptions, 'commands'> & {
    readonly commands: AfterSessionOptions['commands'];
  };
}

export interface JumpClientCredentials {
  readonly jumpClientId: string;
  readonly key: string;
  readonly team: string;
  readonly deviceName: string;
}

export interface CustomerToolsEvents {
  /** A canned script ran (or was refused) and its result went back. */
  script: [request: ferry.v1.RunCannedScript, result: ferry.v1.CannedScriptResult.$Properties];
  elevated: [result: ferry.v1.ElevateResult.$Properties];
  /** An elevated relaunch took over the session: this process is done (it reports nothing). */
  handedOver: [ticket: number];
  jumpClient: [credentials: JumpClientCredentials];
  supportButton: [button: ferry.v1.SupportButtonRegistered];
  /** The after-session action (lock/logout) or the uninstall ran. */
  afterSession: [result: ActionResult];
  /** A configured action failed to run (not configured, spawn failed). */
  actionError: [action: string, err: Error];
  /** A special task ran (or was refused) and its result went back (C4.4). */
  specialTask: [request: ferry.v1.SpecialAction, result: ferry.v1.SpecialActionResult.$Properties];
  /** The gateway unpinned this jump client; `result` is the uninstall, if one is configured. */
  unpinned: [jumpClientId: string, result: ActionResult | null];
}

const ACTIONS: Record<number, 'lock' | 'logout' | 'uninstall'> = {
  [Kind.AFTER_SESSION_ACTION_KIND_LOCK]: 'lock',
  [Kind.AFTER_SESSION_ACTION_KIND_LOGOUT]: 'logout',
  [Kind.AFTER_SESSION_ACTION_KIND_UNINSTALL]: 'uninstall',
};

export class CustomerTools extends EventEmitter<CustomerToolsEvents> {
  readonly client: CustomerClient;
  /** This client runs with administrative rights (after an elevation). */
  elevated = false;
  jumpClient: JumpClientCredentials | null = null;
  supportButton: ferry.v1.SupportButtonRegistered | null = null;
  scriptsRun = 0;
  /** The relaunch argv for an admin elevation (the `relaunch` option; the CLI sets it later). */
  relaunch: CustomerToolsOptions['relaunch'];
  /** The special tasks this client offers and runs, if configured. */
  readonly tasks: CustomerSpecialTasks | null;
  readonly #options: CustomerToolsOptions;
  /** The after-session action (lock/logout) set per session. */
  readonly #armed = new Map<string, 'lock' | 'logout'>();
  readonly #uninstall = new Set<string>();
  readonly #finished = new Set<string>();
  readonly #after: AfterSessionExecutor;
  readonly #remover: AfterSessionExecutor;

  constructor(client: CustomerClient, options: CustomerToolsOptions = {}) {
    super();
    this.client = client;
    this.#options = options;
    this.relaunch = options.relaunch;
    const { commands = {}, ...rest } = options.afterSession ?? { commands: {} };
    // two executors: lock/logout and the uninstall each run once per session, both may run
    this.#after = new AfterSessionExecutor({
      ...rest,
      commands: { lock: commands.lock, logout: commands.logout },
    } as AfterSessionOptions);
    this.#remover = new AfterSessionExecutor({
      ...rest,
      commands: { uninstall: commands.uninstall },
    } as AfterSessionOptions);
    // an unattended client that says Hello as elevated (A1.3) may run SYSTEM tasks too
    const elevatedHello = (client.options as { elevated?: boolean }).elevated === true;
    this.tasks =
      options.specialTasks === undefined
        ? null
        : new CustomerSpecialTasks(
            client,
            options.specialTasks,
            () => this.elevated || (elevatedHello && isPrivileged()),
            (request, result) => this.emit('specialTask', request, result),
          );
    client.on('control', (control) => this.#onControl(control as ferry.v1.Control));
    client.on('status', (s) => {
      if (ENDED.has(s.status)) this.#finish(s.sessionId);
    });
    client.on('close', (code) => {
      const id = client.welcome?.sessionId ?? '';
      if (isSessionEndClose(code) && id !== '') this.#finish(id);
    });
  }

  /** Loads a jump client key kept in `stateDir` by an earlier pin (null: none). */
  static async loadJumpClient(stateDir: string): Promise<JumpClientCredentials | null> {
    try {
      return JSON.parse(
        await fs.readFile(path.join(stateDir, JUMP_CLIENT_FILE), 'utf8'),
      ) as JumpClientCredentials;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  #onControl(control: ferry.v1.Control): void {
    if (control.runCannedScript)
      void this.#runScript(control.runCannedScript as ferry.v1.RunCannedScript);
    if (control.elevateRequest)
      void this.#elevate(control.elevateRequest as ferry.v1.ElevateRequest);
    if (control.jumpClientKey) void this.#keep(control.jumpClientKey as ferry.v1.JumpClientKey);
    if (control.supportButtonRegistered) {
      void this.#keepButton(control.supportButtonRegistered as ferry.v1.SupportButtonRegistered);
    }
    if (control.supportButtonRemove) void this.#forget(SUPPORT_BUTTON_FILE);
    if (control.setAfterSessionAction)
      this.#arm(control.setAfterSessionAction as ferry.v1.SetAfterSessionAction);
    if (control.jumpClientUninstall) {
      void this.#unpinned(control.jumpClientUninstall.jumpClientId ?? '');
    }
  }

  async #runScript(request: ferry.v1.RunCannedScript): Promise<void> {
    const opts = this.#options.scripts;
    let result: ferry.v1.CannedScriptResult.$Properties;
    if (opts === false) {
      result = {
        ticket: request.ticket,
        scriptId: request.scriptId,
        exitCode: -1,
        error: 'this client runs no scripts',
      };
    } else {
      this.scriptsRun++;
      const posix = process.platform !== 'win32';
      const shell = opts?.shell ?? (posix ? '/bin/sh' : 'cmd.exe');
      const argv = posix ? [shell, '-c', request.body] : [shell, '/d', '/s', '/c', request.body];
      try {
        const run = await runLocal(argv, {
          timeoutMs: opts?.timeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS,
          maxOutputBytes: opts?.maxOutputBytes ?? DEFAULT_SCRIPT_MAX_OUTPUT_BYTES,
          env: {
            ...process.env,
            FERRY_SCRIPT_ID: request.scriptId,
            FERRY_REQUESTED_BY: request.requestedBy,
          },
        });
        result = {
          ticket: request.ticket,
          scriptId: request.scriptId,
          exitCode: run.code ?? -1,
          output: run.output,
          timedOut: run.timedOut,
          outputTruncated: run.truncated,
        };
      } catch (err) {
        result = {
          ticket: request.ticket,
          scriptId: request.scriptId,
          exitCode: -1,
          error: (err as Error).message,
        };
      }
    }
    this.client.notify({ cannedScriptResult: result });
    this.emit('script', request, result);
  }

  async #elevate(request: ferry.v1.ElevateRequest): Promise<void> {
    const command = this.#options.elevateCommand;
    const admin = request.kind === ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN;
    const kindName = admin ? 'admin' : 'full_client';
    let result: ferry.v1.ElevateResult.$Properties | null;
    const failed = (message: string): ferry.v1.ElevateResult.$Properties => ({
      ticket: request.ticket,
      kind: request.kind,
      elevated: false,
      error: `${Codes.ELEVATION_FAILED.code}: ${message}`,
      ...this.#identity(),
    });
    if (command === undefined || commandWords(command).length === 0) {
      result = failed('no elevation command is configured on the customer client');
    } else if (admin && this.relaunch !== undefined) {
      result = await this.#relaunch(request, commandWords(command), this.relaunch, failed);
      if (result === null) {
        this.emit('handedOver', request.ticket);
        return;
      }
    } else {
      try {
        // credentials go to the OS prompt the command opens here; nothing of them is sent
        const run = await runLocal(command, {
          timeoutMs: this.#options.elevateTimeoutMs ?? DEFAULT_ELEVATE_TIMEOUT_MS,
          maxOutputBytes: 4096,
          env: {
            ...process.env,
            FERRY_URL: this.client.url,
            FERRY_SESSION_ID: this.client.welcome?.sessionId ?? '',
            FERRY_RESUME_TOKEN: this.client.resumeToken,
            FERRY_ELEVATION_KIND: kindName,
          },
        });
        const identity = processIdentity();
        if (run.timedOut) result = failed('the elevation prompt timed out');
        else if (run.code !== 0) result = failed(`elevation refused (exit code ${run.code})`);
        else if (admin && !isPrivileged(identity)) {
          // the command "succeeded", but this process, which runs the elevated tasks, did not gain
          result = failed(
            `the elevation command exited 0 but this client still runs as ${identity.user} (effective uid ${identity.uid}); configure a command that relaunches it`,
          );
        } else {
          if (admin) this.elevated = true;
          result = {
            ticket: request.ticket,
            kind: request.kind,
            elevated: true,
            error: '',
            ...this.#identity(),
          };
        }
      } catch (err) {
        result = failed(`the elevation command did not start: ${(err as Error).message}`);
      }
    }
    this.client.notify({ elevateResult: result });
    this.emit('elevated', result);
  }

  /** The identity fields of an ElevateResult: what this process runs as. */
  #identity(): { effectiveUid: number; user: string } {
    const identity = processIdentity();
    return { effectiveUid: Math.max(0, identity.uid), user: identity.user };
  }

  /**
   * Starts this client again through the elevation command. Resolves null once the relaunched
   * process took the session over (this connection is replaced: it reports the result itself),
   * or with the failure when the command ends first or times out.
   */
  #relaunch(
    request: ferry.v1.ElevateRequest,
    prefix: string[],
    relaunch: NonNullable<CustomerToolsOptions['relaunch']>,
    failed: (message: string) => ferry.v1.ElevateResult.$Properties,
  ): Promise<ferry.v1.ElevateResult.$Properties | null> {
    const kindName =
      request.kind === ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN ? 'admin' : 'full_client';
    const argv = [...prefix, ...relaunch(request.ticket, kindName)];
    return new Promise((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        detached: process.platform !== 'win32',
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      let settled = false;
      const finish = (value: ferry.v1.ElevateResult.$Properties | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.client.off('close', onClose);
        resolve(value);
      };
      const onClose = (_code: number, reason: string) => {
        if (reason !== Codes.RESUMED_ELSEWHERE.code) return;
        // the relaunched process holds the session now; it lives on without this one
        child.unref();
        finish(null);
      };
      const timer = setTimeout(() => {
        if (child.pid !== undefined && process.platform !== 'win32') {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch (err) {
            this.emit('actionError', 'elevate', err as Error);
          }
        }
        finish(failed('the elevation prompt timed out'));
      }, this.#options.elevateTimeoutMs ?? DEFAULT_ELEVATE_TIMEOUT_MS);
      timer.unref();
      this.client.on('close', onClose);
      child.once('error', (err) =>
        finish(failed(`the elevation command did not start: ${err.message}`)),
      );
      child.once('exit', (code, signal) => {
        finish(
          failed(
            code === NOT_ELEVATED_EXIT
              ? `the relaunched client does not run with administrative rights (its effective uid is not 0): ${prefix[0]} did not grant them`
              : `the elevation command failed (${signal !== null ? `signal ${signal}` : `exit code ${code}`}); the session stays with the unelevated client`,
          ),
        );
      });
    });
  }

  /**
   * In the relaunched process, after it took the session over: checks what it really runs as
   * and answers the ElevateRequest of `ticket` with it. False (and a refusal) without uid 0.
   */
  confirmElevation(ticket: number, kind: 'admin' | 'full_client'): boolean {
    const identity = processIdentity();
    const ok = kind === 'full_client' || isPrivileged(identity);
    if (ok && kind === 'admin') this.elevated = true;
    const result: ferry.v1.ElevateResult.$Properties = {
      ticket,
      kind:
        kind === 'admin'
          ? ferry.v1.ElevationKind.ELEVATION_KIND_ADMIN
          : ferry.v1.ElevationKind.ELEVATION_KIND_FULL_CLIENT,
      elevated: ok,
      error: ok ? '' : `${Codes.ELEVATION_FAILED.code}: ${notElevatedMessage(identity)}`,
      effectiveUid: Math.max(0, identity.uid),
      user: identity.user,
    };
    this.client.notify({ elevateResult: result });
    this.emit('elevated', result);
    return ok;
  }

  async #keep(key: ferry.v1.JumpClientKey): Promise<void> {
    const credentials: JumpClientCredentials = {
      jumpClientId: key.jumpClientId,
      key: key.key,
      team: key.team,
      deviceName: key.deviceName,
    };
    this.jumpClient = credentials;
    await this.#save(JUMP_CLIENT_FILE, credentials);
    this.emit('jumpClient', credentials);
  }

  async #keepButton(button: ferry.v1.SupportButtonRegistered): Promise<void> {
    this.supportButton = button;
    await this.#save(SUPPORT_BUTTON_FILE, {
      supportButtonId: button.supportButtonId,
      team: button.team,
      deviceName: button.deviceName,
    });
    this.emit('supportButton', button);
  }

  async #save(file: string, data: unknown): Promise<void> {
    const dir = this.#options.stateDir;
    if (dir === undefined) return;
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(dir, file), `${JSON.stringify(data)}\n`, 0o600);
  }

  async #forget(file: string): Promise<void> {
    if (file === SUPPORT_BUTTON_FILE) this.supportButton = null;
    if (file === JUMP_CLIENT_FILE) this.jumpClient = null;
    const dir = this.#options.stateDir;
    if (dir !== undefined) await fs.rm(path.join(dir, file), { force: true });
  }

  /** F2: the action is known as soon as it is set; it runs when the session closes. */
  #arm(op: ferry.v1.SetAfterSessionAction): void {
    const id = op.sessionId;
    if (op.action === Kind.AFTER_SESSION_ACTION_KIND_UNINSTALL) this.#uninstall.add(id);
    else if (op.action === Kind.AFTER_SESSION_ACTION_KIND_NONE) this.#armed.delete(id);
    else {
      const action = ACTIONS[op.action];
      if (action === 'lock' || action === 'logout') this.#armed.set(id, action);
    }
  }

  /** The session is over for this client: its after-session action, then the uninstall, once. */
  #finish(sessionId: string): void {
    if (sessionId === '' || this.#finished.has(sessionId)) return;
    this.#finished.add(sessionId);
    const action = this.#armed.get(sessionId);
    const uninstall = this.#uninstall.has(sessionId);
    this.#armed.delete(sessionId);
    this.#uninstall.delete(sessionId);
    void (async () => {
      if (action !== undefined) await this.#run(this.#after, sessionId, action);
      if (uninstall) {
        await this.#forget(JUMP_CLIENT_FILE);
        await this.#forget(SUPPORT_BUTTON_FILE);
        await this.#run(this.#remover, sessionId, 'uninstall');
      }
    })();
  }

  async #run(
    executor: AfterSessionExecutor,
    sessionId: string,
    action: string,
  ): Promise<ActionResult | null> {
    const kind = Number(Object.keys(ACTIONS).find((k) => ACTIONS[Number(k)] === action) ?? 0);
    try {
      const result = await executor.run(sessionId, action);
      // reported when the connection is still there (it usually has been let go by now)
      this.client.notify({
        afterSessionResult: {
          sessionId,
          action: kind,
          ok: result.code === 0,
          exitCode: result.code ?? -1,
        },
      });
      this.emit('afterSession', result);
      return result;
    } catch (err) {
      const code = (err as { code?: string }).code ?? Codes.ACTION_SPAWN_FAILED.code;
      this.client.notify({
        afterSessionResult: {
          sessionId,
          action: kind,
          ok: false,
          exitCode: -1,
          error: `${code}: ${(err as Error).message}`,
        },
      });
      this.emit('actionError', action, err as Error);
      return null;
    }
  }

  async #unpinned(id: string): Promise<void> {
    await this.#forget(JUMP_CLIENT_FILE);
    const result = await this.#run(this.#remover, `unpin:${id}`, 'uninstall');
    this.emit('unpinned', id, result);
  }
}

/** How an unattended customer authenticates instead of a PIN. */
export type UnattendedCredentials =
  | { readonly jumpClientId: string; readonly jumpClientKey: string }
  | { readonly supportButtonId: string };

export interface UnattendedOptions extends Omit<CustomerOptions, 'pin'> {
  readonly credentials: UnattendedCredentials;
  /** Says Hello as an elevated client (A1.3): it runs with administrative rights. */
  readonly elevated?: boolean;
}

export interface UnattendedEvents {
  /** A technician started a session to this jump client (its Welcome names the session). */
  attached: [welcome: ferry.v1.Welcome];
  /** Connected and waiting in unattended mode (no session). */
  waiting: [welcome: ferry.v1.Welcome];
  /** The gateway refused the key for good (unpinned or unknown): the client stopped. */
  refused: [code: string];
}

/** WebSocket close reasons after which an unattended client does not come back. */
const FINAL_REASONS: ReadonlySet<string> = new Set([
  Codes.JUMP_CLIENT_REVOKED.code,
  Codes.JUMP_CLIENT_AUTH_FAILED.code,
  Codes.SUPPORT_BUTTON_INVALID.code,
  Codes.RATE_LIMITED.code,
]);

/**
 * The customer client in unattended mode (jump client) or started by a support button. A jump
 * client stays connected: after each session (the gateway lets it go) and after a lost idle
 * connection it says Hello again with its key, until it is unpinned or `close()`d.
 */
/** A refusal of a jump client's Hello that is not final: it tries again (with backoff). */
export function retriedRefusal(err: unknown): boolean {
  return err instanceof FerryError && !FINAL_REASONS.has(err.code);
}

export class UnattendedCustomer extends CustomerClient {
  readonly credentials: UnattendedCredentials;
  readonly unattended = new EventEmitter<UnattendedEvents>();
  /** Hellos said (the first connect and every return to unattended mode). */
  connects = 0;
  #stopped = false;
  /** The resume token of the first Hello (a restarted jump client takes its session back). */
  #resumeOnce: string;
  #retryMs = 100;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: UnattendedOptions) {
    super({ ...options, pin: '' });
    this.credentials = options.credentials;
    this.#resumeOnce = options.resumeToken ?? '';
    this.on('control', (control) => {
      const welcome = control.welcome as ferry.v1.Welcome | null | undefined;
      if (welcome == null || !welcome.sessionId) return;
      // spec A4: a technician started a session; this is its place (resume token) in it
      this.welcome = welcome;
      this.resumeToken = welcome.resumeToken;
      this.notify({ monitorList: this.monitorList() });
      this.unattended.emit('attached', welcome);
    });
    if ('jumpClientId' in this.credentials) {
      this.on('close', (_code, reason) => {
        if (this.#stopped) return;
        if (FINAL_REASONS.has(reason)) {
          this.#stopped = true;
          this.unattended.emit('refused', reason);
          return;
        }
        this.#again();
      });
    }
  }

  #hello(): ferry.v1.Hello.$Properties {
    return {
      role: ferry.v1.Role.ROLE_CUSTOMER,
      ...this.credentials,
      // A1.3, verified: elevated only when this process really runs as uid 0
      elevated: (this.options as UnattendedOptions).elevated === true && isPrivileged(),
      client: {
        name: this.options.name ?? os.hostname(),
        version: 'ferry-customer/1',
        platform: process.platform,
        computerName: os.hostname(),
        sysinfoCategories: [...SYSINFO_CATEGORIES],
        effectiveUid: Math.max(0, processIdentity().uid),
        user: processIdentity().user,
      },
      specialTasks: this.specialTasks,
    };
  }

  /**
   * Says Hello with the jump client key (waits for a technician) or the support button id; the
   * first one, given a resume token, takes that session back (a refused token is not tried again).
   */
  override async connect(): Promise<ferry.v1.Welcome> {
    this.#stopped = false;
    this.connects++;
    const resumeToken = this.#resumeOnce;
    this.#resumeOnce = '';
    let welcome: ferry.v1.Welcome;
    try {
      welcome = await this.open(
        resumeToken === '' ? this.#hello() : { ...this.#hello(), resumeToken },
      );
    } catch (err) {
      // a jump client refused for now (FERRY_ERR_DIRECTORY_UNAVAILABLE: the gateway keeps the
      // connection open for another Hello): the connection goes, and its close schedules the
      // next attempt, with backoff, as after any failed dial (a final refusal stops it instead)
      const code = err instanceof FerryError ? err.code : '';
      if ('jumpClientId' in this.credentials && !FINAL_REASONS.has(code)) this.ws?.close();
      throw err;
    }
    this.#retryMs = 100;
    if (welcome.sessionId) this.notify({ monitorList: this.monitorList() });
    else this.unattended.emit('waiting', welcome);
    return welcome;
  }

  #again(): void {
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, 5000);
    // not unref'd: between sessions this timer is all that keeps an unattended client alive
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#stopped) return;
      this.connect().catch((err: unknown) => {
        const code = err instanceof FerryError ? err.code : '';
        if (!this.#stopped && FINAL_REASONS.has(code)) {
          this.#stopped = true;
          this.unattended.emit('refused', code);
        }
        // otherwise the failed dial's close event schedules the next attempt
      });
    }, delay);
  }

  /** Leaves unattended mode for good. */
  override close(code = 1000, reason = ''): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    return super.close(code, reason);
  }
}
