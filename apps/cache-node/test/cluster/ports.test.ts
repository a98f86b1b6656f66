import net from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CHALLENGE_BYTES, MAGIC } from "../../src/peer/peer-handshake.js";
import { TestCluster } from "./cluster-harness.js";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start(3);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

it("the client port serves no Raft endpoint", async () => {
  const url = cluster.nodes.get("n1")!.url;
  for (const path of ["/distcache.raft.v1.Raft/Step", "/distcache.raft.v1.PeerBatch", "/raft"]) {
    const res = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/proto" }, body: new Uint8Array([1, 2, 3]) });
    expect(res.status, path).toBe(404);
  }
});

it("the peer port drops a client that cannot answer the HMAC challenge", async () => {
  const peerPort = cluster.peerPort("n1");
  const socket = net.connect(peerPort, "127.0.0.1");
  const received: Buffer[] = [];
  socket.on("data", (d) => received.push(d));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write("POST /distcache.v1.CacheService/Get HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}");
  await new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const reply = Buffer.concat(received);
  // Only the challenge (preamble, cluster id and nonce) was ever sent back: no HTTP, no data.
  expect(reply.subarray(0, MAGIC.length).equals(MAGIC)).toBe(true);
  expect(reply.length).toBe(CHALLENGE_BYTES);
});
