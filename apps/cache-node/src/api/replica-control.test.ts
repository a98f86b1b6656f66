import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { MembershipChangeKind, ReplicaControlService } from "@distcache/proto/raft";
import type { ConfChange } from "@distcache/raft";
import { describe, expect, it } from "vitest";
import { controlToken, PEER_TOKEN_HEADER } from "../peer/control-token.js";
import { createReplicaControlService, ERROR_INVALID_HEADER, ERROR_NAME_HEADER } from "./replica-control.js";
import type { LocalGroups } from "../placement/node-groups.js";

/** LocalGroups over 4 shard groups that records each call, and fails changeMembership with `failWith` when set. */
function recordingGroups(failWith?: Error): LocalGroups & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    shardCount: 4,
    groupStatus: () => undefined,
    changeMembership: async (group: number, change: ConfChange) => {
      calls.push(`${change.kind} ${change.node} in ${group}`);
      if (failWith) throw failWith;
    },
    transferLeadership: async (group: number, to: string | undefined) => (calls.push(`transfer ${group}`), to ?? "n2"),
    addGroup: async (group: number) => void calls.push(`add ${group}`),
    removeGroup: async (group: number) => void calls.push(`remove ${group}`),
  };
}

function serve(token: string, groups: LocalGroups) {
  const transport = createRouterTransport(({ service }) =>
    service(
      ReplicaControlService,
      createReplicaControlService({
        tokens: { node: token, join: token && controlToken("s3cret", "join") },
        groups,
        transferTimeoutMs: 1000,
        join: async () => {
          throw new Error("not under test");
        },
      }),
    ),
  );
  return createClient(ReplicaControlService, transport);
}

const TOKEN = controlToken("s3cret", "node:n1");
const signed = (token = TOKEN) => ({ headers: { [PEER_TOKEN_HEADER]: token } });

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

describe("ReplicaControlService", () => {
  const change = { group: 1, kind: MembershipChangeKind.ADD_LEARNER, nodeId: "n4" };

  it("refuses every call without the token, with a wrong one, or on a node without a peer secret, and acts on none", async () => {
    const groups = recordingGroups();
    const client = serve(TOKEN, groups);
    expect((await failure(client.changeMembership(change))).code).toBe(Code.Unauthenticated);
    expect((await failure(client.removeReplica({ group: 1 }, signed(controlToken("other", "node:n1"))))).code).toBe(Code.Unauthenticated);
    // A token for another node, or for Join, is worth nothing here.
    expect((await failure(client.removeReplica({ group: 1 }, signed(controlToken("s3cret", "node:n2"))))).code).toBe(Code.Unauthenticated);
    expect((await failure(client.removeReplica({ group: 1 }, signed(controlToken("s3cret", "join"))))).code).toBe(Code.Unauthenticated);
    // Not ASCII, and as long as a token in characters: refused, never an internal error.
    expect((await failure(client.removeReplica({ group: 1 }, signed("é".repeat(TOKEN.length))))).code).toBe(Code.Unauthenticated);
    expect((await failure(serve("", groups).groupStatus({}, signed()))).code).toBe(Code.FailedPrecondition);
    expect(groups.calls).toEqual([]);
  });

  it("acts on a signed call", async () => {
    const groups = recordingGroups();
    const client = serve(TOKEN, groups);
    await client.changeMembership(change, signed());
    await client.removeReplica({ group: 4 }, signed());
    expect((await client.transferLeadership({ group: 0, toNodeId: "n3" }, signed())).leaderId).toBe("n3");
    expect(groups.calls).toEqual(["addLearner n4 in 1", "remove 4", "transfer 0"]);
  });

  it("answers invalid_argument for a group past the meta group, an unknown kind, a bad node id or no bootstrap voters", async () => {
    const groups = recordingGroups();
    const client = serve(TOKEN, groups);
    const codes = await Promise.all([
      failure(client.changeMembership({ ...change, group: 5 }, signed())),
      failure(client.changeMembership({ ...change, kind: 77 as MembershipChangeKind }, signed())),
      failure(client.changeMembership({ ...change, kind: MembershipChangeKind.UNSPECIFIED }, signed())),
      failure(client.changeMembership({ ...change, nodeId: "" }, signed())),
      failure(client.addReplica({ group: 2, bootstrapVoters: [] }, signed())),
      failure(client.groupStatus({ groups: [0, 1, 2, 3, 4, 1] }, signed())),
    ]);
    expect(codes.map((e) => e.code)).toEqual(Array(6).fill(Code.InvalidArgument));
    expect(codes[0]!.message).toContain("groups are 0 to 4");
    expect(groups.calls).toEqual([]);
  });

  it("names the class of a failure, and marks a refusal as such", async () => {
    const notLeader = Object.assign(new Error("n1 does not lead group 1"), { name: "NotLeaderError" });
    const refused = Object.assign(new Error("a change is in progress"), { name: "ConfChangeError", invalid: true });
    const a = await failure(serve(TOKEN, recordingGroups(notLeader)).changeMembership(change, signed()));
    expect([a.code, a.metadata.get(ERROR_NAME_HEADER), a.metadata.get(ERROR_INVALID_HEADER)]).toEqual([Code.Unavailable, "NotLeaderError", "0"]);
    const b = await failure(serve(TOKEN, recordingGroups(refused)).changeMembership(change, signed()));
    expect([b.code, b.metadata.get(ERROR_NAME_HEADER), b.metadata.get(ERROR_INVALID_HEADER)]).toEqual([Code.FailedPrecondition, "ConfChangeError", "1"]);
  });
});
