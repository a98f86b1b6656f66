import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashKey } from "./hash-key.js";
import { xxHash64 } from "./xxhash64.js";
import { buildPoints, DEFAULT_POINTS_PER_SHARD, pointPosition, POINTS_PER_SHARD_MAX, Ring, RING_POINTS_MAX, type ShardId, successorIndex } from "./ring.js";

const shardIds = (minLength: number) => fc.uniqueArray(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength, maxLength: 10 });
const keys = fc.array(fc.string({ maxLength: 24 }), { minLength: 1, maxLength: 200 });
/** Few points keep properties fast; the properties hold for any count. */
const smallPoints = fc.integer({ min: 1, max: 48 });

describe("Ring construction", () => {
  it.each<[string, ShardId[], number | undefined, RegExp]>([
    ["no shards", [], undefined, /at least one shard/],
    ["a duplicate shard id", [3, 7, 3], undefined, /duplicate shard id 3/],
    ["a negative id", [-1], undefined, /shard id -1 is not an integer/],
    ["a fractional id", [1.5], undefined, /shard id 1.5 is not an integer/],
    ["an id above uint32", [2 ** 32], undefined, /shard id 4294967296/],
    ["a NaN id", [Number.NaN], undefined, /shard id NaN/],
    ["zero points", [1], 0, /pointsPerShard 0/],
    ["fractional points", [1], 2.5, /pointsPerShard 2.5/],
    ["too many points per shard", [1], POINTS_PER_SHARD_MAX + 1, /pointsPerShard/],
    ["too many points in total", Array.from({ length: 65 }, (_, i) => i), POINTS_PER_SHARD_MAX, /RING_POINTS_MAX/],
  ])("rejects %s", (_, shards, pointsPerShard, message) => {
    expect(() => new Ring(shards, pointsPerShard === undefined ? {} : { pointsPerShard })).toThrow(message);
  });

  it("exposes sorted, frozen shards and the default points", () => {
    const ring = new Ring([9, 2, 5]);
    expect(ring.shards).toEqual([2, 5, 9]);
    expect(Object.isFrozen(ring.shards)).toBe(true);
    expect(ring.pointsPerShard).toBe(DEFAULT_POINTS_PER_SHARD);
    expect(RING_POINTS_MAX).toBeGreaterThanOrEqual(64 * DEFAULT_POINTS_PER_SHARD);
  });

  it("rejects adding a present shard and removing an absent or the last one", () => {
    const ring = new Ring([1, 2], { pointsPerShard: 4 });
    expect(() => ring.withShard(2)).toThrow(/already on the ring/);
    expect(() => ring.withoutShard(3)).toThrow(/not on the ring/);
    expect(() => ring.withoutShard(1).withoutShard(2)).toThrow(/at least one shard/);
  });

  it("keeps pointsPerShard across withShard and withoutShard", () => {
    const ring = new Ring([1, 2], { pointsPerShard: 7 });
    expect(ring.withShard(3).pointsPerShard).toBe(7);
    expect(ring.withoutShard(1).pointsPerShard).toBe(7);
    expect(ring.shards).toEqual([1, 2]);
  });
});

describe("Ring key movement", () => {
  it("moves keys only to an added shard", () => {
    fc.assert(
      fc.property(shardIds(2), smallPoints, keys, ([added, ...shards], pointsPerShard, sample) => {
        const before = new Ring(shards, { pointsPerShard });
        const after = before.withShard(added!);
        for (const key of sample) {
          const owner = after.shardFor(key);
          expect(owner === added || owner === before.shardFor(key)).toBe(true);
        }
      }),
    );
  });

  it("moves only the removed shard's keys", () => {
    fc.assert(
      fc.property(shardIds(2), smallPoints, keys, ([removed, ...others], pointsPerShard, sample) => {
        const before = new Ring([removed!, ...others], { pointsPerShard });
        const after = before.withoutShard(removed!);
        for (const key of sample) {
          const owner = before.shardFor(key);
          if (owner !== removed) expect(after.shardFor(key)).toBe(owner);
          else expect(after.shardFor(key)).not.toBe(removed);
        }
      }),
    );
  });

  it("maps keys the same whatever the order shards are given in", () => {
    fc.assert(
      fc.property(shardIds(1), smallPoints, keys, fc.infiniteStream(fc.nat()), (shards, pointsPerShard, sample, rolls) => {
        const shuffled = [...shards].sort(() => (rolls.next().value % 3) - 1);
        const a = new Ring(shards, { pointsPerShard });
        const b = new Ring(shuffled, { pointsPerShard });
        for (const key of sample) expect(b.shardFor(key)).toBe(a.shardFor(key));
        expect(b.arcShares()).toEqual(a.arcShares());
      }),
    );
  });
});

describe("Ring placement", () => {
  /** Every shard's point i sits at position (0, i * 1000): all shards collide. */
  const colliding = (_shard: ShardId, pointIndex: number, out: Uint32Array): void => {
    out[0] = 0;
    out[1] = pointIndex * 1000;
  };

  it("gives a position collision to the lowest shard id, in any input order", () => {
    for (const order of [
      [5, 3, 9],
      [9, 5, 3],
      [3, 9, 5],
    ]) {
      const points = buildPoints(order, 4, colliding);
      expect([...points.shard]).toEqual([3, 3, 3, 3]);
      expect([...points.lo]).toEqual([0, 1000, 2000, 3000]);
    }
  });

  it("owns a position by the first point at or after it, wrapping past the top", () => {
    const points = buildPoints([1], 3, colliding);
    expect(successorIndex(points, 0, 0)).toBe(0);
    expect(successorIndex(points, 0, 1)).toBe(1);
    expect(successorIndex(points, 0, 1000)).toBe(1);
    expect(successorIndex(points, 0, 2001)).toBe(0);
    expect(successorIndex(points, 0xffff_ffff, 0xffff_ffff)).toBe(0);
  });

  it("assigns a key to the shard of the point at its exact hash", () => {
    const ring = new Ring([11, 22, 33], { pointsPerShard: 16 });
    const position = new Uint32Array(2);
    pointPosition(22, 5, position);
    expect(ring.shardForPosition(position[0]!, position[1]!)).toBe(22);
    const { hi, lo } = hashKey("some key");
    expect(ring.shardForPosition(hi, lo)).toBe(ring.shardFor("some key"));
  });

  it("splits the circle into arc shares that sum to one", () => {
    expect(new Ring([4], { pointsPerShard: 1 }).arcShares()).toEqual(new Map([[4, 1]]));
    const shares = new Ring([1, 2, 3, 4, 5], { pointsPerShard: 50 }).arcShares();
    expect([...shares.keys()]).toEqual([1, 2, 3, 4, 5]);
    expect([...shares.values()].reduce((sum, share) => sum + share, 0)).toBeCloseTo(1, 12);
  });

  it("sends random keys to shards in proportion to their arc shares", () => {
    const ring = new Ring([101, 202, 303, 404, 505, 606], { pointsPerShard: 8 });
    const counts = new Map<ShardId, number>();
    const keyCount = 120_000;
    for (let index = 0; index < keyCount; index++) {
      const shard = ring.shardFor(`key-${index}`);
      counts.set(shard, (counts.get(shard) ?? 0) + 1);
    }
    // Standard error of a share near 1/6 over 120k keys is about 0.001.
    for (const [shard, share] of ring.arcShares()) {
      expect(Math.abs((counts.get(shard) ?? 0) / keyCount - share)).toBeLessThan(0.006);
    }
  });
});

describe("Ring golden mapping", () => {
  // Pinned outputs: a change to the hash, the point encoding or the lookup
  // rule changes where keys live, which must be a deliberate, migrated change.
  it("pins virtual point positions", () => {
    const position = new Uint32Array(2);
    const pinned = GOLDEN_POINTS.map(([shard, pointIndex]) => {
      pointPosition(shard, pointIndex, position);
      return [shard, pointIndex, position[0]!, position[1]!];
    });
    expect(pinned).toEqual(GOLDEN_POINTS);
  });

  it.each(GOLDEN_MAPPINGS)("pins key to shard for shards %j at the default points", (shards, owners) => {
    expect(DEFAULT_POINTS_PER_SHARD).toBe(2048);
    const ring = new Ring(shards);
    expect(GOLDEN_KEYS.map((key) => ring.shardFor(key))).toEqual(owners);
  });

  it("places point i of a shard at XXH64 of (shard u32 LE, i u32 LE)", () => {
    const position = new Uint32Array(2);
    pointPosition(0x01020304, 0x0a0b0c0d, position);
    const bytes = Uint8Array.from([0x04, 0x03, 0x02, 0x01, 0x0d, 0x0c, 0x0b, 0x0a]);
    expect({ hi: position[0], lo: position[1] }).toEqual(xxHash64(bytes));
  });
});

const GOLDEN_POINTS: ReadonlyArray<readonly [ShardId, number, number, number]> = [
  [0, 0, 0x34c96acd, 0xcadb1bbb],
  [0, 1, 0xca6084df, 0x268ea2a9],
  [1, 0, 0x9f29cb17, 0xa2a49995],
  [11, 2047, 0x9f7f7582, 0x7be8ce3b],
  [4294967295, 7, 0x45ba416f, 0x68034816],
];

const GOLDEN_KEYS = [
  "",
  "a",
  "user:1",
  "user:2",
  "user:42",
  "session/7f3a",
  "ключ",
  "鍵",
  "🙂",
  "a\ud800b",
  "x".repeat(100),
  "counter:visits",
  "cart:1001",
  "cart:1002",
  "cart:1003",
  "cart:1004",
];

/** [shards, expected owner of each GOLDEN_KEYS entry] at the default points per shard. */
const GOLDEN_MAPPINGS: ReadonlyArray<readonly [ShardId[], ShardId[]]> = [
  [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    [6, 5, 11, 4, 6, 5, 9, 1, 10, 4, 3, 6, 5, 8, 8, 1],
  ],
  [
    [3735928559, 17, 4294967295, 0, 123456789],
    [123456789, 17, 3735928559, 17, 17, 4294967295, 17, 3735928559, 3735928559, 17, 17, 3735928559, 123456789, 4294967295, 123456789, 0],
  ],
];
