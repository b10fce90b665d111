/**
 * The customer's X11 display as the native client sees it: whether `$DISPLAY` is set and
 * reachable, which system programs capture and input need (and the Debian package and install
 * command of each one missing), and the monitor layout from `xrandr --listmonitors`, numbered
 * 1, 2, 3 (primary first) in the screen and input contract's terms.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { DisplayMonitor } from '../../protocol/screen-input.js';

/** A program the native customer runs, and where it comes from. */
export interface SystemProgram {
  readonly program: string;
  /** Debian/Ubuntu package that provides it. */
  readonly debian: string;
  /** What it is for, in the "is not installed" message. */
  readonly purpose: string;
}

export const PROGRAMS = {
  ffmpeg: { program: 'ffmpeg', debian: 'ffmpeg', purpose: 'screen capture' },
  xrandr: { program: 'xrandr', debian: 'x11-xserver-utils', purpose: 'the monitor layout' },
  xdotool: { program: 'xdotool', debian: 'xdotool', purpose: 'input injection' },
} as const satisfies Record<string, SystemProgram>;
export type ProgramName = keyof typeof PROGRAMS;

/** The line a person reads when `name` is missing: what it is for and how to install it. */
export function missingProgramMessage(name: ProgramName): string {
  const p = PROGRAMS[name];
  return (
    `${p.program} is not installed (needed for ${p.purpose}): install the ${p.debian} package, ` +
    `e.g. "sudo apt-get install ${p.debian}" on Debian or Ubuntu`
  );
}

/** The full path of `program` on PATH, or null. */
export function findProgram(program: string, envPath = process.env.PATH ?? ''): string | null {
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const full = path.join(dir, program);
    try {
      fs.accessSync(full, fs.constants.X_OK);
      return full;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if ((err as NodeJS.ErrnoException).code === 'EACCES') continue;
      throw err;
    }
  }
  return null;
}

/** The programs of `names` that are not on PATH. */
export function missingPrograms(names: readonly ProgramName[]): ProgramName[] {
  return names.filter((n) => findProgram(PROGRAMS[n].program) === null);
}

/** A monitor of the X screen: the contract's advertised size is its real size (no scaling). */
export interface X11Monitor extends DisplayMonitor {
  /** The RandR monitor name ("DP-1", "screen", or one made with xrandr --setmonitor). */
  readonly name: string;
}

/** An X11 display that can be captured, or why not. */
export type DisplayCheck =
  | { readonly ok: true; readonly display: string; readonly monitors: X11Monitor[] }
  | { readonly ok: false; readonly display: string; readonly reason: string };

/** Runs a program with DISPLAY set; resolves with stdout, rejects with its stderr. */
function run(program: string, args: string[], display: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      program,
      args,
      { env: { ...process.env, DISPLAY: display }, timeout: timeoutMs, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const detail = String(stderr).trim().split('\n').slice(-2).join(' ');
          reject(
            Object.assign(new Error(detail || err.message), {
              code: (err as { code?: unknown }).code,
            }),
          );
        } else resolve(String(stdout));
      },
    );
  });
}

/**
 * Parses `xrandr --listmonitors`:
 * ```
 * Monitors: 2
 *  0: +*DP-1 1920/530x1080/300+0+0  DP-1
 *  1: +HDMI-1 1280/340x1024/270+1920+0  HDMI-1
 * ```
 * Ids are 1-based in the listed order; the one marked `*` is primary (else the first is).
 */
export function parseListMonitors(text: string): X11Monitor[] {
  const out: X11Monitor[] = [];
  const re = /^\s*\d+:\s+\+?(\*?)(\S+)\s+(\d+)\/\d+x(\d+)\/\d+([+-]\d+)([+-]\d+)/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m === null) continue;
    const width = Number(m[3]);
    const height = Number(m[4]);
    const x = Number(m[5]);
    const y = Number(m[6]);
    out.push({
      id: out.length + 1,
      name: m[2]!,
      width,
      height,
      primary: m[1] === '*',
      desktop: { x, y, width, height },
    });
  }
  if (out.length > 0 && !out.some((m) => m.primary)) out[0] = { ...out[0]!, primary: true };
  return out;
}

/** The display named by `$DISPLAY` (empty when unset). */
export function displayName(env: NodeJS.ProcessEnv = process.env): string {
  return env.DISPLAY ?? '';
}

/**
 * Checks the display and reads its monitors. Not ok when `$DISPLAY` is unset, xrandr is
 * missing, or the X server does not answer (the reason says which, and what to install).
 */
export async function checkDisplay(display = displayName()): Promise<DisplayCheck> {
  if (display === '') {
    return {
      ok: false,
      display,
      reason: 'no display: $DISPLAY is not set (no X11 session to share)',
    };
  }
  if (findProgram('xrandr') === null) {
    return { ok: false, display, reason: missingProgramMessage('xrandr') };
  }
  let text: string;
  try {
    text = await run('xrandr', ['--listmonitors'], display);
  } catch (err) {
    return {
      ok: false,
      display,
      reason: `display ${display} is not reachable: ${(err as Error).message}`,
    };
  }
  const monitors = parseListMonitors(text);
  if (monitors.length === 0) {
    return { ok: false, display, reason: `display ${display} reports no monitor (xrandr)` };
  }
  return { ok: true, display, monitors };
}
