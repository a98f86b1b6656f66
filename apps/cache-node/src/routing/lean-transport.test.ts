import { createClient, Code, ConnectError } from "@connectrpc/connect";
import { CacheService } from "@distcache/proto";
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { createLeanTransport } from "./lean-transport.js";

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe("the forwarding transport", () => {
  it("holds at most callsMax calls to a node, refuses more as unavailable without sending them, and frees slots as calls end", async () => {
    const held: http.ServerResponse[] = [];
    let received = 0;
    server = http.createServer((req, res) => {
      received++;
      req.resume();
      held.push(res);
    });
    const port = await new Promise<number>((resolve) => server!.listen(0, "127.0.0.1", () => resolve((server!.address() as { port: number }).port)));
    const transport = createLeanTransport(`http://127.0.0.1:${port}`, { socketsMax: 2, callsMax: 5 });
    const client = createClient(CacheService, transport);
    const calls = Array.from({ length: 8 }, () =>
      client.stats({}).then(
        () => "ok",
        (e: unknown) => ConnectError.from(e),
      ),
    );
    const refused = await Promise.all(calls.slice(5));
    for (const err of refused) {
      expect((err as ConnectError).code).toBe(Code.Unavailable);
      expect((err as ConnectError).rawMessage).toMatch(/5 calls .* in flight or queued.*nothing was sent, retry/);
    }
    expect(transport.pending()).toBe(5);
    await new Promise((r) => setTimeout(r, 50));
    // Two sockets: only two calls reached the server, three wait in the agent's queue.
    expect(received).toBe(2);
    for (const res of held.splice(0)) res.writeHead(200, { "content-type": "application/proto" }).end();
    await new Promise((r) => setTimeout(r, 50));
    for (const res of held.splice(0)) res.writeHead(200, { "content-type": "application/proto" }).end();
    await new Promise((r) => setTimeout(r, 50));
    for (const res of held.splice(0)) res.writeHead(200, { "content-type": "application/proto" }).end();
    expect(await Promise.all(calls.slice(0, 5))).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(transport.pending()).toBe(0);
    transport.close();
  });
});
