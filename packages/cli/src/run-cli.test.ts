import type { CacheClient, GetResult } from "@distcache/client";
import { KeyExistsError, UnavailableError } from "@distcache/client";
import { describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

/*
 * The command's argument handling, run in-process against a recording client: each row
 * says which SDK call an argv must make and which exit code it ends with.
 */

interface Recorded {
  method: string;
  args: unknown[];
}

const found: GetResult = { value: new TextEncoder().encode("v"), text: "v", version: 4n, ttlRemainingMs: 0 };

function recordingClient(calls: Recorded[], failWith?: Error): CacheClient {
  const record =
    <R>(method: string, result: R) =>
    async (...args: unknown[]): Promise<R> => {
      calls.push({ method, args });
      if (failWith) throw failWith;
      return result;
    };
  return {
    get: record("get", null as GetResult | null),
    getText: record("getText", null),
    getWithPosition: record("getWithPosition", { result: null, position: undefined }),
    set: record("set", 7n),
    create: record("create", 7n),
    update: record("update", 7n),
    delete: record("delete", true),
    incr: record("incr", 42n),
    mget: record("mget", [found, null]),
    mset: record("mset", [1n]),
    mdelete: record("mdelete", 2),
    stats: record("stats", { nodes: [], unreachable: [] }),
    topology: record("topology", { epoch: 1n, shardCount: 1, pointsPerShard: 1, nodes: [], shards: [] }),
    transferLeader: record("transferLeader", "n2"),
    configureStore: record("configureStore", [{ shard: 0, policy: "fifo" as const, entriesMax: 10, bytesMax: 65536 }]),
    addNode: record("addNode", 5n),
    removeNode: record("removeNode", 6n),
    getOrLoad: record("getOrLoad", found),
    loadStats: { calls: 0, coalesced: 0 },
    watch: (...args: unknown[]) => {
      calls.push({ method: "watch", args });
      const event = {
        type: "put" as const,
        key: "k/1",
        version: 3n,
        position: { shard: 0, index: 9n, ordinal: 0 },
        resume: [{ shard: 0, index: 9n, ordinal: 0 }],
      };
      return {
        resumeToken: [],
        close: () => undefined,
        async *[Symbol.asyncIterator]() {
          if (failWith) throw failWith;
          for (;;) yield event;
        },
      };
    },
    close: async () => void calls.push({ method: "close", args: [] }),
  };
}

async function run(argv: string[], options: { env?: Record<string, string>; failWith?: Error; getResult?: GetResult } = {}) {
  const calls: Recorded[] = [];
  const connects: { endpoints: string[]; timeoutMs: number }[] = [];
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    connect: (o) => {
      connects.push(o);
      const client = recordingClient(calls, options.failWith);
      if (options.getResult) client.get = async (...args) => (calls.push({ method: "get", args }), options.getResult!);
      return client;
    },
    env: options.env ?? {},
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
  });
  return { code, calls: calls.filter((c) => c.method !== "close"), closed: calls.some((c) => c.method === "close"), connects, stdout, stderr };
}

const TOKEN = "ab".repeat(32);

/** [argv, SDK method, its arguments, exit code] */
const CALLS: [string[], string, unknown[], number][] = [
  [["get", "k"], "get", ["k", { consistency: "strong" }], 1],
  [["get", "k", "--eventual"], "get", ["k", { consistency: "eventual" }], 1],
  [["get", "--json", "k"], "get", ["k", { consistency: "strong" }], 1],
  [["set", "k", "hello world"], "set", ["k", "hello world", { ttlMs: undefined, ifAbsent: undefined, ifVersion: undefined }], 0],
  [["set", "k", "v", "--ttl-ms", "1500"], "set", ["k", "v", { ttlMs: 1500, ifAbsent: undefined, ifVersion: undefined }], 0],
  [["set", "k", "v", "--if-absent"], "set", ["k", "v", { ttlMs: undefined, ifAbsent: true, ifVersion: undefined }], 0],
  [["set", "k", "v", "--if-version", "12"], "set", ["k", "v", { ttlMs: undefined, ifAbsent: undefined, ifVersion: 12n }], 0],
  [["set", "k", "--", "-v"], "set", ["k", "-v", { ttlMs: undefined, ifAbsent: undefined, ifVersion: undefined }], 0],
  [["del", "k"], "delete", ["k"], 0],
  [["del", "a", "b"], "mdelete", [["a", "b"]], 0],
  [["incr", "n"], "incr", ["n", 1n], 0],
  [["incr", "n", "-5"], "incr", ["n", -5n], 0],
  [["incr", "n", "9223372036854775807"], "incr", ["n", 2n ** 63n - 1n], 0],
  [["mget", "a", "b"], "mget", [["a", "b"], { consistency: "strong" }], 0],
  [["mget", "a", "b", "--eventual"], "mget", [["a", "b"], { consistency: "eventual" }], 0],
  [["stats"], "stats", [], 3],
  [["topology"], "topology", [], 0],
  [["transfer-leader", "3", "n2"], "transferLeader", [3, "n2"], 0],
  [["transfer-leader", "3"], "transferLeader", [3, undefined], 0],
  [["cluster", "transfer-leader", "3", "n2"], "transferLeader", [3, "n2"], 0],
  [
    ["cluster", "add-node", "n4", "10.0.0.4:7301", "10.0.0.4:7401", "--admin-token", TOKEN.toUpperCase()],
    "addNode",
    [{ id: "n4", clientAddress: "10.0.0.4:7301", peerAddress: "10.0.0.4:7401" }, { adminToken: TOKEN }],
    0,
  ],
  [["cluster", "remove-node", "n4", "--admin-token", TOKEN], "removeNode", ["n4", { adminToken: TOKEN }], 0],
  [["configure", "--policy", "LFU"], "configureStore", [{ shards: undefined, policy: "lfu", entriesMax: undefined, bytesMax: undefined }], 0],
  [
    ["configure", "--shard", "1", "--shard", "4", "--entries-max", "500", "--bytes-max", "1048576"],
    "configureStore",
    [{ shards: [1, 4], policy: undefined, entriesMax: 500n, bytesMax: 1048576n }],
    0,
  ],
];

describe("argument parsing", () => {
  it.each(CALLS)("%j calls %s", async (argv, method, args, code) => {
    const r = await run(argv);
    expect(r.calls).toEqual([{ method, args }]);
    expect(r.code).toBe(code);
    expect(r.closed).toBe(true);
  });

  /** [argv, what stderr mentions] — usage errors exit 2 and never connect. */
  const USAGE: [string[], RegExp][] = [
    [[], /Usage: distcache/],
    [["nope"], /unknown command 'nope'/],
    [["get"], /missing required argument 'key'/],
    [["set", "k"], /missing required argument 'value'/],
    [["set", "k", "v", "--ttl-ms", "-1"], /--ttl-ms/],
    [["set", "k", "v", "--ttl-ms", "soon"], /whole number of milliseconds/],
    [["set", "k", "v", "--if-version", "x"], /expected a version/],
    [["set", "k", "v", "--if-absent", "--if-version", "1"], /cannot be combined/],
    [["transfer-leader", "x"], /expected a shard number/],
    [["incr", "n", "1.5"], /signed 64-bit integer/],
    [["incr", "n", "9223372036854775808"], /signed 64-bit integer/],
    [["get", "k", "--endpoints", "localhost:7301"], /must start with http/],
    [["get", "k", "--endpoints", "http://"], /is not a URL/],
    [["get", "k", "--timeout-ms", "0"], /--timeout-ms/],
    [["get", "k", "--bogus"], /unknown option '--bogus'/],
    [["del"], /missing required argument 'keys'/],
    [["configure", "--policy", "mru"], /expected one of lru, lfu, fifo, random/],
    [["configure", "--entries-max", "0"], /expected an integer from 1 to 2\^53-1/],
    [["configure", "--bytes-max", "9007199254740992"], /expected an integer from 1 to 2\^53-1/],
    [["configure", "--shard", "x"], /expected a shard number/],
  ];

  it.each(USAGE)("%j is a usage error", async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.connects).toEqual([]);
  });

  it("a bad DISTCACHE_ENDPOINTS is a usage error", async () => {
    const r = await run(["get", "k"], { env: { DISTCACHE_ENDPOINTS: "nowhere" } });
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/^error: DISTCACHE_ENDPOINTS: /)]);
  });

  it("--help for each command prints usage and exits 0", async () => {
    for (const command of ["get", "set", "del", "incr", "mget", "stats", "topology", "transfer-leader", "configure", "cluster"]) {
      const r = await run([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: distcache ${command}`));
    }
    expect((await run(["--help"])).stdout).toMatch(/Commands:\n {2}get \[options\] <key>[\s\S]*incr \[options\] <key> \[delta\]/);
  });
});

describe("endpoints and timeouts", () => {
  it("come from the flag (before or after the command), the environment, or the default", async () => {
    expect((await run(["--endpoints", "http://a:1,http://b:2", "get", "k"])).connects).toEqual([{ endpoints: ["http://a:1", "http://b:2"], timeoutMs: 5000 }]);
    expect((await run(["get", "k", "--endpoints", "http://a:1", "--timeout-ms", "250"])).connects).toEqual([{ endpoints: ["http://a:1"], timeoutMs: 250 }]);
    expect((await run(["get", "k"], { env: { DISTCACHE_ENDPOINTS: "http://e:9" } })).connects[0]!.endpoints).toEqual(["http://e:9"]);
    expect((await run(["get", "k"])).connects[0]!.endpoints).toEqual(["http://127.0.0.1:7301"]);
  });
});

describe("outcomes", () => {
  it("prints a found value and exits 0; a missing one exits 1", async () => {
    const hit = await run(["get", "k"], { getResult: found });
    expect([hit.code, hit.stdout]).toEqual([0, "v\n"]);
    const miss = await run(["get", "k"]);
    expect([miss.code, miss.stdout, miss.stderr]).toEqual([1, "", "(not found: k)\n"]);
    const missJson = await run(["get", "k", "--json"]);
    expect([missJson.code, missJson.stdout]).toEqual([1, '{"key":"k","found":false}\n']);
  });

  it("watch prints --count events and passes --prefix, --values and --from to the SDK", async () => {
    const r = await run(["watch", "k/", "--prefix", "--values", "--from", "0:4:1,2:8:4294967295", "--count", "2"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("PUT\tk/1\tversion=3\nPUT\tk/1\tversion=3\n");
    const watch = r.calls.find((c) => c.method === "watch")!;
    expect(watch.args).toEqual([
      "k/",
      {
        prefix: true,
        withValues: true,
        from: [
          { shard: 0, index: 4n, ordinal: 1 },
          { shard: 2, index: 8n, ordinal: 4294967295 },
        ],
      },
    ]);
    expect((await run(["watch", "k", "--count", "0"])).code).toBe(2);
  });

  it("prints results of writes", async () => {
    expect((await run(["set", "k", "v"])).stdout).toBe("7\n");
    expect((await run(["set", "k", "v", "--json"])).stdout).toBe('{"key":"k","version":"7"}\n');
    expect((await run(["del", "k"])).stdout).toBe("1\n");
    expect((await run(["incr", "n", "--json"])).stdout).toBe('{"key":"n","value":"42"}\n');
    expect((await run(["mget", "a", "b"])).stdout).toBe("a\tv\nb\t(not found)\n");
    expect((await run(["configure", "--policy", "fifo"])).stdout).toBe("shard 0\tpolicy=fifo\tentries_max=10\tbytes_max=65536\n");
    expect((await run(["configure", "--json"])).stdout).toBe('{"shards":[{"shard":0,"policy":"fifo","entriesMax":10,"bytesMax":65536}]}\n');
    expect((await run(["cluster", "add-node", "n4", "h:1", "h:2", "--admin-token", TOKEN])).stdout).toBe("5\n");
    expect((await run(["cluster", "remove-node", "n4", "--admin-token", TOKEN, "--json"])).stdout).toBe('{"nodeId":"n4","epoch":"6"}\n');
  });

  it.each([
    [new KeyExistsError("k", 'key "k" already exists (version 3)'), 'error: key "k" already exists (version 3) (KeyExistsError)\n'],
    [new UnavailableError("no node answered GetTopology"), "error: no node answered GetTopology (UnavailableError)\n"],
  ])("a server error exits 3 with its message: %s", async (error, stderr) => {
    const r = await run(["set", "k", "v"], { failWith: error });
    expect([r.code, r.stdout, r.stderr, r.closed]).toEqual([3, "", stderr, true]);
  });
});
