// The machine's ceilings, each a child process: `http` answers every POST with 200 and a
// small body (bare node:http); `connect` serves CacheService Get and Set from a Map
// (bare connect-node over HTTP/2, no consensus, no store). Prints its port when ready.
import http from "node:http";
import http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CacheService } from "@distcache/proto";

const kind = process.argv[2];
let server;
if (kind === "http") {
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  server.keepAliveTimeout = 60_000;
} else if (kind === "connect") {
  const map = new Map();
  let version = 0n;
  const handler = connectNodeAdapter({
    routes(router) {
      router.service(CacheService, {
        get(req) {
          const value = map.get(req.key);
          return value ? { found: true, payload: { case: "value", value: value.bytes }, version: value.version } : { found: false };
        },
        set(req) {
          version++;
          map.set(req.key, { bytes: req.payload.value, version });
          return { version };
        },
      });
    },
  });
  server = http2.createServer(handler);
  server.on("connection", (socket) => socket.setNoDelay(true));
} else {
  throw new Error(`unknown ceiling ${kind}; use http or connect`);
}
server.listen(0, "127.0.0.1", () => console.log(`port ${server.address().port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
