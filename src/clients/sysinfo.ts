/**
 * The customer client's system information (docs/spec/session-tools.md D1-D3): collects, from the
 * real machine, the categories a technician browses one at a time. Every call re-collects (D3
 * refresh); nothing is cached here but the kernel page size.
 *
 * Invariants:
 * - the result is plain JSON (strings, finite numbers, booleans, null, arrays, objects), ready
 *   for the endpoint-owned SYSINFO payload;
 * - one category failing yields `{ error, code }` for that category and never a rejection;
 * - a platform that cannot give a piece of data says `{ unavailable: reason }` instead;
 * - output is bounded: at most MAX_PROCESSES processes, MAX_DISKS disks, MAX_LOGGED_IN users.
 */
import { execFile } from 'node:child_process';
import { open, readdir, readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { processIdentity } from './elevation.js';

const execFileAsync = promisify(execFile);

export const SYSINFO_CATEGORIES = [
  'os',
  'hardware',
  'network',
  'processes',
  'disks',
  'users',
] as const;
export type SysinfoCategory = (typeof SYSINFO_CATEGORIES)[number];

/**
 * Codes of a category's error entry. They travel inside the SYSINFO payload, whose schema the
 * endpoints own, so they are not gateway FERRY_ERR_* codes.
 */
export const SysinfoErrorCodes = {
  UNKNOWN_CATEGORY: 'SYSINFO_UNKNOWN_CATEGORY',
  COLLECT_FAILED: 'SYSINFO_COLLECT_FAILED',
} as const;
export type SysinfoErrorCode = (typeof SysinfoErrorCodes)[keyof typeof SysinfoErrorCodes];

export interface CategoryError {
  readonly error: string;
  readonly code: SysinfoErrorCode;
}

/** This platform cannot give the data (not a failure): the reason, for the technician to read. */
export interface Unavailable {
  readonly unavailable: string;
}

/** Default and hard cap of the process list. */
export const DEFAULT_PROCESSES = 50;
export const MAX_PROCESSES = 500;
export const MAX_DISKS = 50;
export const MAX_LOGGED_IN = 100;
/** CPU usage is measured over this window on Linux (two /proc samples). */
export const DEFAULT_CPU_SAMPLE_MS = 200;
const EXEC_TIMEOUT_MS = 5_000;
const EXEC_MAX_BUFFER_BYTES = 4 * 1024 * 1024;
/** Concurrent /proc/<pid>/stat reads: keeps a machine with thousands of processes under EMFILE. */
const PROC_READ_BATCH = 64;

export interface OsInfo {
  readonly platform: string;
  readonly type: string;
  readonly release: string;
  readonly version: string;
  readonly arch: string;
  readonly machine: string;
  readonly hostname: string;
  readonly uptimeSeconds: number;
}

export interface HardwareInfo {
  readonly cpuModel: string | null;
  readonly cores: number;
  readonly cpuSpeedMhz: number | null;
  readonly totalMemoryBytes: number;
  readonly freeMemoryBytes: number;
  /** 1, 5 and 15 minute load averages; zeros on Windows. */
  readonly loadAverage: readonly number[];
}

export interface InterfaceAddress {
  readonly address: string;
  readonly family: string;
  readonly netmask: string;
  readonly cidr: string | null;
  readonly internal: boolean;
}

export interface NetworkInterfaceInfo {
  readonly name: string;
  /** Null for loopback and interfaces without a hardware address. */
  readonly mac: string | null;
  readonly addresses: readonly InterfaceAddress[];
}

export interface NetworkInfo {
  readonly interfaces: readonly NetworkInterfaceInfo[];
}

export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly name: string;
  /** Percent of one core (a busy multi-threaded process can exceed 100). */
  readonly cpuPercent: number;
  readonly rssBytes: number;
}

export type ProcessSort = 'cpu' | 'memory';

export interface ProcessList {
  readonly source: 'proc' | 'ps';
  /** How cpuPercent was measured. */
  readonly cpuBasis: string;
  readonly sortedBy: ProcessSort;
  /** Processes on the machine; `list` holds the top ones. */
  readonly total: number;
  readonly list: readonly ProcessEntry[];
}

export interface DiskEntry {
  readonly mountPoint: string;
  readonly device: string;
  readonly fsType: string | null;
  readonly sizeBytes: number;
  readonly usedBytes: number;
  /** Available to unprivileged users (statfs bavail). */
  readonly freeBytes: number;
}

export interface DisksInfo {
  readonly disks: readonly DiskEntry[];
  /** Mounts statfs could not read, with the reason. */
  readonly unreadable: readonly { readonly mountPoint: string; readonly error: string }[];
}

export interface LoggedInUser {
  readonly name: string;
  readonly terminal: string;
  readonly since: string;
  readonly host: string | null;
}

export interface UsersInfo {
  readonly current: {
    readonly username: string;
    /** The real uid (the account that started the process). */
    readonly uid: number;
    readonly gid: number;
    /** What the process really runs as: effective uid and its user (root after an elevation). */
    readonly effectiveUid: number | null;
    readonly effectiveUser: string;
    /** Effective uid 0: administrative rights. */
    readonly elevated: boolean;
    readonly homedir: string;
    readonly shell: string | null;
  };
  readonly loggedIn: readonly LoggedInUser[] | Unavailable;
}

export interface SysinfoCategories {
  readonly os: OsInfo;
  readonly hardware: HardwareInfo;
  readonly network: NetworkInfo;
  readonly processes: ProcessList | Unavailable;
  readonly disks: DisksInfo | Unavailable;
  readonly users: UsersInfo;
}

export type CategoryResult = SysinfoCategories[SysinfoCategory] | CategoryError;

export interface SysinfoSnapshot {
  /** ISO 8601, when collection started. */
  readonly collectedAt: string;
  /** One entry per requested name; an unknown name gets a CategoryError under that name. */
  readonly categories: {
    readonly [K in SysinfoCategory]?: SysinfoCategories[K] | CategoryError;
  } & {
    readonly [name: string]: CategoryResult | undefined;
  };
}

export interface SysinfoOptions {
  /** Length of the process list, at most MAX_PROCESSES (default DEFAULT_PROCESSES). */
  readonly maxProcesses?: number;
  readonly processSort?: ProcessSort;
  /** Linux CPU sampling window (default DEFAULT_CPU_SAMPLE_MS). */
  readonly cpuSampleMs?: number;
}

function isCategory(name: string): name is SysinfoCategory {
  return (SYSINFO_CATEGORIES as readonly string[]).includes(name);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : undefined;
}

async function run(file: string, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync(file, args, {
    timeout: EXEC_TIMEOUT_MS,
    maxBuffer: EXEC_MAX_BUFFER_BYTES,
    encoding: 'utf8',
    windowsHide: true,
  });
  return stdout;
}

// --- os, hardware, network -------------------------------------------------------------------

function collectOs(): OsInfo {
  return {
    platform: process.platform,
    type: os.type(),
    release: os.release(),
    version: os.version(),
    arch: os.arch(),
    machine: os.machine(),
    hostname: os.hostname(),
    uptimeSeconds: Math.round(os.uptime()),
  };
}

function collectHardware(): HardwareInfo {
  const cpus = os.cpus();
  const first = cpus[0];
  return {
    cpuModel: first ? first.model.trim() : null,
    cores: cpus.length,
    // some virtual machines report speed 0: that is unknown, not 0 MHz
    cpuSpeedMhz: first && first.speed > 0 ? first.speed : null,
    totalMemoryBytes: os.totalmem(),
    freeMemoryBytes: os.freemem(),
    loadAverage: os.loadavg(),
  };
}

const NO_MAC = '00:00:00:00:00:00';

function collectNetwork(): NetworkInfo {
  const interfaces: NetworkInterfaceInfo[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs) continue;
    const hw = addrs.find((a) => !a.internal && a.mac !== NO_MAC);
    interfaces.push({
      name,
      mac: hw ? hw.mac : null,
      addresses: addrs.map((a) => ({
        address: a.address,
        family: a.family,
        netmask: a.netmask,
        cidr: a.cidr,
        internal: a.internal,
      })),
    });
  }
  return { interfaces };
}

// --- processes -------------------------------------------------------------------------------

interface ProcSample {
  readonly pid: number;
  readonly ppid: number;
  readonly name: string;
  /** utime + stime, in clock ticks. */
  readonly ticks: number;
  readonly rssPages: number;
}

/** Parses /proc/<pid>/stat (proc(5)); null for a line that is not one. */
export function parseProcStat(text: string): ProcSample | null {
  // comm may hold spaces and ')': it runs from the first '(' to the last ')'
  const lparen = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (lparen < 0 || close < lparen) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state), so field n is f[n - 3]: ppid 4, utime 14, stime 15, rss 24
  const pid = Number(text.slice(0, lparen));
  const ppid = Number(f[1]);
  const ticks = Number(f[11]) + Number(f[12]);
  const rssPages = Number(f[21]);
  if (![pid, ppid, ticks, rssPages].every(Number.isFinite)) return null;
  return { pid, ppid, name: text.slice(lparen + 1, close), ticks, rssPages };
}

function isGone(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ESRCH';
}

async function readProcSamples(): Promise<Map<number, ProcSample>> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const samples = new Map<number, ProcSample>();
  for (let i = 0; i < pids.length; i += PROC_READ_BATCH) {
    const batch = pids.slice(i, i + PROC_READ_BATCH).map(async (pid) => {
      try {
        return parseProcStat(await readFile(`/proc/${pid}/stat`, 'latin1'));
      } catch (err) {
        // the process exited between readdir and read
        if (isGone(err)) return null;
        throw err;
      }
    });
    for (const s of await Promise.all(batch)) if (s) samples.set(s.pid, s);
  }
  return samples;
}

/** Clock ticks all CPUs spent (first line of /proc/stat), and the number of online CPUs. */
async function readCpuTicks(): Promise<{ total: number; cpus: number }> {
  const text = await readFile('/proc/stat', 'latin1');
  const lines = text.split('\n');
  // user nice system idle iowait irq softirq steal; guest time is already inside user
  const fields = lines[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const cpus = lines.filter((l) => /^cpu\d+ /.test(l)).length;
  return { total: fields.reduce((a, b) => a + b, 0), cpus: Math.max(1, cpus) };
}

let pageSizeBytes: Promise<number> | null = null;

/** The kernel page size, from the first mapping of /proc/self/smaps (4 KiB if it says nothing). */
function pageSize(): Promise<number> {
  pageSizeBytes ??= (async () => {
    const file = await open('/proc/self/smaps', 'r');
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(4096), 0, 4096, 0);
      const m = /KernelPageSize:\s+(\d+) kB/.exec(buffer.toString('latin1', 0, bytesRead));
      return m ? Number(m[1]) * 1024 : 4096;
    } finally {
      await file.close();
    }
  })();
  return pageSizeBytes;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function topProcesses(list: ProcessEntry[], sort: ProcessSort, max: number): ProcessEntry[] {
  const primary = sort === 'cpu' ? 'cpuPercent' : 'rssBytes';
  const secondary = sort === 'cpu' ? 'rssBytes' : 'cpuPercent';
  list.sort((a, b) => b[primary] - a[primary] || b[secondary] - a[secondary] || a.pid - b.pid);
  return list.slice(0, max);
}

async function processesFromProc(
  sort: ProcessSort,
  max: number,
  sampleMs: number,
): Promise<ProcessList> {
  const page = await pageSize();
  const before = await readProcSamples();
  const cpuBefore = await readCpuTicks();
  await sleep(sampleMs);
  const after = await readProcSamples();
  const cpuAfter = await readCpuTicks();
  // ticks of one core over the window, measured rather than assumed from USER_HZ
  const coreTicks = (cpuAfter.total - cpuBefore.total) / cpuAfter.cpus;
  const list: ProcessEntry[] = [];
  for (const s of after.values()) {
    const prev = before.get(s.pid);
    const used = prev ? s.ticks - prev.ticks : 0;
    list.push({
      pid: s.pid,
      ppid: s.ppid,
      name: s.name,
      cpuPercent: coreTicks > 0 ? round1((used / coreTicks) * 100) : 0,
      rssBytes: s.rssPages * page,
    });
  }
  return {
    source: 'proc',
    cpuBasis: `sampled over ${sampleMs} ms, percent of one core`,
    sortedBy: sort,
    total: list.length,
    list: topProcesses(list, sort, max),
  };
}

/** Parses `ps -A -o pid=,ppid=,pcpu=,rss=,comm=` (rss in KiB; comm may hold spaces). */
export function parsePsOutput(text: string): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    out.push({
      pid: Number(m[1]),
      ppid: Number(m[2]),
      cpuPercent: Number(m[3]),
      rssBytes: Number(m[4]) * 1024,
      // macOS prints the executable's full path
      name: basename(m[5]!),
    });
  }
  return out;
}

async function processesFromPs(sort: ProcessSort, max: number): Promise<ProcessList | Unavailable> {
  let text: string;
  try {
    text = await run('ps', ['-A', '-o', 'pid=,ppid=,pcpu=,rss=,comm=']);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { unavailable: `no ps command on ${process.platform}` };
    throw err;
  }
  const list = parsePsOutput(text);
  return {
    source: 'ps',
    cpuBasis: 'ps %cpu (decaying average; platform-defined)',
    sortedBy: sort,
    total: list.length,
    list: topProcesses(list, sort, max),
  };
}

async function collectProcesses(options: SysinfoOptions): Promise<ProcessList | Unavailable> {
  const sort = options.processSort ?? 'cpu';
  const max = Math.min(
    MAX_PROCESSES,
    Math.max(1, Math.floor(options.maxProcesses ?? DEFAULT_PROCESSES)),
  );
  if (process.platform === 'linux') {
    const sampleMs = Math.max(10, options.cpuSampleMs ?? DEFAULT_CPU_SAMPLE_MS);
    return processesFromProc(sort, max, sampleMs);
  }
  if (process.platform === 'win32') {
    return { unavailable: 'process list not collected on win32 (no /proc, no ps)' };
  }
  return processesFromPs(sort, max);
}

// --- disks -----------------------------------------------------------------------------------

/** Filesystem types that are kernel or memory views, not storage (tmpfs is memory). */
const PSEUDO_FS = new Set([
  'autofs',
  'binfmt_misc',
  'bpf',
  'cgroup',
  'cgroup2',
  'configfs',
  'debugfs',
  'devpts',
  'devtmpfs',
  'efivarfs',
  'fusectl',
  'hugetlbfs',
  'mqueue',
  'nsfs',
  'proc',
  'pstore',
  'ramfs',
  'rpc_pipefs',
  'securityfs',
  'selinuxfs',
  'squashfs',
  'sysfs',
  'tmpfs',
  'tracefs',
]);

export interface MountEntry {
  readonly mountPoint: string;
  readonly device: string;
  readonly fsType: string;
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  );
}

/**
 * The storage mounts in /proc/self/mountinfo (proc(5)): pseudo filesystems dropped, and each
 * device (major:minor) once, at the mount of its root if any, else at its shortest mount point,
 * so bind mounts do not count a disk twice.
 */
export function parseMountInfo(text: string): MountEntry[] {
  const byDevice = new Map<string, { entry: MountEntry; root: string }>();
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const device = pre[2];
    const root = pre[3];
    const mountPoint = pre[4];
    const fsType = post[0];
    const source = post[1];
    if (!device || !root || !mountPoint || !fsType || source === undefined) continue;
    if (PSEUDO_FS.has(fsType)) continue;
    const entry = {
      mountPoint: unescapeMountField(mountPoint),
      device: unescapeMountField(source),
      fsType,
    };
    const seen = byDevice.get(device);
    const better =
      !seen ||
      (root === '/' && seen.root !== '/') ||
      ((root === '/') === (seen.root === '/') &&
        entry.mountPoint.length < seen.entry.mountPoint.length);
    if (better) byDevice.set(device, { entry, root });
  }
  return [...byDevice.values()].map((v) => v.entry);
}

/** Parses `df -kP`: mount points (which may hold spaces) and their devices. */
export function parseDfOutput(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s+\d+\s+\d+\s+\d+\s+\d+%\s+(.+?)\s*$/.exec(line);
    if (m) out.push({ device: m[1]!, mountPoint: m[2]!, fsType: '' });
  }
  return out;
}

async function listMounts(): Promise<MountEntry[] | Unavailable> {
  if (process.platform === 'linux') {
    return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
  }
  if (process.platform === 'win32') {
    const drives: MountEntry[] = [];
    for (let c = 'C'.charCodeAt(0); c <= 'Z'.charCodeAt(0); c++) {
      const root = `${String.fromCharCode(c)}:\\`;
      drives.push({ mountPoint: root, device: root, fsType: '' });
    }
    return drives;
  }
  try {
    return parseDfOutput(await run('df', ['-kP']));
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { unavailable: `no df command on ${process.platform}` };
    throw err;
  }
}

async function collectDisks(): Promise<DisksInfo | Unavailable> {
  const mounts = await listMounts();
  if (!Array.isArray(mounts)) return mounts;
  const disks: DiskEntry[] = [];
  const unreadable: { mountPoint: string; error: string }[] = [];
  for (const m of mounts) {
    if (disks.length >= MAX_DISKS) break;
    let s: Awaited<ReturnType<typeof statfs>>;
    try {
      s = await statfs(m.mountPoint);
    } catch (err) {
      // an absent drive letter on Windows is expected, not a finding
      if (process.platform === 'win32' && errorCode(err) === 'ENOENT') continue;
      if (unreadable.length < MAX_DISKS)
        unreadable.push({ mountPoint: m.mountPoint, error: errorMessage(err) });
      continue;
    }
    // zero blocks: a pseudo filesystem the list above does not know
    if (s.blocks === 0) continue;
    disks.push({
      mountPoint: m.mountPoint,
      device: m.device,
      fsType: m.fsType || null,
      sizeBytes: s.blocks * s.bsize,
      usedBytes: (s.blocks - s.bfree) * s.bsize,
      freeBytes: s.bavail * s.bsize,
    });
  }
  return { disks, unreadable };
}

// --- users -----------------------------------------------------------------------------------

/** Parses `who`: `name terminal date time [(host)]`; the date format is the platform's. */
export function parseWhoOutput(text: string): LoggedInUser[] {
  const out: LoggedInUser[] = [];
  for (const line of text.split('\n')) {
    if (out.length >= MAX_LOGGED_IN) break;
    const m = /^(\S+)\s+(\S+)\s+(.+?)(?:\s+\((.*)\))?\s*$/.exec(line);
    if (!m) continue;
    out.push({ name: m[1]!, terminal: m[2]!, since: m[3]!, host: m[4] || null });
  }
  return out;
}

async function collectUsers(): Promise<UsersInfo> {
  const u = os.userInfo();
  const identity = processIdentity();
  const current = {
    username: u.username,
    uid: u.uid,
    gid: u.gid,
    effectiveUid: identity.uid >= 0 ? identity.uid : null,
    effectiveUser: identity.user,
    elevated: identity.uid === 0,
    homedir: u.homedir,
    shell: u.shell,
  };
  if (process.platform === 'win32') {
    return { current, loggedIn: { unavailable: 'no who command on win32' } };
  }
  try {
    return { current, loggedIn: parseWhoOutput(await run('who', [])) };
  } catch (err) {
    if (errorCode(err) === 'ENOENT') {
      return { current, loggedIn: { unavailable: `no who command on ${process.platform}` } };
    }
    throw err;
  }
}

// --- entry point -----------------------------------------------------------------------------

function collectOne(
  category: SysinfoCategory,
  options: SysinfoOptions,
): Promise<SysinfoCategories[SysinfoCategory]> | SysinfoCategories[SysinfoCategory] {
  switch (category) {
    case 'os':
      return collectOs();
    case 'hardware':
      return collectHardware();
    case 'network':
      return collectNetwork();
    case 'processes':
      return collectProcesses(options);
    case 'disks':
      return collectDisks();
    case 'users':
      return collectUsers();
  }
}

async function guarded(
  category: SysinfoCategory,
  options: SysinfoOptions,
): Promise<CategoryResult> {
  try {
    return await collectOne(category, options);
  } catch (err) {
    return {
      error: `collecting ${category} failed: ${errorMessage(err)}`,
      code: SysinfoErrorCodes.COLLECT_FAILED,
    };
  }
}

/**
 * Collects the requested categories (all of SYSINFO_CATEGORIES when none are given) in
 * parallel. Never rejects: a failed or unknown category is an error entry under its name.
 */
export async function collectSysinfo(
  categories: readonly string[] = SYSINFO_CATEGORIES,
  options: SysinfoOptions = {},
): Promise<SysinfoSnapshot> {
  const collectedAt = new Date().toISOString();
  const names = [...new Set(categories)];
  const results = await Promise.all(
    names.map((name): Promise<CategoryResult> | CategoryError =>
      isCategory(name)
        ? guarded(name, options)
        : {
            error: `unknown system information category "${name}"; known: ${SYSINFO_CATEGORIES.join(', ')}`,
            code: SysinfoErrorCodes.UNKNOWN_CATEGORY,
          },
    ),
  );
  // fromEntries defines own properties, so a requested "__proto__" is just an unknown name
  return { collectedAt, categories: Object.fromEntries(names.map((n, i) => [n, results[i]!])) };
}
