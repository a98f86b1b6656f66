// The ceilings as targets: what one Node process on this machine serves with no work
// behind the request, through node:http and through connect-node.
import { fileURLToPath } from "node:url";
import { spawnServer, stopServer, waitUntil } from "./processes.mjs";

const SERVER = fileURLToPath(new URL("./ceiling-servers.mjs", import.meta.url));

function ceiling(kind, label, driverKind) {
  return {
    name: `ceiling-${kind}`,
    label,
    ceiling: true,
    missing: () => undefined,
    async start() {
      const server = spawnServer(process.execPath, [SERVER, kind]);
      let port;
      await waitUntil(async () => (port = server.log.map((l) => /^port (\d+)$/.exec(l)?.[1]).find(Boolean)) !== undefined, 10_000, label, [server]);
      const url = `http://127.0.0.1:${port}`;
      return {
        version: process.version,
        pids: () => [server.pid],
        driver: () => ({ kind: driverKind, endpoints: [url] }),
        // wrk posts to it too (the node:http one answers any POST): the same generator's ceiling.
        jsonUrl: async () => url,
        counters: async () => ({ fsyncs: null, elections: 0 }),
        stop: () => stopServer(server),
      };
    },
  };
}

export const ceilingHttp = ceiling("http", "bare node:http", "http");
export const ceilingConnect = ceiling("connect", "bare connect-node + Map", "connect");
