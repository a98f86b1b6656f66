import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { PROTOCOL_LIMITS } from "@distcache/proto/limits";
import { CommandSchema, SetOpSchema } from "@distcache/proto/raft";
import { asLogIndex, asNodeId, asTerm, type SnapshotMessage } from "@distcache/raft";
import { SnapshotFiles } from "@distcache/raft/snapshot";
import { Store } from "@distcache/store";
import { describe, expect, it } from "vitest";
import { ShardStateMachine, SNAPSHOT_CHUNK_BYTES_MAX, type ReplicaSnapshot } from "../state-machine/shard-state-machine.js";
import { PEER_FRAME_BYTES_MAX_DEFAULT, PEER_QUEUE_BYTES_MAX_DEFAULT } from "./peer-transport.js";
import { encodeFrames, FrameReader } from "./wire/frame-reader.js";
import { decodeSnapshotChunks, encodeSnapshotChunk, SEND_BACKLOG_BYTES, SNAPSHOT_FRAME_BYTES_MAX } from "./wire/snapshot-wire.js";

const encoder = new TextEncoder();

function command(stampMs: number, key: string, value: Uint8Array | string): Uint8Array {
  const set = create(SetOpSchema, { key, value: typeof value === "string" ? encoder.encode(value) : value, text: typeof value === "string" });
  return toBinary(CommandSchema, create(CommandSchema, { stampMs: BigInt(stampMs), op: { case: "set", value: set } }));
}

describe("a snapshot holding a value of the protocol's largest size", () => {
  const from = asNodeId("n1");
  const self = asNodeId("n2");
  const message: SnapshotMessage = {
    type: "snapshot",
    from,
    to: self,
    term: asTerm(3),
    snapshot: { index: asLogIndex(3), term: asTerm(2), confState: { voters: ["n1", "n2", "n3"].map(asNodeId), learners: [] } },
  };
  const big = { entriesMax: 100, bytesMax: 2 * PROTOCOL_LIMITS.valueBytesMax };

  function bigReplica(): { machine: ShardStateMachine; snapshot: ReplicaSnapshot } {
    const machine = new ShardStateMachine(0, new Store(big));
    const value = new Uint8Array(PROTOCOL_LIMITS.valueBytesMax);
    for (let i = 0; i < value.length; i += 4096) value[i] = i & 0xff;
    machine.apply(1, command(1000, "small", "x"));
    machine.apply(2, command(1001, "k".repeat(PROTOCOL_LIMITS.keyBytesMax), value));
    machine.apply(3, command(1002, "after", "y"));
    expect(machine.appliedIndex).toBe(3);
    expect(machine.store.size).toBe(3);
    return { machine, snapshot: machine.snapshot() };
  }

  it("fits every limit by construction", () => {
    expect(SNAPSHOT_FRAME_BYTES_MAX).toBeLessThanOrEqual(PEER_FRAME_BYTES_MAX_DEFAULT);
    expect(SEND_BACKLOG_BYTES + SNAPSHOT_FRAME_BYTES_MAX).toBeLessThanOrEqual(PEER_QUEUE_BYTES_MAX_DEFAULT);
  });

  it("streams through the snapshot frames and the peer frame reader, and restores", () => {
    const { machine, snapshot } = bigReplica();
    const chunks = [...snapshot.chunks()];
    expect(chunks.length).toBeGreaterThan(16);
    const reader = new FrameReader(PEER_FRAME_BYTES_MAX_DEFAULT);
    const target = new ShardStateMachine(0, new Store(big));
    const restorer = target.restorer();
    let received = 0;
    chunks.forEach((chunk, seq) => {
      expect(chunk.length).toBeLessThanOrEqual(SNAPSHOT_CHUNK_BYTES_MAX);
      const frame = encodeSnapshotChunk(0, message, seq, seq === chunks.length - 1, chunk);
      expect(frame.length).toBeLessThanOrEqual(SNAPSHOT_FRAME_BYTES_MAX);
      // The bytes arrive in pieces, as from a socket.
      const wire = encodeFrames([frame]);
      const frames = [];
      for (let offset = 0; offset < wire.length; offset += 1 << 20) frames.push(...reader.push(wire.subarray(offset, offset + (1 << 20))));
      expect(frames).toHaveLength(1);
      for (const got of decodeSnapshotChunks(frames[0]!, from, self)) {
        expect(got.seq).toBe(received++);
        restorer.push(got.data);
      }
    });
    target.install(restorer.finish());
    expect(target.digest()).toBe(machine.digest());
    expect(target.store.peek("k".repeat(PROTOCOL_LIMITS.keyBytesMax), 2000)?.value.length).toBe(PROTOCOL_LIMITS.valueBytesMax);
  }, 120_000);

  it("is written to a snapshot file and read back", async () => {
    const { machine, snapshot } = bigReplica();
    const dir = mkdtempSync(join(tmpdir(), "distcache-big-snapshot-"));
    try {
      const files = new SnapshotFiles(dir);
      const meta = { group: 0, index: 3, term: 2 };
      await files.write(meta, snapshot.chunks());
      const restored = new ShardStateMachine(0, new Store(big));
      restored.restore(await files.read(meta));
      expect(restored.digest()).toBe(machine.digest());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
