import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "./config-error.js";
import { IDENTITY_FILE, deriveClusterId, openDataDirIdentity, type IdentityInputs } from "./data-dir-identity.js";

const silent = pino({ level: "silent" });
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "distcache-identity-"));
  dirs.push(dir);
  return join(dir, "n1");
}

const inputs: IdentityInputs = {
  nodeId: "n1",
  members: ["n1", "n2", "n3"],
  shards: 12,
  replicas: 3,
  replicasDefaulted: false,
  secret: "identity-test-secret-0123456789",
};

describe("the data dir's identity", () => {
  it("is written at bootstrap (atomically: no temporary file left) and read back unchanged at the next start", async () => {
    const dir = dataDir();
    const first = await openDataDirIdentity(dir, inputs, silent);
    const incarnation = expect.stringMatching(/^[0-9a-f]{32}$/) as unknown as string;
    expect(first).toEqual({ format: 1, clusterId: deriveClusterId(inputs), nodeId: "n1", members: ["n1", "n2", "n3"], shards: 12, replicas: 3, incarnation });
    expect(first.clusterId).toMatch(/^[0-9a-f]{32}$/);
    // Each data dir draws its own.
    expect((await openDataDirIdentity(dataDir(), inputs, silent)).incarnation).not.toBe(first.incarnation);
    expect(readdirSync(dir)).toEqual([IDENTITY_FILE]);
    expect(JSON.parse(readFileSync(join(dir, IDENTITY_FILE), "utf8"))).toEqual(first);
    // The recorded id wins over a new derivation: a rotated secret keeps the data dir's cluster.
    expect(await openDataDirIdentity(dir, { ...inputs, secret: "another-secret-0123456789" }, silent)).toEqual(first);
  });

  it("draws an incarnation once for an identity recorded without one, and keeps it", async () => {
    const dir = dataDir();
    const { incarnation: _drawn, ...older } = await openDataDirIdentity(dir, inputs, silent);
    writeFileSync(join(dir, IDENTITY_FILE), JSON.stringify(older));
    const upgraded = await openDataDirIdentity(dir, inputs, silent);
    expect(upgraded.incarnation).toMatch(/^[0-9a-f]{32}$/);
    expect((await openDataDirIdentity(dir, inputs, silent)).incarnation).toBe(upgraded.incarnation);
  });

  it("derives one cluster id from the same bootstrap inputs on every node, and another from any other input", () => {
    const id = deriveClusterId(inputs);
    expect(deriveClusterId({ ...inputs })).toBe(id);
    expect(deriveClusterId({ ...inputs, shards: 8 })).not.toBe(id);
    expect(deriveClusterId({ ...inputs, replicas: 2 })).not.toBe(id);
    expect(deriveClusterId({ ...inputs, members: ["n2", "n1", "n3"] })).not.toBe(id);
    expect(deriveClusterId({ ...inputs, members: ["n1", "n2", "n4"] })).not.toBe(id);
    expect(deriveClusterId({ ...inputs, secret: "another-secret-0123456789" })).not.toBe(id);
  });

  it.each([
    [{ shards: 8 }, "--shards 8 differs from the data dir's 12 (set at bootstrap)"],
    [{ replicas: 2 }, "--replicas 2 differs from the data dir's 3 (set at bootstrap)"],
    [{ replicas: 2, replicasDefaulted: true }, "--replicas (default min(3, members) = 2) differs from the data dir's 3 (set at bootstrap)"],
    [{ members: ["n1", "n2", "n4"] }, "--initial-cluster members n1,n2,n4 differ from the data dir's n1,n2,n3 (set at bootstrap)"],
    [{ members: ["n1", "n3", "n2"] }, "--initial-cluster members n1,n3,n2 differ from the data dir's n1,n2,n3 (set at bootstrap)"],
    [{ nodeId: "n2" }, "--node-id n2 differs from the data dir's n1 (set at bootstrap)"],
  ] as [Partial<IdentityInputs>, string][])("refuses a start with %j, naming the difference and the recorded value", async (change, message) => {
    const dir = dataDir();
    await openDataDirIdentity(dir, inputs, silent);
    const start = openDataDirIdentity(dir, { ...inputs, ...change }, silent);
    await expect(start).rejects.toThrow(ConfigError);
    await expect(openDataDirIdentity(dir, { ...inputs, ...change }, silent)).rejects.toThrow(message);
  });

  it("names every difference at once", async () => {
    const dir = dataDir();
    await openDataDirIdentity(dir, inputs, silent);
    await expect(openDataDirIdentity(dir, { ...inputs, shards: 8, replicas: 2 }, silent)).rejects.toThrow(
      "--shards 8 differs from the data dir's 12 (set at bootstrap); --replicas 2 differs from the data dir's 3 (set at bootstrap)",
    );
  });

  it("refuses an identity file of another format version, or a damaged one, naming the file", async () => {
    const dir = dataDir();
    const identity = await openDataDirIdentity(dir, inputs, silent);
    const path = join(dir, IDENTITY_FILE);
    writeFileSync(path, JSON.stringify({ ...identity, format: 2 }));
    await expect(openDataDirIdentity(dir, inputs, silent)).rejects.toThrow(
      `${path} is in identity format 2; this build reads format 1 (no rolling upgrades before 1.0)`,
    );
    writeFileSync(path, JSON.stringify({ ...identity, shards: "twelve" }));
    await expect(openDataDirIdentity(dir, inputs, silent)).rejects.toThrow(`${path}: shards must be a positive integer`);
    writeFileSync(path, "{");
    await expect(openDataDirIdentity(dir, inputs, silent)).rejects.toThrow(`${path} is not valid JSON`);
  });
});
