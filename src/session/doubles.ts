/**
 * Small per-session arrays of numbers, held as plain arrays of unboxed doubles.
 *
 * A typed array costs two heap objects (the view and its `ArrayBuffer`) and, above 64 bytes of
 * data, a backing store outside the heap with its own bookkeeping: about 400 bytes besides its
 * data. A plain array whose elements V8 holds as doubles (PACKED_DOUBLE_ELEMENTS) is one object
 * and one block, stores and increments allocate nothing, and reads are as fast in optimized code.
 * Sessions and links keep a few such arrays each, so with thousands of idle sessions the
 * difference is the bulk of their counters' memory (docs/benchmarks.md, "Idle memory per
 * session").
 */

/**
 * `length` zeros in an array V8 holds as unboxed doubles from the start, with no spare capacity:
 * built from a non-integer so its elements kind is double before anything is stored, not a
 * small-integer kind that turns into doubles (a new backing store) the first time a counter holds
 * a fraction or passes 2^30. Zeros stored into it keep the kind. Each length's first array is
 * kept as a template, and the others are copies of it (`slice` keeps the kind and the length).
 */
export function doubles(length: number): number[] {
  let template = templates.get(length);
  if (template === undefined) {
    template = Array.from({ length }, () => 0.5).fill(0);
    templates.set(length, template);
  }
  return template.slice();
}

/** One zero-filled template per length asked for (a handful: the callers' fixed sizes). */
const templates = new Map<number, readonly number[]>();
