import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, type HandlerContext } from "@connectrpc/connect";
import { NotLeaderSchema, type CacheService } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import { NotLeaderError } from "../consensus/port-errors.js";
import type { Forwarder } from "./forwarder.js";
import { createRouter } from "./router.js";

const ctx = { timeoutMs: () => 1000, signal: new AbortController().signal, method: { name: "Set" } } as unknown as HandlerContext;

/** A leader's answer as it crosses the wire: with its response headers, and a NotLeader detail naming `leaderId`. */
function refusedBy(leaderId: string, code = Code.FailedPrecondition): ConnectError {
  const detail = create(NotLeaderSchema, { shard: 2, leaderId, leaderAddress: `${leaderId}:7301`, epoch: 3n });
  const err = new ConnectError(`not the leader of shard 2; ${leaderId} is`, code, undefined, [{ desc: NotLeaderSchema, value: detail }]);
  err.metadata.set("content-type", "application/proto");
  return err;
}

/** A router on n1 whose forwarded calls go to fake clients; `answers` says what each node answers, in call order. */
function routerWith(answers: Record<string, () => unknown>) {
  const calls: string[] = [];
  const forwarder = { client: (id: string) => ({ id }) as unknown as Client<typeof CacheService> } as unknown as Forwarder;
  const router = createRouter({
    nodeId: "n1",
    forwarder,
    directory: { clientAddress: (id) => `${id}:7301` },
    forwardTimeoutMs: 1000,
    onForward: () => undefined,
    epoch: () => 3,
    leaderWaitMs: 10,
  });
  const remote = (client: Client<typeof CacheService>) => {
    const id = (client as unknown as { id: string }).id;
    calls.push(id);
    return Promise.resolve().then(answers[id]!);
  };
  const local = () => Promise.reject(new NotLeaderError(2, "n2", "this node does not lead shard 2"));
  return { run: () => router.run(2, undefined, ctx, local, remote), calls };
}

async function failure(run: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await run();
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("the call did not fail");
}

describe("forwarding", () => {
  it("follows one redirect: the node forwarded to names the leader, which answers", async () => {
    const { run, calls } = routerWith({ n2: () => Promise.reject(refusedBy("n3")), n3: () => "ok" });
    expect(await run()).toBe("ok");
    expect(calls).toEqual(["n2", "n3"]);
  });

  it("answers unavailable, retry, with the NotLeader detail, when the leadership moved again meanwhile", async () => {
    const { run, calls } = routerWith({ n2: () => Promise.reject(refusedBy("n3")), n3: () => Promise.reject(refusedBy("n4")) });
    const err = await failure(run);
    expect(calls).toEqual(["n2", "n3"]);
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/retry/);
    expect(err.findDetails(NotLeaderSchema)[0]?.leaderId).toBe("n4");
    expect(err.metadata.has("content-type")).toBe(false);
  });

  it("passes other answers of the leader through as they are", async () => {
    const exists = new ConnectError("key exists", Code.AlreadyExists);
    exists.metadata.set("content-type", "application/proto");
    const { run } = routerWith({ n2: () => Promise.reject(exists) });
    const err = await failure(run);
    expect(err.code).toBe(Code.AlreadyExists);
  });
});
