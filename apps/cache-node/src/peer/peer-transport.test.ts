import fc from "fast-check";
import net from "node:net";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { FrameReader, encodeFrames } from "./wire/frame-reader.js";
import { PeerTransport } from "./peer-transport.js";

const silent = pino({ level: "silent" });
const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const CLUSTER_ID = "0123456789abcdef0123456789abcdef";
/** Frames that begin with this byte are dropped from a queue whose connection closes. */
const DROPPED_ON_CLOSE = 0x21;

async function cluster(
  ids: string[],
  secrets: Record<string, string> = {},
  clusterIds: Record<string, string> = {},
  loggers: Record<string, pino.Logger> = {},
  linksDown: string[] = [],
) {
  const inbox = new Map<string, { from: string; text: string }[]>();
  const transports = new Map<string, PeerTransport>();
  const ports = new Map<string, number>();
  for (const id of ids) {
    inbox.set(id, []);
    const t = new PeerTransport({
      nodeId: id,
      secret: secrets[id] ?? "s3cret",
      clusterId: clusterIds[id] ?? CLUSTER_ID,
      peers: new Map(),
      onMessage: (from, payload) => inbox.get(id)!.push({ from, text: payload.toString() }),
      onLinkDown: (peer) => linksDown.push(`${id}: ${peer}`),
      dropOnClose: (payload) => payload[0] === DROPPED_ON_CLOSE,
      logger: loggers[id] ?? silent,
      reconnectDelayMsMin: 10,
      reconnectDelayMsMax: 50,
    });
    open.push(t);
    transports.set(id, t);
    ports.set(id, await t.listen(0, "127.0.0.1"));
  }
  for (const [id, t] of transports) for (const [peer, port] of ports) if (peer !== id) t.setPeerAddress(peer, `127.0.0.1:${port}`);
  return { inbox, transports, ports };
}

describe("frames", () => {
  it("reassembles frames split at every byte", () => {
    const messages = [Buffer.from("a"), Buffer.alloc(0), Buffer.from("hello world")];
    const wire = encodeFrames(messages);
    for (let cut = 0; cut <= wire.length; cut++) {
      const reader = new FrameReader(1024);
      const got = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))];
      expect(got.map(String)).toEqual(messages.map(String));
    }
  });

  it("reassembles any stream of frames cut into any pieces", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (messages, cuts) => {
        const wire = encodeFrames(messages);
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const reader = new FrameReader(1024);
        const got: Buffer[] = [];
        let from = 0;
        for (const to of [...points, wire.length]) {
          got.push(...reader.push(wire.subarray(from, to)));
          from = to;
        }
        expect(got.map((b) => Buffer.from(b).toString("hex"))).toEqual(messages.map((m) => Buffer.from(m).toString("hex")));
      }),
    );
  });

  it("rejects a frame above the limit", () => {
    expect(() => new FrameReader(4).push(encodeFrames([Buffer.from("too long")]))).toThrow(/frame_bytes_max/);
  });
});

describe("PeerTransport", () => {
  it("delivers batches in order with the authenticated sender", async () => {
    const { inbox, transports } = await cluster(["a", "b", "c"]);
    for (let i = 0; i < 500; i++) transports.get("a")!.send("b", Buffer.from(`m${i}`));
    transports.get("c")!.send("b", Buffer.from("from-c"));
    await eventually(() => inbox.get("b")!.length === 501);
    const fromA = inbox
      .get("b")!
      .filter((m) => m.from === "a")
      .map((m) => m.text);
    expect(fromA).toEqual(Array.from({ length: 500 }, (_, i) => `m${i}`));
    expect(inbox.get("b")!.find((m) => m.from === "c")?.text).toBe("from-c");
  });

  it("refuses a peer with the wrong secret", async () => {
    const { inbox, transports } = await cluster(["a", "b"], { a: "wrong" });
    transports.get("a")!.send("b", Buffer.from("hi"));
    await eventually(() => transports.get("b")!.stats.rejectedHandshakes > 0);
    await new Promise((r) => setTimeout(r, 100));
    expect(inbox.get("b")).toEqual([]);
  });

  it("stops taking a removed peer: its open connection is closed, and its handshakes are refused", async () => {
    const { inbox, transports } = await cluster(["a", "b"]);
    transports.get("a")!.send("b", Buffer.from("member"));
    await eventually(() => inbox.get("b")!.length === 1);
    transports.get("b")!.removePeer("a");
    expect(transports.get("b")!.send("a", Buffer.from("to a stranger"))).toBe(false);
    const refused = transports.get("b")!.stats.rejectedHandshakes;
    // a redials and sends again: b refuses it at the handshake.
    await eventually(() => (transports.get("a")!.send("b", Buffer.from("removed")), transports.get("b")!.stats.rejectedHandshakes > refused));
    await new Promise((r) => setTimeout(r, 100));
    expect(inbox.get("b")!.map((m) => m.text)).toEqual(["member"]);
  });

  it("presents its incarnation, and a listener that refuses it takes none of its frames", async () => {
    const seen: string[] = [];
    const inbox: string[] = [];
    const refused = new PeerTransport({
      nodeId: "b",
      secret: "s3cret",
      clusterId: CLUSTER_ID,
      peers: new Map([["a", "127.0.0.1:1"]]),
      onMessage: (_from, payload) => inbox.push(payload.toString()),
      logger: silent,
      incarnationProblem: (peer, incarnation) => (seen.push(`${peer}:${incarnation}`), "a wiped data dir"),
    });
    open.push(refused);
    const port = await refused.listen(0, "127.0.0.1");
    const dialer = new PeerTransport({
      nodeId: "a",
      secret: "s3cret",
      clusterId: CLUSTER_ID,
      incarnation: "ab".repeat(16),
      peers: new Map([["b", `127.0.0.1:${port}`]]),
      onMessage: () => undefined,
      logger: silent,
      reconnectDelayMsMin: 10,
      reconnectDelayMsMax: 50,
    });
    open.push(dialer);
    dialer.send("b", Buffer.from("hi"));
    await eventually(() => refused.stats.rejectedHandshakes > 0);
    expect(seen[0]).toBe(`a:${"ab".repeat(16)}`);
    await new Promise((r) => setTimeout(r, 100));
    expect(inbox).toEqual([]);
  });

  it("blocks one direction only", async () => {
    const { inbox, transports } = await cluster(["a", "b"]);
    transports.get("a")!.block("b");
    expect(transports.get("a")!.send("b", Buffer.from("lost"))).toBe(false);
    transports.get("b")!.send("a", Buffer.from("arrives"));
    await eventually(() => inbox.get("a")!.length === 1);
    transports.get("a")!.heal("b");
    transports.get("a")!.send("b", Buffer.from("after heal"));
    await eventually(() => inbox.get("b")!.length === 1);
    expect(inbox.get("b")![0]!.text).toBe("after heal");
  });

  it("says whether a peer is linked both ways, and reports each side of a closed connection as a link down", async () => {
    const linksDown: string[] = [];
    const { inbox, transports } = await cluster(["a", "b"], {}, {}, {}, linksDown);
    const a = transports.get("a")!;
    const b = transports.get("b")!;
    // Dialed lazily: nothing is up before the first frame.
    expect(a.connected("b")).toBe(false);
    expect(a.connected("nobody")).toBe(false);
    a.send("b", Buffer.from("hello"));
    await eventually(() => inbox.get("b")!.length === 1);
    // a's connection to b is up, but b's to a is not: no answer could come back yet.
    expect(a.connected("b")).toBe(false);
    b.dial("a");
    await eventually(() => a.connected("b") && b.connected("a"));
    expect(linksDown).toEqual([]);
    // Cutting a → b closes a's outbound connection (a sees it) and b's inbound one (b sees it).
    a.block("b");
    expect(a.connected("b")).toBe(false);
    await eventually(() => linksDown.length === 2);
    expect(linksDown.sort()).toEqual(["a: b", "b: a"]);
    expect(b.connected("a")).toBe(false);
  });

  it("sends what was still queued when a connection closed on the next one, except the frames it must drop", async () => {
    const { inbox, transports, ports } = await cluster(["a", "b"]);
    const a = transports.get("a")!;
    a.send("b", Buffer.from("first"));
    await eventually(() => inbox.get("b")!.length === 1);
    // Queued in this turn, then the connection is reset before they are written.
    a.send("b", Buffer.from([DROPPED_ON_CLOSE, 0x61]));
    a.send("b", Buffer.from("kept"));
    a.setPeerAddress("b", `127.0.0.1:${ports.get("b")}`);
    await new Promise((r) => setTimeout(r, 50));
    a.send("b", Buffer.from("after"));
    await eventually(() => inbox.get("b")!.length === 3);
    expect(inbox.get("b")!.map((m) => m.text)).toEqual(["first", "kept", "after"]);
  });

  it("connects soon after a partition that swallowed its handshake heals", async () => {
    const { inbox, transports, ports } = await cluster(["a", "b"]);
    // a → b through a proxy that, while cut, keeps connections open and drops every byte:
    // the dialer's handshake started then can never finish, and only its timeout ends it.
    let cut = true;
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(ports.get("b")!, "127.0.0.1");
      sockets.add(client).add(upstream);
      client.on("data", (chunk) => cut || upstream.write(chunk));
      upstream.on("data", (chunk) => cut || client.write(chunk));
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    transports.get("a")!.setPeerAddress("b", `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`);
    transports.get("a")!.send("b", Buffer.from("queued while cut"));
    await new Promise((r) => setTimeout(r, 300));
    cut = false;
    const healedAt = Date.now();
    await eventually(() => inbox.get("b")!.length === 1, 4000);
    // The default handshake timeout bounds the wait (it was 5 s, longer than an election).
    expect(Date.now() - healedAt).toBeLessThan(3500);
    const closed = new Promise<void>((r) => proxy.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
  });

  it("reconnects when the peer comes back and honours address overrides", async () => {
    const { inbox, transports, ports } = await cluster(["a", "b"]);
    // Route a → b through a TCP proxy that we can kill.
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(ports.get("b")!, "127.0.0.1");
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    transports.get("a")!.setPeerAddress("b", `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`);
    transports.get("a")!.send("b", Buffer.from("one"));
    await eventually(() => inbox.get("b")!.length === 1);
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    transports.get("a")!.send("b", Buffer.from("two"));
    await eventually(() => inbox.get("b")!.some((m) => m.text === "two"));
    const closed = new Promise<void>((r) => proxy.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
  });
});
