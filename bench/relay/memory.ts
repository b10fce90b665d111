/**
 * Where the idle memory of a fleet goes: starts a relay target with the probe of mem-probe.ts,
 * reads its memory, opens N pairs exactly as the relay bench does (pairing.ts: on Ferry the full
 * handshake, pings answered), leaves them idle, and reads again. Per pair it prints the RSS delta
 * as the bench measures it (no collection), then after a full GC: V8 heap used, new space and
 * old space committed, external memory and the rest of the RSS (native: uWS sockets, malloc).
 * With --snapshot (or --snapshot-dir DIR, which keeps the files) it also diffs two heap snapshots
 * (before the first connection, idle) and prints the bytes per pair by constructor (self sizes);
 * writing them inflates that run's RSS figures, which it says. Then (--more M, default 1000; 0 = not) it opens
 * M pairs more and prints what each added: the slope, without the process's one-time growth in
 * the first burst (JIT code, malloc arenas, the young generation), which the first figure
 * divides by N.
 *
 *   node dist/bench/relay/memory.js --pairs 1000 --targets ferry,bare-uws
 *   node dist/bench/relay/memory.js --pairs 1000 --targets ferry --snapshot --top 40
 *   node dist/bench/relay/memory.js --node-flag=--max-semi-space-size=2
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gatewayNodeFlags } from '../../src/cli/node-flags.js';
import { issueToken } from '../../src/session/tokens.js';
import { type Child, installCleanup, spawnChild } from '../common/children.js';
import { ferryEnv, ferryEnvText } from '../common/launch-env.js';
import { processMemory } from '../common/proc.js';
import { answerPing, closePair, openPair, type PairLinks } from './pairing.js';
import type { TargetInfo, TargetName } from './scenarios.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SETUP_CONCURRENCY = 32;

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '1000' },
    more: { type: 'string', default: '1000' },
    targets: { type: 'string', default: 'ferry,bare-uws' },
    'idle-ms': { type: 'string', default: '2500' },
    'node-flag': { type: 'string', multiple: true },
    'ferry-set': { type: 'string', multiple: true },
    'ferry-env': { type: 'string', multiple: true },
    snapshot: { type: 'boolean', default: false },
    'snapshot-dir': { type: 'string' },
    top: { type: 'string', default: '30' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'node dist/bench/relay/memory.js [--pairs N] [--more M] [--targets ferry,bare-uws] [--idle-ms MS]\n' +
      '  [--node-flag=--flag ...] [--ferry-set key=value ...] [--ferry-env NAME=VALUE ...]\n' +
      '  [--snapshot | --snapshot-dir DIR] [--top N]\n',
  );
  process.exit(0);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Probe {
  rawRss: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, { size: number; used: number }>;
  snapshot: string | null;
}

async function probe(child: Child): Promise<Probe> {
  const next = child.next('memory', 120_000);
  child.proc.kill('SIGUSR2');
  return (await next) as unknown as Probe;
}

/** Self sizes by node kind and constructor name. */
function aggregate(file: string): Map<string, { bytes: number; count: number }> {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const out = new Map<string, { bytes: number; count: number }>();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + fType]!]!;
    const name = snap.strings[nodes[i + fName]!]!;
    const key =
      type === 'object' || type === 'native' || type === 'hidden'
        ? `${type}:${name.length > 60 ? `${name.slice(0, 60)}...` : name}`
        : `(${type})`;
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += nodes[i + fSize]!;
    entry.count++;
    out.set(key, entry);
  }
  return out;
}

const kib = (bytes: number, pairs: number) => (bytes / 1024 / pairs).toFixed(2);

async function measure(name: TargetName, pairs: number, snapshotDir: string | null) {
  const flags = values['node-flag'] ?? [];
  // Ferry runs with its launch flags (src/cli/node-flags.ts), as `ferry serve` does
  const launch = name === 'ferry' ? gatewayNodeFlags(flags) : flags;
  const nodeArgs = [
    '--expose-gc',
    '--import',
    pathToFileURL(path.join(here, 'mem-probe.js')).href,
    ...launch,
  ];
  if (snapshotDir !== null) process.env.FERRY_MEM_SNAPSHOT_DIR = snapshotDir;
  const sets = name === 'ferry' ? (values['ferry-set'] ?? []).flatMap((kv) => ['--set', kv]) : [];
  const env = name === 'ferry' ? ferryEnv(values['ferry-env'] ?? []) : process.env;
  const child = spawnChild(name, path.join(here, 'targets', `${name}.js`), sets, '', nodeArgs, env);
  try {
    const info = await child.next('target', 30_000);
    const target: TargetInfo = {
      name,
      pid: child.pid,
      port: info.port as number,
      path: (info.path as string | undefined) ?? '/',
      secret: (info.secret as string | undefined) ?? '',
    };
    await sleep(500);
    const rawBase = processMemory(child.pid)!.rssKiB;
    const base = await probe(child);
    const token = name === 'ferry' ? issueToken(target.secret, 'bench-tech', 24 * 3600) : '';
    const open: PairLinks[] = [];
    let next = 0;
    /** Opens pairs until `goal` are open, SETUP_CONCURRENCY at a time, then leaves them idle. */
    const openUpTo = async (goal: number) => {
      const opener = async () => {
        while (next < goal) {
          const index = next++;
          const links = await openPair(target, `p${index}`, token);
          links.a.onBinary = (payload, link) => answerPing(payload, link);
          links.b.onBinary = (payload, link) => answerPing(payload, link);
          open.push(links);
        }
      };
      await Promise.all(Array.from({ length: SETUP_CONCURRENCY }, opener));
      await sleep(Number(values['idle-ms']));
    };
    await openUpTo(pairs);
    const rawIdle = processMemory(child.pid)!.rssKiB;
    const idle = await probe(child);
    const space = (p: Probe, s: string) => p.spaces[s]?.size ?? 0;
    const native = (p: Probe) => p.rss - p.heapTotal - p.external;
    // the slope: what `more` pairs add to a process that has served `pairs` already (its
    // constants, JIT code and the heap's and malloc's growth in the first burst, are paid)
    let marginal = '';
    if (more > 0) {
      const goal = pairs + more;
      await openUpTo(goal);
      const rawMore = processMemory(child.pid)!.rssKiB;
      const after = await probe(child);
      marginal =
        `KiB per pair for ${more} more pairs (${pairs} -> ${goal}, the slope):\n` +
        `  RSS delta, no GC                                   ${((rawMore - rawIdle) / more).toFixed(2)}\n` +
        `  RSS delta, after GC                                ${kib(after.rss - idle.rss, more)}\n` +
        `  V8 heap used after GC                              ${kib(after.heapUsed - idle.heapUsed, more)}\n` +
        `  external (ArrayBuffers etc.)                       ${kib(after.external - idle.external, more)}\n` +
        `  native (RSS - heap committed - external)           ${kib(native(after) - native(idle), more)}\n`;
    }
    process.stdout.write(
      `\n== ${name}: ${pairs} pairs idle ${values['idle-ms']} ms, flags ${[...(name === 'ferry' ? ferryEnvText(values['ferry-env'] ?? []) : []), ...launch, ...(name === 'ferry' ? (values['ferry-set'] ?? []) : [])].join(' ') || '(none)'}\n` +
        `RSS MiB: base ${(rawBase / 1024).toFixed(1)}, idle ${(rawIdle / 1024).toFixed(1)} (before GC), ${(idle.rss / 1048576).toFixed(1)} after GC\n` +
        `KiB per pair (both legs):\n` +
        `  RSS delta, no GC (the bench's "idle KiB/session")  ${((rawIdle - rawBase) / pairs).toFixed(2)}\n` +
        `  RSS delta, after GC                                ${kib(idle.rss - base.rss, pairs)}\n` +
        `  V8 heap used after GC                              ${kib(idle.heapUsed - base.heapUsed, pairs)}\n` +
        `  V8 heap committed (all spaces)                     ${kib(idle.heapTotal - base.heapTotal, pairs)}\n` +
        `    new space committed                              ${kib(space(idle, 'new_space') - space(base, 'new_space'), pairs)}\n` +
        `    old space committed                              ${kib(space(idle, 'old_space') - space(base, 'old_space'), pairs)}\n` +
        `  external (ArrayBuffers etc.)                       ${kib(idle.external - base.external, pairs)}\n` +
        `  native (RSS - heap committed - external)           ${kib(native(idle) - native(base), pairs)}\n` +
        marginal,
    );
    if (snapshotDir !== null && base.snapshot !== null && idle.snapshot !== null) {
      // writing a snapshot grows the process by tens of MiB of malloc it keeps: 1000 idle Ferry
      // pairs read 85.7 KiB a pair with snapshots against 27.1 without
      process.stdout.write(
        'note: the RSS and native figures above include what writing the heap snapshots kept; read them from a run without --snapshot\n',
      );
      const before = aggregate(base.snapshot);
      const after = aggregate(idle.snapshot);
      const rows: [string, number, number][] = [];
      for (const [key, a] of after) {
        const b = before.get(key) ?? { bytes: 0, count: 0 };
        rows.push([key, a.bytes - b.bytes, a.count - b.count]);
      }
      rows.sort((x, y) => y[1] - x[1]);
      const total = rows.reduce((s, r) => s + r[1], 0);
      process.stdout.write(
        `heap snapshot diff, self bytes per pair (total ${(total / 1024 / pairs).toFixed(2)} KiB):\n`,
      );
      for (const [key, bytes, count] of rows.slice(0, Number(values.top))) {
        process.stdout.write(
          `  ${(bytes / pairs).toFixed(0).padStart(7)} B  ${(count / pairs).toFixed(2).padStart(6)} objs  ${key}\n`,
        );
      }
    }
    let unclosed = 0;
    await Promise.all(
      open.map((p) =>
        closePair(target, p, 2000).catch(() => {
          unclosed++;
        }),
      ),
    );
    if (unclosed > 0) process.stdout.write(`${unclosed} pairs did not close cleanly\n`);
  } finally {
    await child.stop();
  }
}

installCleanup();
const pairs = Number(values.pairs);
const more = Number(values.more);
const keepDir = values['snapshot-dir'] ?? null;
if (keepDir !== null) fs.mkdirSync(keepDir, { recursive: true });
const snapshotDir =
  keepDir ?? (values.snapshot ? fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-mem-')) : null);
try {
  for (const name of values.targets.split(',') as TargetName[]) {
    await measure(name, pairs, snapshotDir);
  }
} finally {
  if (snapshotDir !== null && keepDir === null) {
    fs.rmSync(snapshotDir, { recursive: true, force: true });
  }
}
