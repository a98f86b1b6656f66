// A bare POST over keep-alive HTTP/1.1, for the node:http ceiling.
import http from "node:http";
import { keyName } from "../generator/keys.mjs";

export async function openHttpDriver(config) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.connections ?? 64 });
  const url = new URL(config.endpoints[0]);
  const body = Buffer.alloc(config.valueBytes, 120);
  const send = (path) =>
    new Promise((resolve, reject) => {
      const req = http.request({ agent, host: url.hostname, port: url.port, path, method: "POST", headers: { "content-length": body.length } }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on("error", reject);
      req.end(body);
    });
  return {
    run: (op, key) => send(`/${op}/${keyName(key)}`),
    close: async () => agent.destroy(),
  };
}
