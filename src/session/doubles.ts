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
 * a fraction or leaves the small-integer range. Zeros stored into it keep the kind. Each length's
 * first array is kept as a template, and the others are copies of it (`slice` keeps the kind and
 * the length).
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

/**
 * The first value of a counter field that may leave V8's small-integer range (2^31 on Node's x64
 * builds, 2^30 where V8 compresses pointers; a link's byte count does after 2 GiB): a class
 * declares the field with it and zeroes the field in its constructor. V8 stores a field as the kind
 * of number it first holds. Declared as `= 0`, the field is a small integer until its value leaves
 * that range; V8 then gives the objects a new hidden class and deoptimizes every function compiled
 * against the old one, which for a connection's counters is the whole frame path, under full
 * traffic (docs/benchmarks.md, "A counter past the small-integer range"). Declared with this, the
 * field is a double from the start, and zero stored into it keeps the kind.
 */
export const DOUBLE_FIELD = 0.5;
