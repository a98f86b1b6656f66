import { Code, ConnectError } from "@connectrpc/connect";
import { NotLeaderSchema } from "@distcache/proto";
import { describe, expect, it } from "vitest";
import { backoffDelayMs, classifyFailure, neverReachedNode, type Verdict } from "./retry-policy.js";
import { connectionRefused, connectionReset, sessionExpired } from "./testing/fake-cluster.js";

const notLeader = (code: Code, leaderId: string, message = "node does not lead shard 3") =>
  new ConnectError(message, code, undefined, [
    { desc: NotLeaderSchema, value: { shard: 3, leaderId, leaderAddress: leaderId ? `${leaderId}:7301` : "", epoch: 1n } },
  ]);

/** An error as a node answers it: with response headers. */
const answered = (message: string, code: Code) => new ConnectError(message, code, { "content-type": "application/proto" });

const redirect = (reason: string): Verdict => ({
  type: "redirect",
  reason: reason as "notLeader",
  shard: 3,
  leaderId: "n2",
  leaderAddress: "n2:7301",
  epoch: 1n,
});

/** [case, error, verdict for a read, verdict for a write] */
const CASES: [string, ConnectError, Verdict, Verdict][] = [
  ["NotLeader naming a leader", notLeader(Code.FailedPrecondition, "n2"), redirect("notLeader"), redirect("notLeader")],
  ["NotLeader, no leader known", notLeader(Code.Unavailable, ""), { type: "rediscover", reason: "noLeader" }, { type: "rediscover", reason: "noLeader" }],
  ["write superseded by a new leader", notLeader(Code.Unavailable, "n2", "superseded; retry"), redirect("writeLost"), redirect("writeLost")],
  ["connection refused", connectionRefused("10.0.0.1:7301"), { type: "rediscover", reason: "unreachable" }, { type: "rediscover", reason: "unreachable" }],
  [
    "refused stream",
    new ConnectError("http/2 stream closed with error code REFUSED_STREAM (0x7)", Code.Unavailable),
    { type: "rediscover", reason: "unreachable" },
    { type: "rediscover", reason: "unreachable" },
  ],
  [
    "unavailable that says retry",
    answered("forwarding to leader n2 failed (connect ECONNREFUSED); retry", Code.Unavailable),
    { type: "rediscover", reason: "unreachable" },
    { type: "rediscover", reason: "unreachable" },
  ],
  [
    "unavailable that may have applied",
    answered("forwarding failed (reset); a write may or may not have taken effect", Code.Unavailable),
    { type: "rediscover", reason: "readFailed" },
    { type: "indeterminate" },
  ],
  ["unexplained unavailable", answered("node is shutting down", Code.Unavailable), { type: "rediscover", reason: "readFailed" }, { type: "indeterminate" }],
  [
    "deadline_exceeded from the node",
    answered("not applied within 5000 ms", Code.DeadlineExceeded),
    { type: "rediscover", reason: "readFailed" },
    { type: "indeterminate" },
  ],
  [
    "local deadline",
    new ConnectError("the operation timed out", Code.DeadlineExceeded),
    { type: "rediscover", reason: "readFailed" },
    { type: "indeterminate" },
  ],
  ["connection reset", connectionReset(), { type: "rediscover", reason: "readFailed" }, { type: "indeterminate" }],
  [
    "session closed (internal, no answer)",
    new ConnectError("http/2 session closed", Code.Internal),
    { type: "rediscover", reason: "readFailed" },
    { type: "indeterminate" },
  ],
  ["internal error answered by the node", answered("internal error: boom", Code.Internal), { type: "fail" }, { type: "fail" }],
  ["failed condition", answered("at version 3", Code.FailedPrecondition), { type: "fail" }, { type: "fail" }],
  ["invalid argument", answered("key must not be empty", Code.InvalidArgument), { type: "fail" }, { type: "fail" }],
  ["already exists", answered("exists", Code.AlreadyExists), { type: "fail" }, { type: "fail" }],
  ["session expired", sessionExpired(3, "s-old"), { type: "fail" }, { type: "sessionExpired", shard: 3, sessionId: "s-old", startedAfterMs: 0n }],
];

describe("classifyFailure", () => {
  it.each(CASES)("%s", (_, err, read, write) => {
    expect(classifyFailure(err, false)).toEqual(read);
    expect(classifyFailure(err, true)).toEqual(write);
  });

  it("never retries a write unless the error proves it did not apply", () => {
    for (const code of [Code.DeadlineExceeded, Code.Aborted, Code.Canceled, Code.Unknown, Code.Unavailable]) {
      expect(classifyFailure(new ConnectError("broken", code), true).type).toBe("indeterminate");
    }
  });
});

describe("neverReachedNode", () => {
  it("holds only for a refused connection or a refused stream", () => {
    expect(neverReachedNode(connectionRefused("10.0.0.1:7301"))).toBe(true);
    expect(neverReachedNode(new ConnectError("http/2 stream closed with error code REFUSED_STREAM (0x7)", Code.Unavailable))).toBe(true);
    for (const err of [
      connectionReset(),
      answered("forwarding to leader n2 failed (connect ECONNREFUSED); retry", Code.Unavailable),
      notLeader(Code.FailedPrecondition, "n2"),
      sessionExpired(3, "s"),
      answered("node is shutting down", Code.Unavailable),
    ]) {
      expect(neverReachedNode(err)).toBe(false);
    }
  });
});

describe("backoffDelayMs", () => {
  it("doubles from the minimum, caps at the maximum, and jitters the upper half", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelayMs(n, 25, 1000, () => 0))).toEqual([13, 25, 50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 8].map((n) => backoffDelayMs(n, 25, 1000, () => 0.999999))).toEqual([25, 50, 100, 1000]);
    expect(backoffDelayMs(1000, 25, 1000, () => 0.5)).toBe(750);
  });
});
