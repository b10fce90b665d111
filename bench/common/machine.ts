/**
 * The header every bench result carries: CPU model and count, Node and V8 versions, kernel,
 * git commit (and whether the tree had local changes), file-descriptor limit, date. A result
 * without this header cannot be compared with another, so every runner writes it first.
 * A tree exported without .git (`git archive <commit>`) names its commit in BENCH_GIT_COMMIT
 * (and BENCH_GIT_DIRTY=1 when files were added to it).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  readonly date: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly nodeVersion: string;
  readonly v8Version: string;
  readonly platform: string;
  readonly kernel: string;
  readonly totalMemoryMiB: number;
  readonly gitCommit: string;
  /** True when `git status --porcelain` listed changes: the numbers are of that tree, not the commit. */
  readonly gitDirty: boolean;
  readonly fdLimitSoft: number;
  readonly fdLimitHard: number;
}

/** The repository root, from this file's place in dist/bench/common/ or bench/common/. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: repoRoot(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch (err) {
    process.emitWarning(`git ${args.join(' ')} failed: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) return m[1]!.trim();
  } catch (err) {
    process.emitWarning(`cannot read /proc/cpuinfo: ${(err as Error).message}`);
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function fdLimits(): { soft: number; hard: number } {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const parse = (s: string | undefined) =>
      s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s);
    return { soft: parse(out[0]), hard: parse(out[1]) };
  } catch (err) {
    process.emitWarning(`cannot read ulimit -n: ${(err as Error).message}`);
    return { soft: 0, hard: 0 };
  }
}

export function machineInfo(): MachineInfo {
  const fds = fdLimits();
  const pinned = process.env.BENCH_GIT_COMMIT;
  const status = pinned ? null : git(['status', '--porcelain']);
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cpus: os.availableParallelism(),
    nodeVersion: process.version,
    v8Version: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    totalMemoryMiB: Math.round(os.totalmem() / 2 ** 20),
    gitCommit: pinned || (git(['rev-parse', 'HEAD']) ?? 'unknown'),
    gitDirty: pinned ? process.env.BENCH_GIT_DIRTY === '1' : status !== null && status.length > 0,
    fdLimitSoft: fds.soft,
    fdLimitHard: fds.hard,
  };
}

export function describeMachine(m: MachineInfo): string {
  return (
    `${m.cpuModel} x${m.cpus}, ${m.totalMemoryMiB} MiB, Node ${m.nodeVersion}, ${m.platform} ${m.kernel}, ` +
    `commit ${m.gitCommit.slice(0, 12)}${m.gitDirty ? ' (+local changes)' : ''}`
  );
}

/** `relay-2025-01-31T12-00-00Z.json` style names: sortable, no colons. */
export function resultFileName(prefix: string, date = new Date()): string {
  return `${prefix}-${date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-')}.json`;
}

export function writeResult(prefix: string, data: unknown): string {
  const dir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, resultFileName(prefix));
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}
