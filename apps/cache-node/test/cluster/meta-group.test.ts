import type { ConnectError } from "@connectrpc/connect";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClusterService } from "@distcache/proto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHALLENGE_BYTES, CLUSTER_ID_BYTES, PREAMBLE_BYTES, answer } from "../../src/peer/peer-handshake.js";
import { asAdmin } from "./placement-checks.js";
import { TestCluster, sleep } from "./cluster-harness.js";

// The meta group (placement/meta-group.ts) on real processes: a 4-node cluster, whose
// meta group is on n1-n3, so n4 answers from what a node holding it tells it.
const SECRET = "meta-group-test-peer-secret-0123456789";
const secretDir = mkdtempSync(join(tmpdir(), "distcache-meta-secret-"));
let cluster: TestCluster;
beforeAll(async () => {
  const file = join(secretDir, "secret");
  writeFileSync(file, SECRET);
  cluster = await TestCluster.start(4, ["--peer-secret-file", file]);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
  rmSync(secretDir, { recursive: true, force: true });
});

/** Completes a peer handshake with `target` as `from`, holding the secret: whether the listener accepted it. */
async function peerHandshake(target: string, from: string): Promise<"accepted" | "refused"> {
  const socket = net.connect(cluster.peerPort(target), "127.0.0.1");
  socket.on("error", () => undefined);
  try {
    return await new Promise((resolve) => {
      let received = Buffer.alloc(0);
      socket.once("close", () => resolve("refused"));
      socket.on("data", (chunk: Buffer) => {
        const answered = received.length >= CHALLENGE_BYTES;
        received = Buffer.concat([received, chunk]);
        if (!answered && received.length >= CHALLENGE_BYTES) {
          const challenge = received.subarray(0, CHALLENGE_BYTES);
          socket.write(answer(SECRET, challenge, from, target, challenge.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + CLUSTER_ID_BYTES)));
        }
        if (received.length > CHALLENGE_BYTES) resolve("accepted");
      });
    });
  } finally {
    socket.destroy();
  }
}

/** peerHandshake until it gives `outcome`, within 10 s. */
async function handshakeBecomes(target: string, from: string, outcome: "accepted" | "refused"): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await peerHandshake(target, from)) !== outcome) {
    if (Date.now() > deadline) throw new Error(`${target} never ${outcome} a handshake from ${from}`);
    await sleep(200);
  }
}

const topologyOf = async (id: string) => {
  const url = cluster.nodes.get(id)!.url;
  const client = createClient(ClusterService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  return (await client.getTopology({}, { timeoutMs: 3000 })).topology!;
};

/** The topology `id` answers once `ready` holds for it, within 15 s. */
async function topologyOnce(id: string, ready: (t: Awaited<ReturnType<typeof topologyOf>>) => boolean) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const t = await topologyOf(id).catch(() => undefined);
    if (t && ready(t)) return t;
    if (Date.now() > deadline) throw new Error(`${id}: GetTopology answered ${t ? `epoch ${t.epoch}` : "nothing"}`);
    await sleep(100);
  }
}

describe("the meta group", () => {
  it("holds the bootstrap document: every node answers GetTopology with epoch 1 and the four nodes", async () => {
    for (const id of ["n1", "n2", "n3", "n4"]) {
      const topology = await topologyOnce(id, (t) => t.epoch === 1n);
      expect(topology.nodes.map((n) => n.id)).toEqual(["n1", "n2", "n3", "n4"]);
    }
  });

  it("keeps its document across a restart of every node: the epoch stays 1", async () => {
    for (const id of ["n1", "n2", "n3", "n4"]) await cluster.kill(id);
    await Promise.all(["n1", "n2", "n3", "n4"].map((id) => cluster.restart(id)));
    for (const id of ["n1", "n2", "n3", "n4"]) {
      expect((await topologyOnce(id, (t) => t.epoch > 0n)).epoch).toBe(1n);
    }
  });

  it("takes AddNode and RemoveNode at the meta leader, forwarded from any node, and answers the real epoch", async () => {
    await topologyOnce("n4", (t) => t.epoch === 1n);
    const refused = async (call: Promise<unknown>) =>
      (
        (await call.then(
          () => undefined,
          (e: unknown) => e,
        )) as ConnectError | undefined
      )?.code;
    const admin = (id: string, secret: string) =>
      createClient(ClusterService, createConnectTransport({ baseUrl: cluster.nodes.get(id)!.url, httpVersion: "1.1", interceptors: [asAdmin(secret)] }));
    const client = (id: string) => admin(id, SECRET);
    const anonymous = (id: string) => createClient(ClusterService, createConnectTransport({ baseUrl: cluster.nodes.get(id)!.url, httpVersion: "1.1" }));
    const n5 = { id: "n5", clientAddress: "127.0.0.1:1", peerAddress: "127.0.0.1:2" };
    // Without the admin token (or with another cluster's), membership does not change.
    expect(await refused(anonymous("n1").addNode({ node: n5 }))).toBe(Code.Unauthenticated);
    expect(await refused(anonymous("n2").removeNode({ nodeId: "n3" }))).toBe(Code.Unauthenticated);
    expect(await refused(admin("n1", "another-secret-0123456789").removeNode({ nodeId: "n3" }))).toBe(Code.Unauthenticated);
    // Holding the secret is not enough: a node the cluster does not know is refused.
    expect(await peerHandshake("n1", "n5")).toBe("refused");
    // n4 holds no replica of the meta group: it forwards to a node that does.
    expect((await client("n4").addNode({ node: n5 }, { timeoutMs: 10_000 })).epoch).toBe(2n);
    for (const id of ["n1", "n2", "n3", "n4"]) {
      expect((await topologyOnce(id, (t) => t.epoch === 2n)).nodes.map((n) => n.id)).toEqual(["n1", "n2", "n3", "n4", "n5"]);
    }
    // Once it is a member, every node takes its peer connections, those holding the meta group and the others.
    for (const id of ["n1", "n4"]) await handshakeBecomes(id, "n5", "accepted");
    // A retried join is answered with the epoch it made; the same id with other addresses is refused.
    expect((await client("n2").addNode({ node: n5 }, { timeoutMs: 10_000 })).epoch).toBe(2n);
    expect(await refused(client("n1").addNode({ node: { ...n5, peerAddress: "127.0.0.1:3" } }))).toBe(Code.AlreadyExists);
    expect(await refused(client("n1").addNode({ node: { ...n5, id: "n6", peerAddress: "no-port" } }))).toBe(Code.InvalidArgument);
    expect(await refused(client("n1").addNode({ node: { ...n5, id: "bad id" } }))).toBe(Code.InvalidArgument);
    expect(await refused(client("n1").addNode({}))).toBe(Code.InvalidArgument);
    expect(await refused(client("n3").removeNode({ nodeId: "n9" }))).toBe(Code.NotFound);
    expect((await client("n3").removeNode({ nodeId: "n5" }, { timeoutMs: 10_000 })).epoch).toBe(3n);
    // Removing it again answers the same epoch while it is leaving; once no group counts it
    // (it never held a replica), the placement driver removes it for good, and it is not found.
    const again = await client("n4")
      .removeNode({ nodeId: "n5" }, { timeoutMs: 10_000 })
      .then(
        (r) => r.epoch,
        (e: unknown) => (e as ConnectError).code,
      );
    expect([3n, Code.NotFound]).toContain(again);
    const forgotten = await topologyOnce("n4", (t) => t.epoch === 4n);
    expect(forgotten.nodes.map((n) => n.id)).toEqual(["n1", "n2", "n3", "n4"]);
    expect(await refused(client("n3").removeNode({ nodeId: "n5" }))).toBe(Code.NotFound);
    expect(await refused(client("n3").addNode({ node: n5 }))).toBe(Code.FailedPrecondition);
  });
});
