import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { create, toBinary } from "@bufbuild/protobuf";
import { CacheService, ClusterService, SetCondition, SetRequestSchema } from "@distcache/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STRONG, TestCluster, keyForShard, text } from "./cluster-harness.js";

// A committed entry that crashed apply would take every replica down, and every restart
// would replay it. These writes once did; now each node stays up.

let cluster: TestCluster;
const MIB = 1024 * 1024;

beforeAll(async () => {
  // n3 is started with 500,000 bytes per shard and a 400,000-byte value limit: its edge refuses 1 MiB values that
  // n1 and n2 accept, and its flags do not change the groups' replicated bounds.
  cluster = await TestCluster.start(3, [], { n3: ["--bytes-max", "6000000", "--value-bytes-max", "400000"] });
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

function expectAllRunning(): void {
  for (const node of cluster.nodes.values()) expect(node.child.exitCode, `${node.nodeId} exited`).toBeNull();
}

async function post(nodeId: string, method: string, body: unknown) {
  const res = await fetch(`${cluster.nodes.get(nodeId)!.url}/distcache.v1.CacheService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("hostile writes on a 3-node cluster", () => {
  it("answers the out-of-range expected version with invalid_argument and keeps serving", async () => {
    const poison = { key: "k", text: "v", condition: "SET_CONDITION_IF_VERSION", expectedVersion: "9007199254740993" };
    for (const id of ["n1", "n2", "n3"]) {
      const answer = await post(id, "Set", poison);
      expect(answer.status).toBe(400);
      expect(answer.json["code"]).toBe("invalid_argument");
    }
    for (const id of ["n1", "n2", "n3"]) {
      expect((await post(id, "Set", { key: `after-${id}`, text: id })).status).toBe(200);
      expect((await post(id, "Get", { key: `after-${id}` })).json).toMatchObject({ found: true, text: id });
    }
    expectAllRunning();
  });

  it("keeps a node with a smaller --bytes-max running through a 1 MiB write its peers accept", async () => {
    let shard = 0;
    while ((await cluster.leaderOf(shard)) === "n3") shard++;
    const leader = await cluster.leaderOf(shard);
    const key = keyForShard(shard, "big-");
    const value = new Uint8Array(MIB).fill(7);
    await cluster.client(leader).set({ key, payload: { case: "value", value } });
    const got = await cluster.client(leader).get({ key, consistency: STRONG });
    expect(got.found).toBe(true);
    expect(got.payload.case === "value" && got.payload.value.length).toBe(MIB);
    // n3 applied the entry (its store's bounds are the group's, whatever its flags say) and serves on, the same shard included.
    const small = keyForShard(shard, "small-");
    await cluster.client("n3").set({ key: small, payload: text("fine") });
    const read = await cluster.client("n3").get({ key: small, consistency: STRONG });
    expect(read.found).toBe(true);
    const stats = await cluster.client("n3").stats({});
    expect(stats.shards.find((s) => s.shard === shard)?.appliedIndex).toBeGreaterThan(0n);
    // Every replica holds the same shard state, the 1 MiB value included.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const digests = await Promise.all(
        ["n1", "n2", "n3"].map(async (id) => {
          const got = (await cluster.client(id).stats({ includeDigests: true })).shards.find((s) => s.shard === shard);
          return `${got?.appliedIndex}:${got?.digest}`;
        }),
      );
      if (new Set(digests).size === 1) break;
      if (Date.now() > deadline) throw new Error(`replica digests of shard ${shard} differ: ${digests.join(" ")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await cluster.client("n3").get({ key, consistency: STRONG })).found).toBe(true);
    expectAllRunning();
  });

  it("answers over HTTP/2 an error the leader answered a forwarded call with, and stays up", async () => {
    // The leader's HTTP/1.1 response headers once travelled with its error into the
    // follower's HTTP/2 answer, where Node throws on them and the process exited.
    const shard = 4;
    const leader = await cluster.leaderOf(shard);
    const follower = ["n1", "n2", "n3"].find((id) => id !== leader)!;
    const key = keyForShard(shard, "h2-forward-");
    await cluster.client(leader).set({ key, payload: text("v1") });
    const baseUrl = cluster.nodes.get(follower)!.url;
    for (const transport of [
      createConnectTransport({ baseUrl, httpVersion: "2" }),
      createGrpcTransport({ baseUrl }),
      createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
    ]) {
      const client = createClient(CacheService, transport);
      const err = await client
        .set({ key, payload: text("v2"), condition: SetCondition.IF_VERSION, expectedVersion: 999_999n })
        .catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    }
    expect((await cluster.client(follower).get({ key, consistency: STRONG })).found).toBe(true);
    expectAllRunning();
  });

  it("forwards a call whose deadline is longer than a timer can hold, on the fast path and the stock handler", async () => {
    // A deadline above 2^31 - 1 ms once reached the forwarding client's timer, which Node
    // fires at once for it: the forwarded call was cancelled as soon as it left.
    const shard = 5;
    const leader = await cluster.leaderOf(shard);
    const follower = ["n1", "n2", "n3"].find((id) => id !== leader)!;
    const key = keyForShard(shard, "far-deadline-");
    const url = `${cluster.nodes.get(follower)!.url}/distcache.v1.CacheService/Set`;
    const connect = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "9999999999" },
      body: JSON.stringify({ key, text: "fast" }),
    });
    expect(connect.status, await connect.clone().text()).toBe(200);
    const body = toBinary(SetRequestSchema, create(SetRequestSchema, { key, payload: text("stock") }));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
    frame.writeUInt32BE(body.length, 1);
    const grpcWeb = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "grpc-timeout": "99999999H" },
      body: new Uint8Array(frame),
    });
    expect(Buffer.from(await grpcWeb.arrayBuffer()).toString("latin1")).toMatch(/grpc-status: 0/);
    expect(await cluster.client(leader).get({ key, consistency: STRONG })).toMatchObject({ found: true, payload: text("stock") });
    expectAllRunning();
  });

  it("answers over gRPC an error the leader answered a forwarded ClusterService call with, and stays up", async () => {
    const shard = 6;
    const leader = await cluster.leaderOf(shard);
    const follower = ["n1", "n2", "n3"].find((id) => id !== leader)!;
    const client = createClient(ClusterService, createGrpcTransport({ baseUrl: cluster.nodes.get(follower)!.url }));
    // The leader runs out of time moving leadership to a node it cannot hand it to in 1 ms.
    const target = ["n1", "n2", "n3"].find((id) => id !== leader && id !== follower)!;
    const err = await client.transferLeader({ shard, toNodeId: target }, { timeoutMs: 1 }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    if (err) expect([Code.DeadlineExceeded, Code.Unavailable]).toContain(err.code);
    const unknownShard = await client.transferLeader({ shard: 99_999 }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(unknownShard?.code).toBe(Code.InvalidArgument);
    expectAllRunning();
  });

  it("refuses an MGet whose forwarded answers together pass --response-bytes-max with resource_exhausted, not unavailable", async () => {
    // Two shards led elsewhere, 40 copies of a 1 MiB value from each: each forwarded
    // answer (40 MiB) fits the 64 MiB bound, both together do not.
    const follower = "n3";
    const shards: number[] = [];
    for (let shard = 0; shards.length < 2 && shard < 12; shard++) if ((await cluster.leaderOf(shard)) !== follower) shards.push(shard);
    const keys = shards.map((shard) => keyForShard(shard, "wide-"));
    for (const key of keys) {
      const leader = await cluster.leaderOf(shards[keys.indexOf(key)]!);
      await cluster.client(leader).set({ key, payload: { case: "value", value: new Uint8Array(MIB).fill(3) } });
    }
    const res = await fetch(`${cluster.nodes.get(follower)!.url}/distcache.v1.CacheService/MGet`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ keys: keys.flatMap((k) => Array.from({ length: 40 }, () => k)) }),
    });
    const body = (await res.json()) as { code?: string; message?: string };
    expect(body.code, body.message).toBe("resource_exhausted");
    expect(body.message).toMatch(/response_bytes_max/);
    expectAllRunning();
  });

  it("refuses a 1 MiB value at n3's own edge, with its limit named", async () => {
    const err = await cluster
      .client("n3")
      .set({ key: "edge", payload: { case: "value", value: new Uint8Array(MIB) }, header: { noForward: true, sessionId: "", sequence: 0n, ackedSequence: 0n } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toMatch(/value_bytes_max/);
    expectAllRunning();
  });
});
