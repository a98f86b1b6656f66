import { create } from "@bufbuild/protobuf";
import { SetOpSchema } from "@distcache/proto/raft";
import { asLogIndex, asNodeId, asTerm, type Entry, type NodeId, type PeerMessage } from "@distcache/raft";
import net from "node:net";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeAccessSamples } from "../peer/wire/access-samples-wire.js";
import { MemoryGroupLog } from "./testing/memory-group-log.js";
import { MultiRaft } from "./multi-raft.js";
import { testNodeOptions } from "./testing/multi-raft-harness.js";
import { NotLeaderError } from "./port-errors.js";
import { encodePeerBatch } from "../peer/wire/peer-wire.js";
import { encodeSnapshotChunk } from "../peer/wire/snapshot-wire.js";
import { encodeFrames } from "../peer/wire/frame-reader.js";
import { CHALLENGE_BYTES, answer as answerFor } from "../peer/peer-handshake.js";
import { PeerTransport } from "../peer/peer-transport.js";

/*
 * Garbage on a real peer listener (127.0.0.1), before and after a valid handshake: each
 * kind closes the offending connection, and the node behind it (a MultiRaft driver, as in
 * production) keeps running and keeps serving its legitimate peers.
 */

const ids = ["n1", "n2", "n3"];
const SHARDS = 4;
const SECRET = "garbage-test-secret-0123456789";
const CLUSTER_ID = "0123456789abcdef0123456789abcdef";
const answer = (secret: string, challenge: Uint8Array, from: string, to: string) => answerFor(secret, challenge, from, to, CLUSTER_ID);
/** The node under attack; it leads shard 1. */
const TARGET = "n2";
const LED = 1;
/** A shard n1 leads, so the target's strong reads there cross both directions of the transport. */
const FOLLOWED = 0;
const logger = pino({ level: "silent" });

const rafts = new Map<string, MultiRaft>();
const transports = new Map<string, PeerTransport>();
const ports = new Map<string, number>();
const fatal: unknown[] = [];

beforeAll(async () => {
  for (const id of ids) {
    const transport = new PeerTransport({
      nodeId: id,
      secret: SECRET,
      clusterId: CLUSTER_ID,
      peers: new Map(),
      onMessage: (from, payload) => rafts.get(id)!.receive(from, payload),
      logger,
      handshakeTimeoutMs: 300,
      frameStallMs: 300,
      reconnectDelayMsMin: 10,
      reconnectDelayMsMax: 50,
    });
    transports.set(id, transport);
    ports.set(id, await transport.listen(0, "127.0.0.1"));
  }
  for (const [id, t] of transports) for (const [peer, port] of ports) if (peer !== id) t.setPeerAddress(peer, `127.0.0.1:${port}`);
  for (const id of ids) {
    rafts.set(
      id,
      await MultiRaft.open(
        testNodeOptions({
          nodeId: id,
          hostedShards: Array.from({ length: SHARDS }, (_, shard) => ({ shard, voters: ids })),
          shardCount: SHARDS,
          preferredLeaders: ["n1", "n2", "n3", "n1"],
          groupLog: new MemoryGroupLog(),
          snapshotEntries: 1_000_000,
          transport: transports.get(id)!,
          logger,
          onFatal: (err) => fatal.push(err),
        }),
      ),
    );
  }
  for (const raft of rafts.values()) raft.start();
  await leaderOf(LED, TARGET);
  await leaderOf(FOLLOWED);
});

afterAll(async () => {
  await Promise.all([...rafts.values()].map((r) => r.close()));
  await Promise.all([...transports.values()].map((t) => t.close()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function leaderOf(shard: number, want?: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const leaders = [...rafts].filter(([, r]) => r.ledShards().includes(shard)).map(([id]) => id);
    if (leaders.length === 1 && (want === undefined || leaders[0] === want)) return leaders[0]!;
    if (Date.now() > deadline) throw new Error(`shard ${shard}: leaders [${leaders.join(",")}], wanted ${want ?? "one"}`);
    if (want !== undefined && leaders.length === 1)
      await rafts
        .get(leaders[0]!)!
        .transferLeadership(shard, want, 2000)
        .catch(() => undefined);
    await sleep(10);
  }
}

let written = 0;
/** The target still works: a write through a shard's leader, then a strong read on the target. */
async function targetServes(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (const shard of [FOLLOWED, LED]) {
    for (;;) {
      try {
        const leader = rafts.get(await leaderOf(shard))!;
        await leader.propose(shard, { case: "set", value: create(SetOpSchema, { key: `k${written++}`, value: new Uint8Array([1]) }) });
        await rafts.get(TARGET)!.readBarrier(shard);
        break;
      } catch (err) {
        if (!(err instanceof NotLeaderError) || Date.now() > deadline) throw err;
        await sleep(10);
      }
    }
  }
}

/** A raw connection to the target's peer port. */
async function connect(): Promise<{ socket: net.Socket; challenge: Promise<Buffer>; closed: Promise<void> }> {
  const socket = net.connect(ports.get(TARGET)!, "127.0.0.1");
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  let received = Buffer.alloc(0);
  const challenge = new Promise<Buffer>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= CHALLENGE_BYTES) resolve(received.subarray(0, CHALLENGE_BYTES));
    });
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, challenge, closed };
}

/** A connection that completed a valid handshake as `from` (anyone holding the secret can). */
async function authenticated(from = "n1") {
  const conn = await connect();
  const challenge = await conn.challenge;
  const accepted = new Promise<void>((resolve) => conn.socket.on("data", (chunk: Buffer) => chunk.includes(0x01) && resolve()));
  conn.socket.write(answer(SECRET, challenge, from, TARGET));
  await accepted;
  return conn;
}

async function expectClosed(closed: Promise<void>): Promise<void> {
  const timeout = sleep(3000).then(() => "open");
  expect(await Promise.race([closed.then(() => "closed"), timeout])).toBe("closed");
}

// Hand-written protobuf, for values the codecs refuse to produce.
function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 128n) {
    out.push(Number(v & 127n) | 128);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const uint = (field: number, value: number | bigint) => [...varint(field * 8), ...varint(value)];
const bytes = (field: number, value: ArrayLike<number>) => [...varint(field * 8 + 2), ...varint(value.length), ...Array.from(value)];
const utf8 = (text: string) => new TextEncoder().encode(text);
/** A PeerBatch holding one RaftMessage made of the given fields. */
const rawBatch = (...fields: number[][]) => new Uint8Array(bytes(1, fields.flat()));

const from = asNodeId("n1");
const to = asNodeId(TARGET);
const termOf = (shard: number) => asTerm(rafts.get(TARGET)!.status(shard).term);
const batch = (group: number, message: Record<string, unknown>) => encodePeerBatch([{ group, message: { from, to, ...message } as PeerMessage }]);
const entry = (index: number, term: number, kind: Entry["kind"] = "command"): Entry => ({
  index: asLogIndex(index),
  term: asTerm(term),
  kind,
  data: new Uint8Array([1]),
});

/** One snapshot chunk for the followed shard, from its leader, with the membership given. */
const snapshotNaming = (confState: { voters: NodeId[]; learners: NodeId[] }) =>
  encodeSnapshotChunk(
    FOLLOWED,
    { type: "snapshot", from, to, term: termOf(FOLLOWED), snapshot: { index: asLogIndex(1e6), term: termOf(FOLLOWED), confState } },
    0,
    true,
    new Uint8Array([1]),
  );

/** Frames sent after the handshake, each of which must close the connection. */
const afterHandshake: { name: string; wire: () => Uint8Array }[] = [
  { name: "a length prefix above frame_bytes_max", wire: () => new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]) },
  { name: "a frame truncated, then nothing", wire: () => new Uint8Array([100, 0, 0, 0, 1, 2, 3]) },
];
/** Payloads sent as complete frames after the handshake, each of which must close the connection. */
const badFrames: { name: string; payload: () => Uint8Array }[] = [
  { name: "an empty frame", payload: () => new Uint8Array(0) },
  { name: "random bytes", payload: () => new Uint8Array([0x0a, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff]) },
  { name: "a valid batch cut short", payload: () => batch(FOLLOWED, { type: "heartbeatResp", term: termOf(FOLLOWED), readRound: 1 }).subarray(0, 5) },
  { name: "an unknown field in the batch", payload: () => new Uint8Array(bytes(9, [])) },
  { name: "an unknown message type", payload: () => rawBatch(uint(2, 99), bytes(3, utf8(TARGET)), uint(4, 1)) },
  { name: "no message type", payload: () => rawBatch(bytes(3, utf8(TARGET)), uint(4, 1)) },
  {
    name: "a message for another node",
    payload: () => encodePeerBatch([{ group: 0, message: { type: "timeoutNow", from, to: asNodeId("n3"), term: asTerm(1) } }]),
  },
  { name: "a group that is no shard of the cluster", payload: () => batch(77, { type: "heartbeatResp", term: asTerm(1), readRound: 0 }) },
  { name: "a term above 2^53", payload: () => rawBatch(uint(2, 8), bytes(3, utf8(TARGET)), uint(4, 2n ** 60n)) },
  { name: "a negative term", payload: () => rawBatch(uint(2, 8), bytes(3, utf8(TARGET)), uint(4, -1)) },
  { name: "a term above the accepted ceiling", payload: () => batch(FOLLOWED, { type: "heartbeatResp", term: asTerm(2 ** 52 + 1), readRound: 0 }) },
  { name: "an index that is not a safe integer", payload: () => rawBatch(uint(2, 2), bytes(3, utf8(TARGET)), uint(4, 1), uint(5, 2n ** 53n + 1n)) },
  {
    name: "an entry of an unknown kind",
    payload: () => rawBatch(uint(1, FOLLOWED), uint(2, 1), bytes(3, utf8(TARGET)), uint(4, 1), bytes(7, [...uint(1, 1), ...uint(2, 1), ...uint(3, 7)])),
  },
  {
    name: "an append with a gap between entries",
    payload: () =>
      batch(FOLLOWED, {
        type: "app",
        term: termOf(FOLLOWED),
        index: asLogIndex(0),
        logTerm: asTerm(0),
        commit: asLogIndex(0),
        entries: [entry(1, 1), entry(5, 1)],
      }),
  },
  {
    name: "an append whose entries have a term above the message's",
    payload: () =>
      batch(FOLLOWED, {
        type: "app",
        term: termOf(FOLLOWED),
        index: asLogIndex(0),
        logTerm: asTerm(0),
        commit: asLogIndex(0),
        entries: [entry(1, termOf(FOLLOWED) + 5)],
      }),
  },
  {
    name: "an append with a membership change that does not decode",
    payload: () =>
      batch(FOLLOWED, {
        type: "app",
        term: termOf(FOLLOWED),
        index: asLogIndex(0),
        logTerm: asTerm(0),
        commit: asLogIndex(0),
        entries: [entry(1, 1, "config")],
      }),
  },
  {
    name: "an append without a term",
    payload: () => batch(FOLLOWED, { type: "app", term: asTerm(0), index: asLogIndex(0), logTerm: asTerm(0), commit: asLogIndex(0), entries: [] }),
  },
  {
    name: "a heartbeat committing past the log",
    payload: () => batch(FOLLOWED, { type: "heartbeat", term: termOf(FOLLOWED), commit: asLogIndex(1e9), readRound: 0 }),
  },
  {
    name: "a heartbeat in a newer term committing past the log",
    payload: () => batch(FOLLOWED, { type: "heartbeat", term: asTerm(termOf(FOLLOWED) + 1), commit: asLogIndex(1e9), readRound: 0 }),
  },
  {
    name: "an acknowledgement of entries the leader never sent",
    payload: () =>
      batch(LED, { type: "appResp", term: termOf(LED), index: asLogIndex(1e9), reject: false, conflictTerm: asTerm(0), conflictIndex: asLogIndex(0) }),
  },
  { name: "a read index request with an empty context", payload: () => batch(LED, { type: "readIndex", term: asTerm(0), context: new Uint8Array(0) }) },
  { name: "a read index request with a huge context", payload: () => batch(LED, { type: "readIndex", term: asTerm(0), context: new Uint8Array(100_000) }) },
  { name: "a forwarded request with a term", payload: () => batch(LED, { type: "readIndex", term: asTerm(7), context: new Uint8Array(8) }) },
  { name: "a transfer to a node outside the cluster", payload: () => batch(LED, { type: "transferLeader", term: asTerm(0), transferee: asNodeId("mallory") }) },
  {
    name: "a vote whose last entry is newer than its term",
    payload: () =>
      batch(FOLLOWED, { type: "vote", term: termOf(FOLLOWED), lastLogIndex: asLogIndex(1), lastLogTerm: asTerm(termOf(FOLLOWED) + 3), transfer: false }),
  },
  { name: "a snapshot whose membership names a node twice", payload: () => snapshotNaming({ voters: [from, to, from], learners: [asNodeId("n3")] }) },
  {
    name: "a snapshot chunk for a group that is no shard of the cluster",
    payload: () =>
      encodeSnapshotChunk(
        42,
        {
          type: "snapshot",
          from,
          to,
          term: asTerm(1),
          snapshot: { index: asLogIndex(5), term: asTerm(1), confState: { voters: ids.map(asNodeId), learners: [] } },
        },
        0,
        true,
        new Uint8Array([1]),
      ),
  },
  { name: "a snapshot chunk naming a member with an empty id", payload: () => snapshotNaming({ voters: [from, "" as NodeId], learners: [] }) },
  { name: "access samples for a group that is no shard of the cluster", payload: () => encodeAccessSamples(new Map([[99, ["k"]]])) },
  { name: "an empty access sample", payload: () => encodeAccessSamples(new Map([[LED, [""]]])) },
  {
    name: "a flood of messages for one group",
    payload: () =>
      encodePeerBatch(
        Array.from({ length: 60_000 }, () => ({ group: LED, message: { type: "heartbeatResp", from, to, term: termOf(LED), readRound: 0 } as PeerMessage })),
      ),
  },
];

/** Bytes sent instead of a valid handshake answer; each must close the connection. */
const beforeHandshake: { name: string; answer: (challenge: Buffer) => Uint8Array }[] = [
  { name: "nothing at all (a stalled handshake)", answer: () => new Uint8Array(0) },
  { name: "the start of an answer, then nothing", answer: () => new Uint8Array([2, ...utf8("n1")]) },
  { name: "a zero id length", answer: () => new Uint8Array([0, 1, 2, 3]) },
  { name: "an id length above the limit", answer: () => new Uint8Array([200, ...new Uint8Array(300)]) },
  { name: "a wrong MAC", answer: (c) => answer("not-the-secret-at-all", c, "n1", TARGET) },
  { name: "an answer for another node", answer: (c) => answer(SECRET, c, "n1", "n3") },
  { name: "a valid MAC from a node outside the cluster", answer: (c) => answer(SECRET, c, "mallory", TARGET) },
  { name: "a valid MAC claiming the node's own id", answer: (c) => answer(SECRET, c, TARGET, TARGET) },
  { name: "a frame instead of an answer", answer: () => encodeFrames([batch(0, { type: "timeoutNow", term: asTerm(1) })]) },
];

describe("garbage on the peer port", () => {
  it("a legitimate cluster runs first", async () => {
    await targetServes();
  });

  it.each(beforeHandshake)("before the handshake: $name closes the connection", async ({ answer: bytesFor }) => {
    const rejected = transports.get(TARGET)!.stats.rejectedHandshakes;
    const conn = await connect();
    const bytes = bytesFor(await conn.challenge);
    if (bytes.length > 0) conn.socket.write(bytes);
    await expectClosed(conn.closed);
    expect(transports.get(TARGET)!.stats.rejectedHandshakes).toBe(rejected + 1);
    await targetServes();
    expect(fatal).toEqual([]);
  });

  it.each(afterHandshake)("after the handshake: $name closes the connection", async ({ wire }) => {
    const errors = transports.get(TARGET)!.stats.protocolErrors;
    const conn = await authenticated();
    conn.socket.write(wire());
    await expectClosed(conn.closed);
    expect(transports.get(TARGET)!.stats.protocolErrors).toBe(errors + 1);
    await targetServes();
    expect(fatal).toEqual([]);
  });

  it.each(badFrames)("after the handshake: $name closes the connection", async ({ name, payload }) => {
    const errors = transports.get(TARGET)!.stats.protocolErrors;
    const rejected = rafts.get(TARGET)!.stats.peerFramesRejected;
    const conn = await authenticated();
    conn.socket.write(encodeFrames([payload()]));
    await expectClosed(conn.closed);
    // The flood holds the event loop long enough, on a loaded machine, that the target's two healthy peer links
    // may also be cut (and reconnect); every other frame closes its own connection only.
    const extra = name === "a flood of messages for one group" ? 2 : 0;
    expect(transports.get(TARGET)!.stats.protocolErrors - errors).toBeGreaterThanOrEqual(1);
    expect(transports.get(TARGET)!.stats.protocolErrors - errors).toBeLessThanOrEqual(1 + extra);
    expect(rafts.get(TARGET)!.stats.peerFramesRejected).toBe(rejected + 1);
    await targetServes();
    expect(fatal).toEqual([]);
  });

  it("a frame finished while the event loop was busy past the stall limit is read, not taken for a stall", async () => {
    const conn = await authenticated();
    let closed = false;
    void conn.closed.then(() => (closed = true));
    const errors = transports.get(TARGET)!.stats.protocolErrors;
    const wire = encodeFrames([batch(FOLLOWED, { type: "heartbeatResp", term: termOf(FOLLOWED), readRound: 0 })]);
    conn.socket.write(wire.subarray(0, 3));
    await sleep(50);
    conn.socket.write(wire.subarray(3));
    const until = Date.now() + 600; // busy past frameStallMs (300): the stall timer is due before the rest is read
    while (Date.now() < until);
    await sleep(100);
    expect(closed).toBe(false);
    expect(transports.get(TARGET)!.stats.protocolErrors).toBe(errors);
    conn.socket.destroy();
    await targetServes();
  });

  it("an authenticated connection that only idles between frames stays open", async () => {
    const conn = await authenticated();
    let closed = false;
    void conn.closed.then(() => (closed = true));
    conn.socket.write(encodeFrames([batch(FOLLOWED, { type: "heartbeatResp", term: termOf(FOLLOWED), readRound: 0 })]));
    await sleep(700);
    expect(closed).toBe(false);
    conn.socket.destroy();
    await targetServes();
  });
});
