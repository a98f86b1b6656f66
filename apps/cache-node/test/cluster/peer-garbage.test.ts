import { asLogIndex, asNodeId, asTerm, type PeerMessage } from "@distcache/raft";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFrames } from "../../src/peer/wire/frame-reader.js";
import { CHALLENGE_BYTES, CLUSTER_ID_BYTES, PREAMBLE_BYTES, answer } from "../../src/peer/peer-handshake.js";
import { encodePeerBatch } from "../../src/peer/wire/peer-wire.js";
import { STRONG, TestCluster, keyForShard, text } from "./cluster-harness.js";

// Someone holding the peer secret (or a buggy peer) sends frames that once reached
// assertions in the Raft core of a real node. The node closes each connection and keeps
// serving strong reads.

const SECRET = "cluster-peer-garbage-secret-0123456789";
const secretDir = mkdtempSync(join(tmpdir(), "distcache-peer-secret-"));
let cluster: TestCluster;

beforeAll(async () => {
  const file = join(secretDir, "secret");
  writeFileSync(file, SECRET);
  cluster = await TestCluster.start(3, ["--peer-secret-file", file]);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
  rmSync(secretDir, { recursive: true, force: true });
});

/** Opens a connection to `target`'s peer port, authenticated as `from`, and sends one frame. */
async function sendAuthenticated(target: string, from: string, payload: Uint8Array): Promise<"closed" | "open"> {
  const socket = net.connect(cluster.peerPort(target), "127.0.0.1");
  socket.on("error", () => undefined);
  const closed = new Promise<"closed">((resolve) => socket.once("close", () => resolve("closed")));
  let received = Buffer.alloc(0);
  let answered = false;
  const accepted = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!answered && received.length >= CHALLENGE_BYTES) {
        answered = true;
        // A member's answer: it names the cluster the listener's challenge names, and the member's incarnation.
        const challenge = received.subarray(0, CHALLENGE_BYTES);
        const clusterId = challenge.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + CLUSTER_ID_BYTES);
        socket.write(answer(SECRET, challenge, from, target, clusterId, cluster.incarnation(from)));
      }
      if (answered && received.length > CHALLENGE_BYTES) resolve();
    });
  });
  await accepted;
  socket.write(encodeFrames([payload]));
  const outcome = await Promise.race([closed, new Promise<"open">((r) => setTimeout(() => r("open"), 5000))]);
  socket.destroy();
  return outcome;
}

describe("garbage after a valid peer handshake", () => {
  it("closes the connection, and the node still answers a STRONG Get", async () => {
    const shard = 0;
    const key = keyForShard(shard, "garbage");
    await cluster.client(await cluster.leaderOf(shard)).set({ key, payload: text("before") });
    const target = await cluster.leaderOf(shard);
    const peer = [...cluster.nodes.keys()].find((id) => id !== target)!;
    const stats = await cluster.client(target).stats({});
    const term = asTerm(Number(stats.shards.find((s) => s.shard === shard)!.term));
    const from = asNodeId(peer);
    const to = asNodeId(target);
    const batch = (message: Record<string, unknown>) => encodePeerBatch([{ group: shard, message: { from, to, ...message } as PeerMessage }]);
    const frames: [string, Uint8Array][] = [
      // Each of these once made the core assert (and the node exit).
      ["a heartbeat committing past the log", batch({ type: "heartbeat", term: asTerm(term + 1), commit: asLogIndex(1e9), readRound: 0 })],
      [
        "an acknowledgement of entries the leader never sent",
        batch({ type: "appResp", term, index: asLogIndex(1e9), reject: false, conflictTerm: asTerm(0), conflictIndex: asLogIndex(0) }),
      ],
      ["a message for a shard that does not exist", encodePeerBatch([{ group: 4000, message: { type: "heartbeatResp", from, to, term, readRound: 0 } }])],
      ["random bytes", new Uint8Array([0x0a, 0x03, 0xff, 0xff, 0xff])],
    ];
    const rejectedBefore = await cluster.driverCounter(target, "peerFramesRejected");
    for (const [name, payload] of frames) expect(await sendAuthenticated(target, peer, payload), name).toBe("closed");
    expect(await cluster.driverCounter(target, "peerFramesRejected")).toBe(rejectedBefore + frames.length);
    for (const node of cluster.nodes.values()) expect(node.child.exitCode, `${node.nodeId} exited`).toBeNull();

    await cluster.client(target).set({ key, payload: text("after") });
    for (const id of cluster.nodes.keys()) {
      const got = await cluster.client(id).get({ key, consistency: STRONG });
      expect(got.payload).toEqual(text("after"));
    }
  });
});
