// Which key each operation uses: uniform over N keys, or Zipf (s = 0.99, key 0 the most
// frequent), from a seeded generator so that every run of a workload draws the same keys.

/** A small seeded generator (mulberry32): floats in [0, 1). */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A function that returns the next key index in [0, count).
 * @param {{ count: number, distribution: "uniform" | "zipf", seed: number }} options
 */
export function keyPicker({ count, distribution, seed }) {
  const random = seededRandom(seed);
  if (distribution === "uniform") return () => Math.floor(random() * count);
  if (distribution !== "zipf") throw new Error(`unknown key distribution ${distribution}; use uniform or zipf`);
  // The cumulative weights of 1/(i+1)^s, searched by bisection: O(log N) a draw.
  const s = 0.99;
  const cumulative = new Float64Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += 1 / Math.pow(i + 1, s);
    cumulative[i] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = count - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle] < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

/** The name of key `i`, the same for every target. */
export const keyName = (i) => `key:${i}`;

/** The names of `count` consecutive keys from key `from`: one batch (MGet, MSet). */
export const keyNames = (from, count) => Array.from({ length: count }, (_, i) => keyName(from + i));
