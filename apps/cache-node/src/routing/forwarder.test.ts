import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { decodeForwardedCalls } from "../peer/wire/forwarded-calls-wire.js";
import { Forwarder } from "./forwarder.js";
import { PeerCallClient } from "./peer-calls.js";

describe("the forwarder", () => {
  it("sends writes on the peer link and reads to the member's client port", async () => {
    const frames: Uint8Array[] = [];
    const peerCalls = new PeerCallClient({ connected: () => true, backlogBytes: () => 0, dial: () => undefined, send: (_to, f) => frames.push(f) > 0 });
    // Port 1 on loopback: nothing listens, so a call to the client port is refused at once.
    const forwarder = new Forwarder({ clientAddress: (id) => (id === "b" ? "127.0.0.1:1" : undefined) }, peerCalls);
    expect(forwarder.client("nobody")).toBeUndefined();
    const client = forwarder.client("b")!;
    expect(forwarder.client("b")).toBe(client);
    const outcome = (call: Promise<unknown>) =>
      call.then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    // No answer comes on the fake link: the writes end at their deadlines.
    const writes = await Promise.all([
      outcome(client.set({ key: "s", payload: { case: "text", value: "v" } }, { timeoutMs: 50 })),
      outcome(client.delete({ key: "d" }, { timeoutMs: 50 })),
      outcome(client.incr({ key: "i", delta: 2n }, { timeoutMs: 50 })),
    ]);
    expect(writes.map((e) => e?.code)).toEqual([Code.DeadlineExceeded, Code.DeadlineExceeded, Code.DeadlineExceeded]);
    const sent = frames.flatMap((f) => decodeForwardedCalls(f)).map((c) => c.method);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((m) => ["Set", "Delete", "Incr", "Batch"].includes(m))).toBe(true);
    const framesAfterWrites = frames.length;
    const read = await outcome(client.get({ key: "g" }, { timeoutMs: 2000 }));
    expect(read?.code).toBe(Code.Unavailable);
    expect(read?.rawMessage).toMatch(/ECONNREFUSED/);
    expect(frames.length).toBe(framesAfterWrites);
  });
});
