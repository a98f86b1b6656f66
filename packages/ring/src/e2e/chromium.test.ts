import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/*
 * The SDK maps keys to shards in the browser with the same ring as the server, so the
 * ring must give the same answers in Chromium as in Node: the built package
 * (packages/ring/dist, plain ES modules) is loaded into headless Chromium and both
 * compute the same vectors. Needs the build (npm run build) and Chromium
 * (apt-get install chromium; DISTCACHE_CHROMIUM names another binary). Outside CI a
 * machine without Chromium skips this file; in CI its absence fails.
 */

const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));
const CHROMIUM = process.env.DISTCACHE_CHROMIUM ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p) => existsSync(p));
const runs = CHROMIUM !== undefined || process.env.CI === "true";

/** Computes every vector from a ring module; the same source runs in Node and in the page. */
const COMPUTE = `
export function compute(m, keys) {
  const hex = (h) => h.hi.toString(16).padStart(8, "0") + h.lo.toString(16).padStart(8, "0");
  const encoder = new TextEncoder();
  const ring = new m.Ring(Array.from({ length: 12 }, (_, i) => i));
  const odd = new m.Ring([3, 17, 4096, 70000, 2 ** 32 - 1], { pointsPerShard: 64 });
  return {
    xxh64: keys.map((k) => hex(m.xxHash64(encoder.encode(k)))),
    seeded: keys.slice(0, 20).map((k) => hex(m.xxHash64(encoder.encode(k), { hi: 0x9e3779b9, lo: 0x7f4a7c15 }))),
    hashKey: keys.map((k) => hex(m.hashKey(k))),
    shard12: keys.map((k) => ring.shardFor(k)),
    shardOdd: keys.map((k) => odd.shardFor(k)),
    shares: [...ring.arcShares()].map(([s, share]) => [s, share.toFixed(12)]),
  };
}
`;

/** Keys of every kind: ASCII, multi-byte UTF-8, surrogate pairs and lone surrogates, long ones. */
function keys(): string[] {
  const out = ["", "a", "abc", "message digest", "The quick brown fox jumps over the lazy dog", "ключ", "鍵", "🙂", "a\ud800b", "\udc00", "x".repeat(1000)];
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 400; i++) {
    let key = "";
    const length = next() % 40;
    for (let j = 0; j < length; j++) key += String.fromCharCode(next() % 4 === 0 ? next() % 0xffff : 0x20 + (next() % 95));
    out.push(key);
  }
  return out;
}

/** Serves the built ring package and the compute module, nothing else. */
function serve(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>ring</title>");
    if (path === "/compute.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(COMPUTE);
    const file = normalize(join(DIST, path));
    if (!file.startsWith(DIST) || !file.endsWith(".js")) return res.writeHead(404).end();
    readFile(file).then(
      (body) => res.writeHead(200, { "content-type": "text/javascript" }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

describe.runIf(runs)("the ring in Chromium", () => {
  let browser: Browser;
  let server: Server;

  beforeAll(async () => {
    if (CHROMIUM === undefined) throw new Error("Chromium not found: apt-get install chromium, or set DISTCACHE_CHROMIUM");
    server = await serve();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--headless=new"] });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
  });

  it("hashes keys and maps them to shards exactly as Node does", async () => {
    const { port } = server.address() as AddressInfo;
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    // A string, so the test runner's module transform leaves the page's import() alone.
    const script = `(async () => {
      const m = await import("/index.js");
      const { compute } = await import("/compute.js");
      return { userAgent: navigator.userAgent, result: compute(m, ${JSON.stringify(keys())}) };
    })()`;
    const inBrowser = (await page.evaluate(script)) as { userAgent: string; result: unknown };
    expect(inBrowser.userAgent).toMatch(/Chrome\//);

    const m: unknown = await import(/* @vite-ignore */ pathToFileURL(join(DIST, "index.js")).href);
    const { compute } = (await import(/* @vite-ignore */ `data:text/javascript,${encodeURIComponent(COMPUTE)}`)) as {
      compute: (m: unknown, keys: string[]) => unknown;
    };
    const inNode = compute(m, keys()) as { xxh64: string[]; hashKey: string[] };
    expect(inBrowser.result).toEqual(inNode);
    // And both agree with published XXH64 digests.
    expect(inNode.xxh64.slice(0, 5)).toEqual(["ef46db3751d8e999", "d24ec4f1a98c6e5b", "44bc2cf5ad770999", "066ed728fceeb3be", "0b242d361fda71bc"]);
  });
});
