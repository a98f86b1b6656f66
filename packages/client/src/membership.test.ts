import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { CanceledError, IndeterminateWriteError, InvalidArgumentError, ServerError, UnauthenticatedError, UnavailableError } from "./errors.js";
import { FakeCluster } from "./testing/fake-cluster.js";
import { setupClient, warm } from "./testing/setup-client.js";

/*
 * addNode and removeNode against the fake cluster: the admin token travels in its header,
 * arguments are checked before any I/O, only a node's `unavailable` answers are retried,
 * and the server's refusals map to error classes.
 */

const TOKEN = "0123456789abcdef".repeat(4);
const n4 = { id: "n4", clientAddress: "10.0.0.4:7301", peerAddress: "10.0.0.4:7401" };
const retryLater = () => new ConnectError("no node holding the meta group answered as its leader; retry (none known)", Code.Unavailable);

function setup(options: Parameters<typeof setupClient>[0] = {}) {
  const cluster = new FakeCluster();
  cluster.adminToken = TOKEN;
  return setupClient(options, cluster);
}

describe("addNode and removeNode", () => {
  it("send the admin token header to one node and resolve with the epoch after the change", async () => {
    const { cluster, client } = setup();
    expect(await client.addNode(n4, { adminToken: TOKEN })).toBe(2n);
    expect(cluster.added.get("n4")).toEqual({ clientAddress: "10.0.0.4:7301", peerAddress: "10.0.0.4:7401", leaving: false });
    expect(await client.removeNode("n4", { adminToken: TOKEN })).toBe(3n);
    expect(cluster.added.get("n4")?.leaving).toBe(true);
    const calls = [...cluster.callsTo("addNode"), ...cluster.callsTo("removeNode")];
    expect(calls.map((c) => [c.method, c.nodeId, c.adminToken])).toEqual([
      ["addNode", "n1", TOKEN],
      ["removeNode", "n1", TOKEN],
    ]);
  });

  it("send the token in lowercase, as nodes compare it", async () => {
    const { cluster, client } = setup();
    await client.addNode(n4, { adminToken: TOKEN.toUpperCase() });
    expect(cluster.callsTo("addNode")[0]!.adminToken).toBe(TOKEN);
  });

  it("are idempotent on the node: a repeat answers the current epoch without a change", async () => {
    const { cluster, client } = setup();
    expect(await client.addNode(n4, { adminToken: TOKEN })).toBe(2n);
    expect(await client.addNode(n4, { adminToken: TOKEN })).toBe(2n);
    expect(await client.removeNode("n4", { adminToken: TOKEN })).toBe(3n);
    expect(await client.removeNode("n4", { adminToken: TOKEN })).toBe(3n);
    expect(cluster.epoch).toBe(3n);
  });

  it("go to the node that has just answered GetTopology, not to one that is down", async () => {
    const { cluster, client } = setup({ seeds: ["http://10.0.0.1:7301", "http://10.0.0.2:7301"] });
    cluster.down.add("n1");
    await client.removeNode("n1", { adminToken: TOKEN });
    expect(cluster.callsTo("removeNode").map((c) => c.nodeId)).toEqual(["n2"]);
    expect(cluster.leaving).toEqual(new Set(["n1"]));
  });

  it("retry a node's unavailable answer at that node after backoff, even one that came after the change applied", async () => {
    const { cluster, client, time } = setup();
    await warm(client);
    cluster.failNext("n1", "addNode", retryLater());
    cluster.failNext("n1", "addNode", retryLater(), true);
    expect(await client.addNode(n4, { adminToken: TOKEN })).toBe(2n);
    expect(cluster.callsTo("addNode").map((c) => c.nodeId)).toEqual(["n1", "n1", "n1"]);
    expect(cluster.epoch).toBe(2n);
    // Backoff from backoffMsMin (25), doubling, jittered at 0.75 of it (random is 0.5).
    expect(time.sleeps).toEqual([19, 38]);
  });

  it("give up with UnavailableError when the unavailable answers last until the attempts or the deadline run out", async () => {
    const { cluster, client, time } = setup({ attemptsMax: 3 });
    await warm(client);
    for (let i = 0; i < 5; i++) cluster.failNext("n1", "removeNode", retryLater());
    const error = await client.removeNode("n2", { adminToken: TOKEN }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/^removeNode failed after 3 attempts: no node holding the meta group/);
    expect(cluster.callsTo("removeNode")).toHaveLength(3);

    expect(time.sleeps).toEqual([19, 38]);

    const late = setup({ timeoutMs: 50 });
    await warm(late.client);
    for (let i = 0; i < 10; i++) late.cluster.failNext("n1", "removeNode", retryLater());
    await expect(late.client.removeNode("n2", { adminToken: TOKEN })).rejects.toBeInstanceOf(UnavailableError);
    // The first backoff (19 ms) fits in the 50 ms deadline; the second (38 more) would pass it.
    expect(late.time.sleeps).toEqual([19]);
    expect(late.cluster.callsTo("removeNode")).toHaveLength(2);
    expect(late.cluster.leaving).toEqual(new Set());
  });

  it("do not retry a refused connection, a reset, or any other answer", async () => {
    const refused = setup();
    await warm(refused.client);
    refused.cluster.beforeNext("n1", "addNode", () => void refused.cluster.down.add("n1"));
    const error = await refused.client.addNode(n4, { adminToken: TOKEN }).catch((e: unknown) => e);
    expect([error instanceof UnavailableError, (error as Error).message]).toEqual([true, "connect ECONNREFUSED 10.0.0.1:7301"]);
    expect(refused.time.sleeps).toEqual([]);

    const reset = setup();
    await warm(reset.client);
    reset.cluster.breakNext("n1", "addNode", true);
    const lost = await reset.client.addNode(n4, { adminToken: TOKEN }).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(IndeterminateWriteError);
    expect((lost as Error).message).toMatch(/^addNode may or may not have taken effect: /);
    expect(reset.cluster.callsTo("addNode")).toHaveLength(1);

    const internal = setup();
    internal.cluster.failNext("n1", "addNode", new ConnectError("boom", Code.Internal));
    await expect(internal.client.addNode(n4, { adminToken: TOKEN })).rejects.toMatchObject({ name: "ServerError", code: Code.Internal });
    expect(internal.cluster.callsTo("addNode")).toHaveLength(1);

    // The node's own deadline passed: the change may have been written.
    const slow = setup();
    slow.cluster.failNext("n1", "removeNode", new ConnectError("the deadline passed", Code.DeadlineExceeded));
    await expect(slow.client.removeNode("n2", { adminToken: TOKEN })).rejects.toMatchObject({ name: "IndeterminateWriteError", code: Code.DeadlineExceeded });
    expect(slow.cluster.callsTo("removeNode")).toHaveLength(1);
  });

  it("map a wrong token to UnauthenticatedError, and the node's refusals to ServerError with their code", async () => {
    const { cluster, client } = setup();
    const wrong = await client.addNode(n4, { adminToken: "f".repeat(64) }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(UnauthenticatedError);
    expect((wrong as UnauthenticatedError).code).toBe(Code.Unauthenticated);
    expect(cluster.callsTo("addNode")).toHaveLength(1);
    expect(cluster.added.size).toBe(0);
    // A member with other addresses is a node, not a key: no KeyExistsError.
    const other = await client.addNode({ ...n4, id: "n2" }, { adminToken: TOKEN }).catch((e: unknown) => e);
    expect([other instanceof ServerError, (other as ServerError).code]).toEqual([true, Code.AlreadyExists]);
    await expect(client.removeNode("n9", { adminToken: TOKEN })).rejects.toMatchObject({ name: "ServerError", code: Code.NotFound });
    cluster.adminToken = "";
    await expect(client.removeNode("n2", { adminToken: TOKEN })).rejects.toMatchObject({ name: "ServerError", code: Code.FailedPrecondition });
  });

  it("refuse bad arguments before any I/O, never quoting the token", async () => {
    const { cluster, client } = setup();
    const bad: [() => Promise<bigint>, RegExp][] = [
      [() => client.addNode({ ...n4, id: "" }, { adminToken: TOKEN }), /^node\.id must be a node id/],
      [() => client.addNode({ ...n4, id: "bad id" }, { adminToken: TOKEN }), /^node\.id must be a node id/],
      [() => client.addNode({ ...n4, id: "n".repeat(65) }, { adminToken: TOKEN }), /^node\.id must be a node id/],
      [() => client.addNode({ ...n4, clientAddress: "10.0.0.4" }, { adminToken: TOKEN }), /^node\.clientAddress must be host:port/],
      [() => client.addNode({ ...n4, clientAddress: "10.0.0.4:0" }, { adminToken: TOKEN }), /^node\.clientAddress must be host:port/],
      [() => client.addNode({ ...n4, peerAddress: "10.0.0.4:65536" }, { adminToken: TOKEN }), /^node\.peerAddress must be host:port/],
      [() => client.addNode({ ...n4, peerAddress: "http://h:1" }, { adminToken: TOKEN }), /^node\.peerAddress must be host:port/],
      [() => client.addNode({ ...n4, peerAddress: `${"h".repeat(251)}:7401` }, { adminToken: TOKEN }), /^node\.peerAddress must be host:port/],
      [() => client.addNode(null as unknown as typeof n4, { adminToken: TOKEN }), /^node must be an object/],
      [() => client.addNode(n4, { adminToken: "secret-not-hex" }), /^adminToken must be 64 hex digits .* got 14 characters$/],
      [() => client.addNode(n4, { adminToken: TOKEN.slice(1) }), /^adminToken must be 64 hex digits/],
      [() => client.addNode(n4, undefined as unknown as { adminToken: string }), /^adminToken must be 64 hex digits .* got undefined$/],
      [() => client.removeNode("bad/id", { adminToken: TOKEN }), /^nodeId must be a node id/],
      [() => client.removeNode("n2", { adminToken: "" }), /^adminToken must be 64 hex digits/],
    ];
    for (const [call, message] of bad) {
      const error = await call().catch((e: unknown) => e);
      expect(error, String(message)).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("secret-not-hex");
    }
    expect(cluster.calls).toEqual([]);
    expect(cluster.topologyCalls).toBe(0);
    // Accepted forms: a bracketed IPv6 host, a name, 255 characters.
    expect(await client.addNode({ id: "n_5.b-1", clientAddress: "[::1]:7305", peerAddress: "cache-5.internal:7405" }, { adminToken: TOKEN })).toBe(2n);
    expect(await client.addNode({ id: "n6", clientAddress: "10.0.0.6:1", peerAddress: `${"h".repeat(249)}:65535` }, { adminToken: TOKEN })).toBe(3n);
  });

  it("are canceled by the caller's signal before a send, and refused after close()", async () => {
    const { client } = setup();
    await warm(client);
    const controller = new AbortController();
    controller.abort();
    await expect(client.addNode(n4, { adminToken: TOKEN, signal: controller.signal })).rejects.toBeInstanceOf(CanceledError);
    await client.close();
    await expect(client.removeNode("n2", { adminToken: TOKEN })).rejects.toMatchObject({ name: "ClientClosedError" });
  });
});

describe("the topology of a cluster that changes", () => {
  it("carries each node's peer address and each shard's learners", async () => {
    const { cluster, client } = setup();
    cluster.setPlacement(1, ["n1", "n2"], ["n3"]);
    await client.addNode(n4, { adminToken: TOKEN });
    const topology = await client.topology();
    expect(topology.nodes.map((n) => [n.id, n.address, n.peerAddress])).toEqual([
      ["n1", "10.0.0.1:7301", "10.0.0.1:7401"],
      ["n2", "10.0.0.2:7301", "10.0.0.2:7401"],
      ["n3", "10.0.0.3:7301", "10.0.0.3:7401"],
      ["n4", "10.0.0.4:7301", "10.0.0.4:7401"],
    ]);
    expect(topology.shards[1]).toMatchObject({ replicas: ["n1", "n2"], learners: ["n3"] });
    expect(topology.shards[0]).toMatchObject({ replicas: ["n1", "n2", "n3"], learners: [] });
  });
});
