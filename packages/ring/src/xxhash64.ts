// xxHash64 (Yann Collet's XXH64, the 64-bit variant of xxHash) in plain JS.
//
// Why 32-bit halves instead of BigInt: the ring hashes every key on the
// request hot path, and BigInt arithmetic allocates on every operation (it runs
// ~50x slower here). Each 64-bit value is kept as two uint32 numbers (hi, lo);
// products are formed exactly from 16-bit limbs, because doubles are exact only
// below 2^53 and Math.imul yields only the low 32 bits of a 32x32 product.

/** A 64-bit hash as two unsigned 32-bit halves: value = hi * 2^32 + lo. */
export interface Hash64 {
  readonly hi: number;
  readonly lo: number;
}

// The five XXH64 primes, split into halves.
const PRIME1_HI = 0x9e3779b1;
const PRIME1_LO = 0x85ebca87;
const PRIME2_HI = 0xc2b2ae3d;
const PRIME2_LO = 0x27d4eb4f;
const PRIME3_HI = 0x165667b1;
const PRIME3_LO = 0x9e3779f9;
const PRIME4_HI = 0x85ebca77;
const PRIME4_LO = 0xc2b2ae63;
const PRIME5_HI = 0x27d4eb2f;
const PRIME5_LO = 0x165667c5;

const TWO_POW_32 = 0x1_0000_0000;

// Results of the 64-bit helpers: result[0] is hi, result[1] is lo. A typed
// array, because uint32 values above 2^31 stored in plain module variables get
// boxed as heap numbers on every write (that tripled the cost of a hash).
// The code is synchronous, so nothing interleaves between write and read.
const result = new Uint32Array(2);

/** (aHi:aLo * bHi:bLo) mod 2^64 into result. */
function multiply(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const low = a0 * b0;
  // Middle column plus the carry out of the lowest 16 bits: < 2^34, exact.
  const middle = a0 * b1 + a1 * b0 + (low >>> 16);
  result[1] = (((middle & 0xffff) << 16) | (low & 0xffff)) >>> 0;
  const carryHigh = a1 * b1 + Math.floor(middle / 0x10000);
  // Cross terms only reach the high word; their low 32 bits are all we need.
  result[0] = (carryHigh + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) >>> 0;
}

/** (aHi:aLo + bHi:bLo) mod 2^64 into result. */
function add(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = aLo + bLo;
  const carry = lo >= TWO_POW_32 ? 1 : 0;
  result[1] = lo >>> 0;
  result[0] = (aHi + bHi + carry) >>> 0;
}

/** Rotate left by bits in 1..31 into result. */
function rotateLeft(hi: number, lo: number, bits: number): void {
  result[0] = ((hi << bits) | (lo >>> (32 - bits))) >>> 0;
  result[1] = ((lo << bits) | (hi >>> (32 - bits))) >>> 0;
}

/** XXH64 round: acc = rotl(acc + lane * PRIME2, 31) * PRIME1. */
function round(accHi: number, accLo: number, laneHi: number, laneLo: number): void {
  multiply(laneHi, laneLo, PRIME2_HI, PRIME2_LO);
  add(accHi, accLo, result[0]!, result[1]!);
  rotateLeft(result[0]!, result[1]!, 31);
  multiply(result[0]!, result[1]!, PRIME1_HI, PRIME1_LO);
}

function readUint32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** Lanes of the 32-byte stripes; only inputs of 32 bytes or more use them. */
const lanes = new Uint32Array(8);

/** Consumes all whole 32-byte stripes and leaves the merged accumulator in result. */
function consumeStripes(bytes: Uint8Array, length: number, seedHi: number, seedLo: number): void {
  add(seedHi, seedLo, PRIME1_HI, PRIME1_LO);
  add(result[0]!, result[1]!, PRIME2_HI, PRIME2_LO);
  lanes[0] = result[0]!;
  lanes[1] = result[1]!;
  add(seedHi, seedLo, PRIME2_HI, PRIME2_LO);
  lanes[2] = result[0]!;
  lanes[3] = result[1]!;
  lanes[4] = seedHi;
  lanes[5] = seedLo;
  // seed - PRIME1 == seed + (2^64 - PRIME1).
  add(seedHi, seedLo, ~PRIME1_HI >>> 0, (~PRIME1_LO + 1) >>> 0);
  lanes[6] = result[0]!;
  lanes[7] = result[1]!;
  const stripesEnd = length - (length % 32);
  for (let offset = 0; offset < stripesEnd; offset += 32) {
    for (let lane = 0; lane < 4; lane++) {
      const at = offset + lane * 8;
      round(lanes[lane * 2]!, lanes[lane * 2 + 1]!, readUint32(bytes, at + 4), readUint32(bytes, at));
      lanes[lane * 2] = result[0]!;
      lanes[lane * 2 + 1] = result[1]!;
    }
  }
  mergeLanes();
}

const LANE_ROTATIONS = [1, 7, 12, 18] as const;

function mergeLanes(): void {
  let accHi = 0;
  let accLo = 0;
  for (let lane = 0; lane < 4; lane++) {
    rotateLeft(lanes[lane * 2]!, lanes[lane * 2 + 1]!, LANE_ROTATIONS[lane]!);
    add(accHi, accLo, result[0]!, result[1]!);
    accHi = result[0]!;
    accLo = result[1]!;
  }
  for (let lane = 0; lane < 4; lane++) {
    round(0, 0, lanes[lane * 2]!, lanes[lane * 2 + 1]!);
    // acc = (acc ^ round(0, lane)) * PRIME1 + PRIME4
    multiply((accHi ^ result[0]!) >>> 0, (accLo ^ result[1]!) >>> 0, PRIME1_HI, PRIME1_LO);
    add(result[0]!, result[1]!, PRIME4_HI, PRIME4_LO);
    accHi = result[0]!;
    accLo = result[1]!;
  }
  result[0] = accHi;
  result[1] = accLo;
}

/** XXH64 of bytes[0, length) with a 64-bit seed as halves, left in the result registers. */
function digest(bytes: Uint8Array, length: number, seedHi: number, seedLo: number): void {
  let hHi: number;
  let hLo: number;
  if (length >= 32) {
    consumeStripes(bytes, length, seedHi, seedLo);
  } else {
    add(seedHi, seedLo, PRIME5_HI, PRIME5_LO);
  }
  add(result[0]!, result[1]!, Math.floor(length / TWO_POW_32), length >>> 0);
  hHi = result[0]!;
  hLo = result[1]!;
  let offset = length - (length % 32);
  for (; offset + 8 <= length; offset += 8) {
    round(0, 0, readUint32(bytes, offset + 4), readUint32(bytes, offset));
    rotateLeft((hHi ^ result[0]!) >>> 0, (hLo ^ result[1]!) >>> 0, 27);
    multiply(result[0]!, result[1]!, PRIME1_HI, PRIME1_LO);
    add(result[0]!, result[1]!, PRIME4_HI, PRIME4_LO);
    hHi = result[0]!;
    hLo = result[1]!;
  }
  if (offset + 4 <= length) {
    multiply(0, readUint32(bytes, offset), PRIME1_HI, PRIME1_LO);
    rotateLeft((hHi ^ result[0]!) >>> 0, (hLo ^ result[1]!) >>> 0, 23);
    multiply(result[0]!, result[1]!, PRIME2_HI, PRIME2_LO);
    add(result[0]!, result[1]!, PRIME3_HI, PRIME3_LO);
    hHi = result[0]!;
    hLo = result[1]!;
    offset += 4;
  }
  for (; offset < length; offset++) {
    multiply(0, bytes[offset]!, PRIME5_HI, PRIME5_LO);
    rotateLeft((hHi ^ result[0]!) >>> 0, (hLo ^ result[1]!) >>> 0, 11);
    multiply(result[0]!, result[1]!, PRIME1_HI, PRIME1_LO);
    hHi = result[0]!;
    hLo = result[1]!;
  }
  avalanche(hHi, hLo);
}

/** Final mix: h ^= h >> 33; h *= PRIME2; h ^= h >> 29; h *= PRIME3; h ^= h >> 32. */
function avalanche(hi: number, lo: number): void {
  lo = (lo ^ (hi >>> 1)) >>> 0;
  multiply(hi, lo, PRIME2_HI, PRIME2_LO);
  hi = result[0]!;
  lo = (result[1]! ^ ((result[1]! >>> 29) | (result[0]! << 3))) >>> 0;
  hi = (hi ^ (hi >>> 29)) >>> 0;
  multiply(hi, lo, PRIME3_HI, PRIME3_LO);
  result[1] = (result[1]! ^ result[0]!) >>> 0;
}

/**
 * XXH64 of bytes[0, length) written into out[0] (hi) and out[1] (lo). The
 * allocation-free form for hot paths.
 */
export function xxHash64Into(bytes: Uint8Array, length: number, out: Uint32Array): void {
  digest(bytes, length, 0, 0);
  out[0] = result[0]!;
  out[1] = result[1]!;
}

/**
 * XXH64 of bytes, seed given as 64-bit halves (default 0), as { hi, lo }.
 * Matches the reference xxHash 64-bit digest read as a big-endian number
 * (e.g. xxHash64("" bytes) = 0xef46db3751d8e999).
 */
export function xxHash64(bytes: Uint8Array, seed: Hash64 = { hi: 0, lo: 0 }): Hash64 {
  digest(bytes, bytes.length, seed.hi >>> 0, seed.lo >>> 0);
  return { hi: result[0]!, lo: result[1]! };
}
