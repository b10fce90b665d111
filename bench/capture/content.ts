/**
 * Desktop-like pixels for the capture bench: tiles that look like a window full of text (light
 * background, dark glyph strokes in lines) or like flat interface parts (bars, buttons). Seeded,
 * so every run paints the same screen.
 */

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A tile of text: lines 14 px apart, words of 6 px glyphs made of strokes. Packed RGB. */
export function textTile(seed: number, width: number, height: number): Uint8Array {
  const rnd = prng(seed);
  const out = new Uint8Array(width * height * 3).fill(246);
  const ink = [30 + Math.floor(rnd() * 40), 30, 40 + Math.floor(rnd() * 60)];
  for (let line = 2; line + 10 < height; line += 14) {
    let x = Math.floor(rnd() * 6);
    while (x + 6 < width) {
      const letters = 2 + Math.floor(rnd() * 7);
      for (let l = 0; l < letters && x + 6 < width; l++, x += 6) {
        // a glyph: a few vertical and horizontal strokes in a 5x9 cell
        const strokes = 2 + Math.floor(rnd() * 3);
        for (let s = 0; s < strokes; s++) {
          const vertical = rnd() < 0.5;
          const sx = x + Math.floor(rnd() * 5);
          const sy = line + Math.floor(rnd() * 9);
          const len = 2 + Math.floor(rnd() * 7);
          for (let k = 0; k < len; k++) {
            const px = vertical ? sx : Math.min(x + 4, sx + k);
            const py = vertical ? Math.min(line + 9, sy + k) : sy;
            const i = (py * width + px) * 3;
            out[i] = ink[0]!;
            out[i + 1] = ink[1]!;
            out[i + 2] = ink[2]!;
          }
        }
      }
      x += 6; // the space between words
    }
  }
  return out;
}

/** A flat interface tile: a vertical gradient bar with a lighter button. Packed RGB. */
export function flatTile(seed: number, width: number, height: number): Uint8Array {
  const rnd = prng(seed);
  const base = [60 + rnd() * 150, 60 + rnd() * 150, 90 + rnd() * 150];
  const out = new Uint8Array(width * height * 3);
  const bx = Math.floor(rnd() * width * 0.5);
  const by = Math.floor(rnd() * height * 0.5);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const button = x >= bx && x < bx + 24 && y >= by && y < by + 14 ? 40 : 0;
      for (let c = 0; c < 3; c++) out[i + c] = Math.min(255, base[c]! + y * 0.5 + button);
    }
  }
  return out;
}

/** The tile at grid place `index` of version `version`: mostly text, a fifth flat. */
export function desktopTile(
  index: number,
  version: number,
  width: number,
  height: number,
): Uint8Array {
  const seed = index * 7919 + version * 104729;
  return index % 5 === 0 ? flatTile(seed, width, height) : textTile(seed, width, height);
}
