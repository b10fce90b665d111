/**
 * What `ferry customer` does as a native client: which screen it shares (`--screen x11`, the
 * default with $DISPLAY; `none` without; `test-pattern` for demos), at which `--fps` and
 * `--quality`, what it tells its user when a display or a system program is missing, and its
 * resume file (`--resume` rejoins after a restart; the file is kept current and removed at the
 * session's end). A reboot request restarts this process (a new one with `--resume` takes the
 * session back), and an elevation relaunches it through the operator's command
 * (`--elevation-ticket`: the relaunched process checks its effective uid before it joins).
 * Printing only; the work is in src/clients/x11/, resume-state.ts and elevation.ts.
 */
import { spawn } from 'node:child_process';
import type { Argv } from 'yargs';
import { FerryError } from '../clients/client.js';
import type { CustomerClient, CustomerOptions } from '../clients/customer.js';
import {
  ELEVATION_KIND_FLAG,
  ELEVATION_TICKET_FLAG,
  isPrivileged,
  NOT_ELEVATED_EXIT,
  notElevatedMessage,
  processIdentity,
  relaunchArgv,
} from '../clients/elevation.js';
import {
  defaultStateDir,
  loadResumeState,
  ResumeKeeper,
  type ResumeState,
  ResumeStateError,
  removeResumeState,
  resumeFile,
} from '../clients/resume-state.js';
import { missingProgramMessage, missingPrograms } from '../clients/x11/display.js';
import { checkSetting, DEFAULT_QUALITY, MAX_FPS } from '../clients/x11/presets.js';
import { X11Screen } from '../clients/x11/screen.js';
import { Codes } from '../protocol/codes.js';
import type { ferry } from '../protocol/gen/ferry.js';
import { ExitCode, UsageError } from './common.js';

export const SCREEN_SOURCES = ['x11', 'test-pattern', 'none'] as const;
export type ScreenSource = (typeof SCREEN_SOURCES)[number];

export interface ScreenFlags {
  fps: number;
  quality: number;
  screen: ScreenSource | undefined;
}

export interface NativeFlags extends ScreenFlags {
  url: string;
  pin: string | undefined;
  resume: boolean;
  stateDir: string | undefined;
  elevationTicket: number | undefined;
  elevationKind: 'admin' | 'full_client' | undefined;
}

/** `--screen`, `--fps` and `--quality`: what the customer shares (also the jump client's). */
export function screenOptions<T>(y: Argv<T>) {
  return y
    .option('screen', {
      choices: SCREEN_SOURCES,
      describe:
        'what to share: x11 (the display of $DISPLAY; the default when it is set), none (the default without a display: shell, files and system information only), test-pattern (a synthetic screen for demos and benches)',
    })
    .option('fps', { type: 'number', default: 10, describe: 'screen frames per second (1..30)' })
    .option('quality', {
      type: 'number',
      default: DEFAULT_QUALITY,
      describe: 'screen tile quality, 1..100 (JPEG); a technician may pick a preset instead',
    });
}

/** The screen flags, `--resume` and the elevation relaunch's own flags. */
export function nativeOptions<T>(y: Argv<T>) {
  return screenOptions(y)
    .option('resume', {
      type: 'boolean',
      default: false,
      describe:
        'rejoin the session of the resume file in --state-dir after a restart (with --pin as well: join afresh when there is none to resume)',
    })
    .option('elevation-ticket', {
      type: 'number',
      hidden: true,
      describe: 'set by an elevation relaunch: the ElevateRequest this process answers',
    })
    .option('elevation-kind', {
      choices: ['admin', 'full_client'] as const,
      hidden: true,
      describe: 'set by an elevation relaunch: the kind of elevation asked for',
    });
}

/**
 * An elevation relaunch checks what it runs as before anything else: without administrative
 * rights it says so and stops (NOT_ELEVATED_EXIT), and the unelevated client keeps the session.
 */
export function checkElevatedStart(argv: NativeFlags): number | null {
  if (argv.elevationTicket === undefined || argv.elevationKind !== 'admin') return null;
  const identity = processIdentity();
  if (isPrivileged(identity)) {
    console.log(`elevated: this client runs as ${identity.user} (uid ${identity.uid})`);
    return null;
  }
  console.error(`${Codes.ELEVATION_FAILED.code}: ${notElevatedMessage(identity)}`);
  return NOT_ELEVATED_EXIT;
}

/** The argv that starts this client again on the same resume file (an explicit --state-dir). */
export function relaunchCommand(
  argv: NativeFlags,
  setup: NativeSetup,
  extra: readonly string[] = [],
): string[] {
  const dir = argv.stateDir === undefined ? ['--state-dir', setup.stateDir] : [];
  return relaunchArgv([...dir, ...extra]);
}

/** The flags that make a relaunch answer the ElevateRequest of `ticket`. */
export function elevationFlags(ticket: number, kind: 'admin' | 'full_client'): string[] {
  return [ELEVATION_TICKET_FLAG, String(ticket), ELEVATION_KIND_FLAG, kind];
}

/**
 * A reboot request: the resume file is written, a new process (this client's argv with
 * `--resume`, detached) is started, and this one lets its connection go without ending the
 * session; the gateway holds the place (REBOOTING) until the new process resumes it.
 */
export function restartProcess(client: CustomerClient, keeper: ResumeKeeper, argv: string[]): void {
  keeper.save();
  console.log(
    `restarting: a new customer process takes the session back (${argv.slice(1).join(' ')})`,
  );
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', (err) => console.error(`restart failed: ${err.message}`));
    child.unref();
  } catch (err) {
    console.error(`restart failed: ${(err as Error).message}`);
  }
  // 1001 (going away): not a customer close; the place is held for the new process
  client.close(1001, 'restarting').catch((err: unknown) => {
    console.error(`closing for the restart: ${(err as Error).message}`);
  });
}

export interface NativeSetup {
  readonly source: ScreenSource;
  readonly stateDir: string;
  readonly resume: ResumeState | null;
  /** What the CustomerClient gets: the screen (or why none) and the resume token. */
  readonly clientOptions: Partial<CustomerOptions>;
}

type MutableOptions = { -readonly [K in keyof CustomerOptions]?: CustomerOptions[K] };

/** `--fps` and `--quality` within their bounds, or a usage error. */
export function checkScreenFlags(argv: ScreenFlags): void {
  const fpsProblem = checkSetting('fps', argv.fps, 1, MAX_FPS);
  if (fpsProblem !== null) throw new UsageError(fpsProblem);
  const qualityProblem = checkSetting('quality', argv.quality, 1, 100);
  if (qualityProblem !== null) throw new UsageError(qualityProblem);
}

/**
 * Opens what `--screen` names (the display of $DISPLAY by default, nothing without one) and says
 * what is missing: a display, or the system programs capture and input need.
 */
export async function openScreen(
  argv: ScreenFlags,
): Promise<{ source: ScreenSource; clientOptions: MutableOptions }> {
  const display = process.env.DISPLAY ?? '';
  const source: ScreenSource = argv.screen ?? (display !== '' ? 'x11' : 'none');
  const clientOptions: MutableOptions = {};
  if (source === 'x11') {
    const opened = await X11Screen.open({ display, fps: argv.fps, quality: argv.quality });
    if (opened instanceof X11Screen) {
      clientOptions.x11 = opened;
      for (const name of missingPrograms(['ffmpeg', 'xdotool'])) {
        console.error(missingProgramMessage(name));
      }
    } else clientOptions.noScreen = opened.reason;
  } else if (source === 'none') {
    clientOptions.noScreen =
      display === '' ? 'no display: $DISPLAY is not set' : 'screen sharing is off (--screen none)';
  }
  if (clientOptions.noScreen !== undefined) {
    console.log(
      `no screen to share: ${clientOptions.noScreen}; offering shell, files and system information only`,
    );
  }
  return { source, clientOptions };
}

/**
 * Checks the flags, reads the resume file (a refused one is said and removed), and opens the
 * screen. A number is the exit code when there is nothing to do.
 */
export async function prepareNative(argv: NativeFlags): Promise<NativeSetup | number> {
  checkScreenFlags(argv);
  const stateDir = argv.stateDir ?? defaultStateDir();

  let resume: ResumeState | null = null;
  if (argv.resume) {
    try {
      resume = await loadResumeState(stateDir, argv.url);
    } catch (err) {
      if (!(err instanceof ResumeStateError)) throw err;
      console.error(`${err.code}: ${err.message}`);
      if (!argv.pin) return ExitCode.failure;
    }
    if (resume === null && !argv.pin && argv.resume) {
      console.error(`no resume file in ${stateDir}: nothing to resume; join with --pin`);
      return ExitCode.failure;
    }
  }
  if (resume === null && !argv.pin) {
    throw new UsageError('--pin is required (or --resume to rejoin after a restart)');
  }

  const { source, clientOptions } = await openScreen(argv);
  if (resume !== null) {
    clientOptions.resumeToken = resume.token;
    clientOptions.granted = resume.granted;
  }
  return { source, stateDir, resume, clientOptions };
}

/** Keeps the resume file and prints what the real screen reports. */
export function attachNative(client: CustomerClient, setup: NativeSetup): ResumeKeeper {
  const keeper = new ResumeKeeper(client, setup.stateDir, {
    granted: () => client.granted,
    onError: (err) => console.error(`resume file ${resumeFile(setup.stateDir)}: ${err.message}`),
  });
  const x11 = client.x11;
  if (x11 !== null) {
    x11.on('failed', (code, message) =>
      console.error(`screen sharing stopped: ${code}: ${message}`),
    );
    x11.on('inputUnavailable', (code, message) => console.error(`${code}: ${message}`));
    x11.on('warning', (message) => console.error(message));
  }
  return keeper;
}

/**
 * Connects (with the resume token when there is one). A token the gateway no longer knows means
 * the session is over: the file goes, and the refusal says so.
 */
export async function connectNative(
  client: CustomerClient,
  setup: NativeSetup,
): Promise<ferry.v1.Welcome> {
  try {
    return await client.connect();
  } catch (err) {
    if (
      setup.resume !== null &&
      err instanceof FerryError &&
      err.code === Codes.RESUME_INVALID.code
    ) {
      await removeResumeState(setup.stateDir);
      throw new FerryError(
        err.code,
        `the gateway no longer knows the session of the resume file (${setup.resume.sessionId}); the file was removed: join with a new PIN`,
      );
    }
    throw err;
  }
}

/** Says how the client joined and what it shares, and writes the resume file. */
export async function reportJoin(
  client: CustomerClient,
  welcome: ferry.v1.Welcome,
  keeper: ResumeKeeper,
): Promise<void> {
  if (welcome.resumed) {
    console.log(
      `resumed session ${welcome.sessionId}; permissions in force: ${client.granted.join(', ') || 'none'}`,
    );
  } else console.log(`joined session ${welcome.sessionId}; waiting for the technician`);
  const x11 = client.x11;
  if (x11 !== null) {
    for (const m of x11.monitors) {
      console.log(
        `screen: display ${x11.display}, monitor ${m.id} "${m.name}" ${m.width}x${m.height}+${m.desktop.x}+${m.desktop.y}${m.primary ? ' (primary)' : ''}; shared once you allow view, input only with control`,
      );
    }
  }
  keeper.save();
  await keeper.settled();
  if (keeper.failures === 0) {
    console.log(
      `resume state kept in ${resumeFile(keeper.stateDir)} (ferry customer --resume rejoins after a restart)`,
    );
  }
}
