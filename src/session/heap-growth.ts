/**
 * How far V8 may grow its old generation between two mark-compacts (`--heap-growth-percent`).
 *
 * After a mark-compact V8 sets the next one's limit at the live heap times a factor it derives
 * from how fast the program allocates against how fast it collects: anywhere from 1.1 to 4. A
 * gateway's live heap is flat under steady load, but a burst (a restart's restore followed by
 * every client resuming, or a machine whose other processes slow the collector) makes V8 pick a
 * factor near 4, and the heap then climbs 40-50 MB over the next minute before it is collected.
 * Measured in the faults soak (docs/benchmarks.md, "Soak with faults"): with a live heap of
 * 23-24 MB, RSS rose 28-30 MB in one life of a run whose other life settled, depending on when
 * such a burst landed. A fixed factor bounds the sawtooth: the heap is collected at about
 * 1.5 times what is live, whatever came before.
 *
 * The setting is V8's `--heap-growing-percent`, read at every limit computation, so it can be set
 * once the program runs; it is process-wide (gateways in one process share the one V8 heap).
 * 0 leaves the factor to V8.
 */
import v8 from 'node:v8';

/** The percentage applied last in this process (0: V8 chooses). */
let applied = 0;

/** Sets V8's old-generation growing factor to 1 + percent / 100 (0: V8's own choice). */
export function applyHeapGrowth(percent: number): void {
  if (percent === applied) return;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  applied = percent;
}

/** The percentage in force (tests). */
export function heapGrowthPercent(): number {
  return applied;
}
