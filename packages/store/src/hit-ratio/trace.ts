import { Prng } from "../prng.js";

/** A request trace: key ids in [0, keyCount), one per request. */
export interface Trace {
  readonly name: string;
  readonly requests: Int32Array;
  readonly keyCount: number;
}

/** Samples ranks 0..universe-1 with P(rank r) proportional to 1 / (r + 1)^exponent. */
export class ZipfSampler {
  private readonly cumulative: Float64Array;

  constructor(
    readonly universe: number,
    readonly exponent: number,
  ) {
    this.cumulative = new Float64Array(universe);
    let total = 0;
    for (let rank = 0; rank < universe; rank++) {
      total += 1 / Math.pow(rank + 1, exponent);
      this.cumulative[rank] = total;
    }
    for (let rank = 0; rank < universe; rank++) this.cumulative[rank] = (this.cumulative[rank] as number) / total;
  }

  /** The first rank whose cumulative probability exceeds a uniform draw (binary search). */
  sample(prng: Prng): number {
    const draw = prng.nextFloat();
    let low = 0;
    let high = this.universe - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.cumulative[middle] as number) > draw) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}

export interface ZipfTraceOptions {
  universe: number;
  exponent: number;
  length: number;
  seed: number;
}

/** Independent Zipf-distributed requests over `universe` keys (key id = popularity rank). */
export function zipfTrace({ universe, exponent, length, seed }: ZipfTraceOptions): Trace {
  const prng = new Prng(seed);
  const sampler = new ZipfSampler(universe, exponent);
  const requests = new Int32Array(length);
  for (let index = 0; index < length; index++) requests[index] = sampler.sample(prng);
  return { name: `zipf s=${exponent}`, requests, keyCount: universe };
}

export interface ScanPollutedTraceOptions extends ZipfTraceOptions {
  /** Requests per cycle; each cycle ends with one scan. */
  scanEveryRequests: number;
  /** Keys per scan: fresh, sequential, never requested again. */
  scanLength: number;
}

/**
 * Zipf requests polluted by long one-time sequential scans (a batch job reading
 * through cold data): the last `scanLength` requests of every cycle are fresh keys.
 */
export function scanPollutedTrace(options: ScanPollutedTraceOptions): Trace {
  const { universe, exponent, length, seed, scanEveryRequests, scanLength } = options;
  const prng = new Prng(seed);
  const sampler = new ZipfSampler(universe, exponent);
  const requests = new Int32Array(length);
  let scanned = 0;
  for (let index = 0; index < length; index++) {
    const inScan = index % scanEveryRequests >= scanEveryRequests - scanLength;
    requests[index] = inScan ? universe + scanned++ : sampler.sample(prng);
  }
  return { name: `scan-polluted (zipf s=${exponent}, ${scanLength}-key scan every ${scanEveryRequests})`, requests, keyCount: universe + scanned };
}

export interface ShiftingHotSetTraceOptions {
  universe: number;
  length: number;
  seed: number;
  /** Keys in the hot set. */
  hotSetSize: number;
  /** Share of requests that go to the hot set; the rest are uniform over the universe. */
  hotFraction: number;
  /** The hot set moves to a new random place every this many requests. */
  shiftEveryRequests: number;
}

/** A hot set of contiguous keys that receives most requests and jumps elsewhere periodically. */
export function shiftingHotSetTrace(options: ShiftingHotSetTraceOptions): Trace {
  const { universe, length, seed, hotSetSize, hotFraction, shiftEveryRequests } = options;
  const prng = new Prng(seed);
  const requests = new Int32Array(length);
  let hotStart = 0;
  for (let index = 0; index < length; index++) {
    if (index % shiftEveryRequests === 0) hotStart = prng.nextBelow(universe);
    const hot = prng.nextFloat() < hotFraction;
    requests[index] = hot ? (hotStart + prng.nextBelow(hotSetSize)) % universe : prng.nextBelow(universe);
  }
  const name = `shifting hot set (${hotSetSize} keys get ${Math.round(hotFraction * 100)}%, moves every ${shiftEveryRequests})`;
  return { name, requests, keyCount: universe };
}
