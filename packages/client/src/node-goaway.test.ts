import { Http2SessionManager } from "@connectrpc/connect-node";
import http2 from "node:http2";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GuardedSessionManager } from "./node.js";

// A node shutting down gracefully sends GOAWAY; on a connection with no open stream,
// connect-node destroys the session with an error, and that error can be emitted after
// the manager removed its listeners (a request arriving meanwhile sees the session
// destroyed and moves on). With no listener, Node throws it and the SDK user's process
// exits. The Node client's sessions keep a listener of their own.

let server: http2.Http2Server;
let url: string;
beforeEach(async () => {
  server = http2.createServer((_req, res) => res.end("ok"));
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
  url = `http://127.0.0.1:${port}`;
});
afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function sessionAfterCleanup(manager: Http2SessionManager): Promise<http2.ClientHttp2Session> {
  const stream = await manager.request("POST", "/x", {}, {});
  const session = stream.session as http2.ClientHttp2Session;
  stream.resume();
  await new Promise((r) => stream.on("close", r).end());
  // The manager leaves the session and removes its listeners, as it does on a state change.
  const closed = new Promise((r) => session.once("close", r));
  manager.abort();
  await closed;
  return session;
}

describe("the Node client's HTTP/2 sessions", () => {
  it("swallow a late session error once the manager let go of the session", async () => {
    const session = await sessionAfterCleanup(new GuardedSessionManager(url));
    expect(() => session.emit("error", new Error("received GOAWAY without any open streams"))).not.toThrow();
  });

  it("(the hazard) a stock manager's session throws such an error", async () => {
    const session = await sessionAfterCleanup(new Http2SessionManager(url));
    // abort() added a one-shot swallow for its own destroy, used up by now: nothing listens.
    expect(() => session.emit("error", new Error("received GOAWAY without any open streams"))).toThrow(/GOAWAY/);
  });
});
