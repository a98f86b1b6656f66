import net from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  CHALLENGE_BYTES,
  CLUSTER_ID_BYTES,
  MAGIC,
  PEER_PROTOCOL_VERSION,
  PREAMBLE_BYTES,
  answer,
  newChallenge,
  parseAnswer,
  parseChallenge,
  verify,
} from "./peer-handshake.js";
import { PeerTransport } from "./peer-transport.js";

const SECRET = "handshake-test-secret-0123456789";
const CLUSTER_A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CLUSTER_B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

const open: PeerTransport[] = [];
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await Promise.all(open.splice(0).map((t) => t.close()));
});

/** A logger whose lines land in `lines` (parsed). */
function capture(): { logger: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function transport(
  nodeId: string,
  clusterId: string,
  logger: pino.Logger,
  onMessage: (from: string, payload: Buffer) => void = () => undefined,
): PeerTransport {
  const t = new PeerTransport({ nodeId, secret: SECRET, clusterId, peers: new Map(), onMessage, logger, reconnectDelayMsMin: 10, reconnectDelayMsMax: 50 });
  open.push(t);
  return t;
}

const ERROR = 50;

describe("the handshake's bytes", () => {
  it("carries the version and the cluster id, and the HMAC covers both", () => {
    const challenge = newChallenge(CLUSTER_A);
    expect(challenge.length).toBe(CHALLENGE_BYTES);
    expect(challenge.subarray(0, 4).equals(MAGIC)).toBe(true);
    expect(challenge.readUInt32LE(4)).toBe(PEER_PROTOCOL_VERSION);
    const parsed = parseChallenge(challenge);
    expect(parsed.state === "complete" && parsed.clusterId.toString("hex")).toBe(CLUSTER_A);

    const reply = answer(SECRET, challenge, "n1", "n2", CLUSTER_A);
    const good = parseAnswer(reply);
    if (good.state !== "complete") throw new Error("answer did not parse");
    expect(good).toMatchObject({ version: PEER_PROTOCOL_VERSION, from: "n1", to: "n2" });
    expect(good.clusterId.toString("hex")).toBe(CLUSTER_A);
    expect(verify(SECRET, challenge, good)).toBe(true);
    expect(reply.includes(Buffer.from(SECRET))).toBe(false);

    // Rewriting the cluster id in flight breaks the MAC.
    const forged = Buffer.from(reply);
    const at = PREAMBLE_BYTES + 1 + 2;
    Buffer.from(CLUSTER_B, "hex").copy(forged, at, 0, CLUSTER_ID_BYTES);
    const parsedForged = parseAnswer(forged);
    expect(parsedForged.state === "complete" && verify(SECRET, challenge, parsedForged)).toBe(false);
    // So does rewriting the version (the listener then reads another version, and never gets to the MAC).
    const otherVersion = Buffer.from(reply);
    otherVersion.writeUInt32LE(PEER_PROTOCOL_VERSION + 1, 4);
    expect(parseAnswer(otherVersion)).toEqual({ state: "version", version: PEER_PROTOCOL_VERSION + 1, from: "n1" });
  });

  it("reads the version of a challenge it cannot read further, including the unversioned one", () => {
    const later = Buffer.concat([MAGIC, Buffer.from([PEER_PROTOCOL_VERSION + 1, 0, 0, 0])]);
    expect(parseChallenge(later)).toEqual({ state: "version", version: PEER_PROTOCOL_VERSION + 1 });
    expect(parseChallenge(Buffer.concat([Buffer.from("DCP1", "latin1"), Buffer.alloc(32)]))).toEqual({ state: "version", version: 1 });
    expect(parseChallenge(Buffer.from("HTTP/1.1 400", "latin1"))).toEqual({ state: "invalid" });
  });
});

describe("peers of another cluster or version", () => {
  it("refuses a peer of another cluster on both sides, with the clear error logged by each", async () => {
    const a = capture();
    const b = capture();
    const received: string[] = [];
    const ta = transport("a", CLUSTER_A, a.logger);
    const tb = transport("b", CLUSTER_B, b.logger, (_from, payload) => received.push(payload.toString()));
    tb.setPeerAddress("a", "127.0.0.1:9");
    const portB = await tb.listen(0, "127.0.0.1");
    ta.setPeerAddress("b", `127.0.0.1:${portB}`);
    ta.send("b", Buffer.from("hello"));
    const refusal = (lines: { level: number; msg: string }[]) => lines.find((l) => l.level === ERROR && l.msg.includes("belongs to cluster"));
    await eventually(() => refusal(a.lines) !== undefined && refusal(b.lines) !== undefined);
    expect(refusal(a.lines)!.msg).toBe(
      `refusing to connect: peer b belongs to cluster ${CLUSTER_B}, this node to cluster ${CLUSTER_A}; ` +
        "refusing it (was its data dir bootstrapped with other --initial-cluster, --shards, --replicas or peer secret?)",
    );
    expect(refusal(b.lines)!.msg).toContain(`peer a belongs to cluster ${CLUSTER_A}, this node to cluster ${CLUSTER_B}`);
    expect(tb.stats.rejectedHandshakes).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toEqual([]);
    // The dialer keeps redialing; the refusal is logged at error once, not on every attempt.
    expect(a.lines.filter((l) => l.level === ERROR).length).toBe(1);
  });

  it("accepts a peer of the same cluster", async () => {
    const received: string[] = [];
    const ta = transport("a", CLUSTER_A, capture().logger);
    const tb = transport("b", CLUSTER_A, capture().logger, (_from, payload) => received.push(payload.toString()));
    tb.setPeerAddress("a", "127.0.0.1:9");
    ta.setPeerAddress("b", `127.0.0.1:${await tb.listen(0, "127.0.0.1")}`);
    ta.send("b", Buffer.from("hello"));
    await eventually(() => received.length === 1);
  });

  it("a listener refuses a dialer that speaks another version, naming both versions", async () => {
    const b = capture();
    const tb = transport("b", CLUSTER_A, b.logger);
    const port = await tb.listen(0, "127.0.0.1");
    const socket = net.connect(port, "127.0.0.1");
    sockets.push(socket);
    socket.on("error", () => undefined);
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    socket.once("data", () => {
      const notice = Buffer.concat([MAGIC, Buffer.alloc(4), Buffer.from([2]), Buffer.from("n9")]);
      notice.writeUInt32LE(PEER_PROTOCOL_VERSION + 1, 4);
      socket.write(notice);
    });
    await closed;
    await eventually(() => b.lines.some((l) => l.level === ERROR));
    expect(b.lines.find((l) => l.level === ERROR)!.msg).toBe(
      `refusing an inbound peer connection: peer n9 speaks peer protocol ${PEER_PROTOCOL_VERSION + 1}, this node ${PEER_PROTOCOL_VERSION}; ` +
        "no rolling upgrades before 1.0: run one build on every node",
    );
  });

  it("a dialer refuses a listener that speaks another version, and tells it its own", async () => {
    const a = capture();
    const ta = transport("a", CLUSTER_A, a.logger);
    let heard = Buffer.alloc(0);
    const server = net.createServer((socket) => {
      sockets.push(socket);
      const challenge = Buffer.concat([MAGIC, Buffer.alloc(4), Buffer.alloc(48)]);
      challenge.writeUInt32LE(PEER_PROTOCOL_VERSION + 1, 4);
      socket.write(challenge);
      socket.on("data", (chunk: Buffer) => (heard = Buffer.concat([heard, chunk])));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    ta.setPeerAddress("n2", `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    ta.send("n2", Buffer.from("hello"));
    await eventually(() => a.lines.some((l) => l.level === ERROR) && heard.length > 0);
    expect(a.lines.find((l) => l.level === ERROR)!.msg).toBe(
      `refusing to connect: peer n2 speaks peer protocol ${PEER_PROTOCOL_VERSION + 1}, this node ${PEER_PROTOCOL_VERSION}; ` +
        "no rolling upgrades before 1.0: run one build on every node",
    );
    expect(parseAnswer(heard)).toEqual({ state: "partial" });
    expect(heard.readUInt32LE(4)).toBe(PEER_PROTOCOL_VERSION);
  });
});
