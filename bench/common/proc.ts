/**
 * Readings from /proc (Linux): a process's CPU time (utime + stime of all its threads) and
 * memory (VmRSS, VmHWM), and the whole machine's busy time from /proc/stat, which the runners use
 * to wait for a quiet machine and to tell how much CPU went to processes outside the bench.
 * Every reader returns null (never throws) when the file is missing: the process has exited or
 * this is not Linux.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function clockTicksPerSecond(): number {
  try {
    const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    const value = Number(out);
    return Number.isInteger(value) && value > 0 ? value : 100;
  } catch (err) {
    // getconf missing: Linux has used USER_HZ = 100 for /proc since forever
    process.emitWarning(`getconf CLK_TCK failed (${(err as Error).message}); assuming 100`);
    return 100;
  }
}

/** USER_HZ: the unit of /proc/<pid>/stat utime/stime and of /proc/stat. */
export const CLK_TCK = clockTicksPerSecond();

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw err;
  }
}

/** CPU milliseconds (user + system, all threads) a process has used so far, or null. */
export function processCpuMs(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // comm (field 2) may contain spaces and parentheses: split after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1000) / CLK_TCK;
}

export interface MemoryReading {
  /** Resident set size now, KiB. */
  readonly rssKiB: number;
  /** Peak resident set size ("high water mark"), KiB. */
  readonly hwmKiB: number;
}

export function processMemory(pid: number): MemoryReading | null {
  const status = readText(`/proc/${pid}/status`);
  if (status === null) return null;
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return m === null ? 0 : Number(m[1]);
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

export interface MachineCpu {
  /** Sum of every column of the aggregate `cpu` line of /proc/stat, in ticks. */
  readonly totalTicks: number;
  /** idle + iowait ticks. */
  readonly idleTicks: number;
  /** irq + softirq ticks: interrupt work (loopback TCP's receive path) that no process is charged for. */
  readonly irqTicks: number;
  /** steal ticks: time the hypervisor ran something else while this VM's CPU wanted to run. */
  readonly stealTicks: number;
}

export function machineCpu(): MachineCpu | null {
  const stat = readText('/proc/stat');
  if (stat === null) return null;
  const line = stat.slice(0, stat.indexOf('\n')).split(/\s+/);
  if (line[0] !== 'cpu') return null;
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const v = line.slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return {
    totalTicks: total,
    idleTicks: (v[3] ?? 0) + (v[4] ?? 0),
    irqTicks: (v[5] ?? 0) + (v[6] ?? 0),
    stealTicks: v[7] ?? 0,
  };
}

/** Busy core-milliseconds between two readings (all cores summed). */
export function busyCoreMs(from: MachineCpu, to: MachineCpu): number {
  const busy = to.totalTicks - to.idleTicks - (from.totalTicks - from.idleTicks);
  return (busy * 1000) / CLK_TCK;
}

/** Interrupt core-milliseconds (irq + softirq) between two readings. */
export function irqCoreMs(from: MachineCpu, to: MachineCpu): number {
  return ((to.irqTicks - from.irqTicks) * 1000) / CLK_TCK;
}

/** Stolen core-milliseconds (hypervisor) between two readings. */
export function stealCoreMs(from: MachineCpu, to: MachineCpu): number {
  return ((to.stealTicks - from.stealTicks) * 1000) / CLK_TCK;
}

/** Busy share of the whole machine between two readings, 0..100. */
export function busyPercent(from: MachineCpu, to: MachineCpu): number {
  const total = to.totalTicks - from.totalTicks;
  if (total <= 0) return 0;
  return (100 * (total - (to.idleTicks - from.idleTicks))) / total;
}

export interface QuietCheck {
  readonly quiet: boolean;
  readonly tries: number;
  /** Busy share of the last sample, percent of all cores. */
  readonly busyPct: number;
  readonly waitedMs: number;
}

export interface QuietOptions {
  /** Quiet means less than this share of all cores busy over one sample. */
  readonly thresholdPct: number;
  readonly sampleMs: number;
  readonly maxTries: number;
}

/**
 * Samples /proc/stat until one `sampleMs` window is below the threshold, at most `maxTries`
 * times. A machine that never gets quiet is reported (quiet: false), not waited on forever.
 */
export async function waitForQuiet(options: QuietOptions): Promise<QuietCheck> {
  const started = Date.now();
  let busy = 0;
  for (let tries = 1; tries <= options.maxTries; tries++) {
    const a = machineCpu();
    await sleep(options.sampleMs);
    const b = machineCpu();
    if (a === null || b === null) return { quiet: true, tries, busyPct: 0, waitedMs: 0 };
    busy = busyPercent(a, b);
    if (busy < options.thresholdPct) {
      return { quiet: true, tries, busyPct: busy, waitedMs: Date.now() - started };
    }
  }
  return { quiet: false, tries: options.maxTries, busyPct: busy, waitedMs: Date.now() - started };
}
