import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext } from "@connectrpc/connect";
import { BatchRequestSchema, CacheService, NotLeaderSchema, SetRequestSchema, type BatchRequest, type SetRequest } from "@distcache/proto";
import type { ForwardedAnswer } from "@distcache/proto/raft";
import { describe, expect, it } from "vitest";
import { decodeForwardedAnswers, encodeForwardedAnswer, encodeForwardedCall } from "../peer/wire/forwarded-calls-wire.js";
import { PeerProtocolError } from "../peer/wire/protocol-error.js";
import { PeerForwarding } from "./peer-forwarding.js";
import type { PeerLinks } from "./peer-calls.js";

/** Two nodes, a and b, whose links deliver frames on a later turn of the event loop (or drop them, or are down). */
function pair() {
  const state = { up: true, drop: false, full: false, backlog: 0, sent: 0, dialed: 0 };
  const nodes = new Map<string, PeerForwarding>();
  const links = (self: string): PeerLinks => ({
    connected: () => state.up,
    backlogBytes: () => state.backlog,
    dial: () => void state.dialed++,
    send: (to, payload) => {
      if (state.full) return false;
      state.sent++;
      if (!state.drop) setImmediate(() => nodes.get(to)!.accept(self, payload));
      return true;
    },
  });
  nodes.set("a", new PeerForwarding(links("a")));
  nodes.set("b", new PeerForwarding(links("b")));
  const a = nodes.get("a")!;
  const b = nodes.get("b")!;
  // a's client for b, through the peer link.
  const client = createClient(CacheService, a.client.transport("b"));
  return { a, b, client, state };
}

/** The error a call failed with (the test fails if it succeeded). */
async function failure(call: Promise<unknown>): Promise<ConnectError> {
  return call.then(
    () => {
      throw new Error("the call succeeded");
    },
    (e: unknown) => ConnectError.from(e),
  );
}

const setRequest = (key: string): SetRequest => create(SetRequestSchema, { key, payload: { case: "value", value: new Uint8Array([1]) } });

describe("forwarding on peer links", () => {
  it("runs a forwarded Set with the receiver's implementation and brings its answer back", async () => {
    const { b, client } = pair();
    const seen: { key: string; timeoutMs: number | undefined }[] = [];
    b.server.serve({
      set: (req: SetRequest, ctx: HandlerContext) => {
        seen.push({ key: req.key, timeoutMs: ctx.timeoutMs() });
        return { version: 7n };
      },
    });
    const answer = await client.set(setRequest("k1"), { timeoutMs: 2000 });
    expect(answer.version).toBe(7n);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.key).toBe("k1");
    // The deadline travels and counts from the call's arrival.
    expect(seen[0]!.timeoutMs).toBeGreaterThan(1500);
    expect(seen[0]!.timeoutMs).toBeLessThanOrEqual(2000);
  });

  it("carries a refusal's code, message and details back, marked as the receiver's own answer", async () => {
    const { b, client } = pair();
    b.server.serve({
      set: () => {
        throw new ConnectError("not the leader of shard 3", Code.FailedPrecondition, undefined, [
          { desc: NotLeaderSchema, value: { shard: 3, leaderId: "c", leaderAddress: "127.0.0.1:9", epoch: 2n } },
        ]);
      },
    });
    const err = await failure(client.set(setRequest("k"), { timeoutMs: 1000 }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe("not the leader of shard 3");
    expect(err.findDetails(NotLeaderSchema)[0]).toMatchObject({ shard: 3, leaderId: "c", epoch: 2n });
    // The router and the SDK tell a node's answer from a failure to reach it this way.
    expect(err.metadata.get("content-type")).toBe("application/proto");
  });

  it("sends nothing while the link is down, and says so", async () => {
    const { b, client, state } = pair();
    let calls = 0;
    b.server.serve({ set: () => ({ version: BigInt(++calls) }) });
    state.up = false;
    const err = await failure(client.set(setRequest("k"), { timeoutMs: 1000 }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/nothing was sent, retry/);
    expect(err.metadata.has("content-type")).toBe(false);
    expect(state.sent).toBe(0);
    expect(calls).toBe(0);
  });

  it("sends a call through the fallback (the peer's client port) while the link is down, and dials the link", async () => {
    const { a, b, state } = pair();
    b.server.serve({ set: () => ({ version: 1n }) });
    const viaFallback: string[] = [];
    const fallback = createClient(
      CacheService,
      a.client.transport("b", {
        unary: (method) => {
          viaFallback.push(method.name);
          return Promise.reject(new ConnectError("from the fallback", Code.Internal));
        },
        stream: () => Promise.reject(new Error("unused")),
      }),
    );
    state.up = false;
    const err = await failure(fallback.set(setRequest("k")));
    expect(err.rawMessage).toBe("from the fallback");
    expect(viaFallback).toEqual(["Set"]);
    expect(state.dialed).toBe(1);
    expect(state.sent).toBe(0);
    state.up = true;
    expect((await fallback.set(setRequest("k"))).version).toBe(1n);
    expect(viaFallback).toEqual(["Set"]);
    // A backed-up link (Raft traffic queues there too), or one that refuses the frame:
    // nothing was sent on it, so the call goes to the client port.
    state.backlog = 2 * 1024 * 1024;
    expect((await failure(fallback.set(setRequest("k")))).rawMessage).toBe("from the fallback");
    state.backlog = 0;
    state.full = true;
    expect((await failure(fallback.set(setRequest("k")))).rawMessage).toBe("from the fallback");
    expect(viaFallback).toEqual(["Set", "Set", "Set"]);
    // One call on the link, and its answer.
    expect(state.sent).toBe(2);
    expect(a.client.stats).toMatchObject({ sent: 1, viaClientPort: 3 });
  });

  it("fails a waiting call as of unknown outcome when a link to its receiver closes, and drops the answer that comes later", async () => {
    const { a, b, client } = pair();
    let release: () => void = () => undefined;
    b.server.serve({ set: () => new Promise((resolve) => (release = () => resolve({ version: 1n }))) });
    const pending = failure(client.set(setRequest("k"), { timeoutMs: 5000 }));
    await new Promise((r) => setTimeout(r, 20));
    expect(a.client.waiting("b")).toBe(1);
    a.linkDown("b");
    const err = await pending;
    expect(err.code).toBe(Code.Aborted);
    expect(err.rawMessage).toMatch(/closed before its answer came/);
    expect(a.client.waiting("b")).toBe(0);
    expect(a.client.stats.lost).toBe(1);
    // The leader's answer, once it comes, settles nothing and is dropped.
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(b.server.stats.served).toBe(1);
    expect(a.client.waiting("b")).toBe(0);
  });

  it("fails a call at its deadline when no answer comes", async () => {
    const { client, state } = pair();
    state.drop = true;
    const started = performance.now();
    const err = await failure(client.set(setRequest("k"), { timeoutMs: 80 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(performance.now() - started).toBeGreaterThanOrEqual(70);
  });

  it("forwards writes only: a read is refused before anything is sent", async () => {
    const { client, state } = pair();
    const err = await failure(client.get({ key: "k" }));
    expect(err.code).toBe(Code.Unimplemented);
    expect(state.sent).toBe(0);
  });

  it("answers every call it cannot run: unknown method, undecodable request, not started, too many at once", async () => {
    const answers: ForwardedAnswer[] = [];
    // b's answers are captured instead of delivered; at most one call runs at once, of at most 64 bytes.
    const served = new PeerForwarding(
      {
        connected: () => true,
        backlogBytes: () => 0,
        dial: () => undefined,
        send: (_to, payload) => {
          answers.push(...decodeForwardedAnswers(payload));
          return true;
        },
      },
      { servedMax: 1 },
    );
    const call = (id: number, method: string, request: Uint8Array) =>
      served.accept("a", encodeForwardedCall({ id: BigInt(id), method, timeoutMs: 1000, request }));
    const setBytes = toBinary(SetRequestSchema, setRequest("k"));
    call(1, "Set", setBytes);
    await new Promise((r) => setTimeout(r, 10));
    let hold: () => void = () => undefined;
    served.server.serve(
      { set: () => ({ version: 1n }), batch: () => new Promise((resolve) => (hold = () => resolve({ results: [] }))) },
      { requestBytesMax: 64 },
    );
    call(2, "Get", toBinary(SetRequestSchema, setRequest("k")));
    call(3, "Set", new Uint8Array([0x0a, 0xff]));
    const batch: BatchRequest = create(BatchRequestSchema, { calls: [] });
    call(4, "Batch", toBinary(BatchRequestSchema, batch));
    call(5, "Set", setBytes);
    call(6, "Set", toBinary(SetRequestSchema, setRequest("k".repeat(100))));
    await new Promise((r) => setTimeout(r, 10));
    hold();
    await new Promise((r) => setTimeout(r, 10));
    const byId = new Map(answers.map((x) => [Number(x.id), x]));
    expect(byId.get(1)).toMatchObject({ errorCode: "unavailable", errorMessage: "the node is starting; retry" });
    expect(byId.get(2)).toMatchObject({ errorCode: "unimplemented" });
    expect(byId.get(3)).toMatchObject({ errorCode: "invalid_argument" });
    expect(byId.get(3)!.errorMessage).toMatch(/^parse binary/);
    expect(byId.get(5)).toMatchObject({ errorCode: "resource_exhausted" });
    expect(byId.get(5)!.errorMessage).toMatch(/retry later/);
    expect(byId.get(4)).toMatchObject({ errorCode: "" });
    expect(byId.get(6)).toMatchObject({ errorCode: "resource_exhausted" });
    expect(byId.get(6)!.errorMessage).toMatch(/larger than configured readMaxBytes 64/);
  });

  it("closes the connection on a forwarded-calls frame that does not decode", () => {
    const { a } = pair();
    // Field 4's tag, then a length that runs past the frame.
    expect(() => a.accept("b", new Uint8Array([0x22, 0x7f, 0x01]))).toThrow(PeerProtocolError);
    expect(() => a.accept("b", new Uint8Array([0x2a, 0x7f]))).toThrow(PeerProtocolError);
    // A Raft batch is not for the forwarding.
    expect(a.accept("b", new Uint8Array([0x0a, 0x00]))).toBe(false);
    // An answer for no waiting call is dropped.
    expect(a.accept("b", encodeForwardedAnswer({ id: 99n, errorCode: "internal" }))).toBe(true);
  });
});
