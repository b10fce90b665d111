/**
 * Preloaded into a relay target by bench/relay/memory.ts (`node --expose-gc --import <this>`):
 * on SIGUSR2 it collects garbage (when `gc` is exposed), prints one JSON line
 * {"type":"memory", rss, heapUsed, external, arrayBuffers, spaces: {name: {size, used}}} on
 * stdout and, when FERRY_MEM_SNAPSHOT_DIR is set, writes a heap snapshot there first
 * (`<label>.heapsnapshot`, the label being the count of probes so far). It changes nothing else.
 */
import path from 'node:path';
import v8 from 'node:v8';

let probes = 0;

process.on('SIGUSR2', () => {
  const rawRss = process.memoryUsage.rss();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
  const dir = process.env.FERRY_MEM_SNAPSHOT_DIR;
  let snapshot: string | null = null;
  if (dir !== undefined && dir !== '') {
    snapshot = v8.writeHeapSnapshot(path.join(dir, `${probes}.heapsnapshot`));
  }
  probes++;
  const m = process.memoryUsage();
  const spaces: Record<string, { size: number; used: number }> = {};
  for (const s of v8.getHeapSpaceStatistics()) {
    spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
  }
  process.stdout.write(
    `${JSON.stringify({
      type: 'memory',
      rawRss,
      rss: m.rss,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      spaces,
      snapshot,
    })}\n`,
  );
});
