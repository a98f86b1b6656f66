import { Code, ConnectError, createClient, type CallOptions, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { ConfChange } from "@distcache/raft";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { JoinRequestSchema } from "@distcache/proto/raft";
import { MembershipChangeKind, ReplicaControlService, type GroupStatus as GroupStatusMessage, type JoinResponse } from "@distcache/proto/raft";
import type { GroupStatus } from "../consensus/multi-raft.js";
import { PEER_TOKEN_HEADER } from "../peer/control-token.js";
import { UnreachableError, type NodeGroups } from "../placement/node-groups.js";
import { ERROR_INVALID_HEADER, ERROR_NAME_HEADER } from "./replica-control.js";

type ControlClientOf = Client<typeof ReplicaControlService>;

export interface ControlClientOptions {
  /** The token for calls to node `id` (controlToken of the peer secret for its audience). */
  token: (id: string) => string;
  /** The client address a node is reached at (its advertised one, or --client-dial's). */
  address: (node: string) => string | undefined;
  /** Longest one call may take, a transfer or a membership change included. */
  timeoutMs: number;
}

/** Longest a status call may take: a node that answers no faster is taken as not answering. */
const STATUS_TIMEOUT_MS = 2000;

const KINDS: Record<ConfChange["kind"], MembershipChangeKind> = {
  addLearner: MembershipChangeKind.ADD_LEARNER,
  promoteLearner: MembershipChangeKind.PROMOTE_LEARNER,
  removeNode: MembershipChangeKind.REMOVE_NODE,
  addVoter: MembershipChangeKind.UNSPECIFIED,
};

/** NodeGroups over ReplicaControlService: each node's groups, reached at its client address. */
export class ControlClient implements NodeGroups {
  private readonly clients = new Map<string, ControlClientOf>();

  constructor(private readonly options: ControlClientOptions) {}

  async statuses(node: string, groups: readonly number[]): Promise<Map<number, GroupStatus> | undefined> {
    try {
      const answer = await this.call(node, (client, options) => client.groupStatus({ groups: [...groups] }, options), STATUS_TIMEOUT_MS);
      return new Map(answer.groups.map((g) => [g.group, statusOf(g)]));
    } catch {
      return undefined;
    }
  }

  async changeMembership(node: string, group: number, change: ConfChange): Promise<void> {
    await this.call(node, (client, options) => client.changeMembership({ group, kind: KINDS[change.kind], nodeId: change.node }, options));
  }

  async transferLeadership(node: string, group: number, to: string | undefined): Promise<string> {
    return (await this.call(node, (client, options) => client.transferLeadership({ group, toNodeId: to ?? "" }, options))).leaderId;
  }

  async addReplica(node: string, group: number, bootstrapVoters: readonly string[]): Promise<void> {
    await this.call(node, (client, options) => client.addReplica({ group, bootstrapVoters: [...bootstrapVoters] }, options));
  }

  async removeReplica(node: string, group: number): Promise<void> {
    await this.call(node, (client, options) => client.removeReplica({ group }, options));
  }

  private async call<T>(node: string, run: (client: ControlClientOf, options: CallOptions) => Promise<T>, timeoutMs = this.options.timeoutMs): Promise<T> {
    const address = this.options.address(node);
    if (!address) throw new UnreachableError(`no client address known for ${node}`);
    let client = this.clients.get(address);
    if (!client) {
      client = controlClientAt(address);
      this.clients.set(address, client);
    }
    try {
      return await run(client, { timeoutMs: Math.min(timeoutMs, this.options.timeoutMs), headers: { [PEER_TOKEN_HEADER]: this.options.token(node) } });
    } catch (err) {
      throw nodeError(node, err);
    }
  }
}

/** Asks the node at `address` to add the calling node to its cluster (ReplicaControlService.Join). */
export async function joinAt(address: string, token: string, req: MessageInitShape<typeof JoinRequestSchema>, timeoutMs: number): Promise<JoinResponse> {
  return controlClientAt(address).join(req, { timeoutMs, headers: { [PEER_TOKEN_HEADER]: token } });
}

function controlClientAt(address: string): ControlClientOf {
  const baseUrl = /^https?:\/\//.test(address) ? address : `http://${address}`;
  return createClient(ReplicaControlService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
}

/** The node's failure under its own class name (see replica-control.ts), or UnreachableError when it did not answer itself. */
function nodeError(node: string, err: unknown): Error {
  if (!(err instanceof ConnectError)) return new UnreachableError(`${node}: ${String(err)}`);
  const name = err.metadata.get(ERROR_NAME_HEADER);
  if (!name) {
    if ([Code.Unavailable, Code.DeadlineExceeded, Code.Canceled, Code.Unknown, Code.Internal].includes(err.code))
      return new UnreachableError(`${node}: ${err.rawMessage}`);
    return err;
  }
  const failure = new Error(`${node}: ${err.rawMessage}`) as Error & { invalid: boolean };
  failure.name = name;
  failure.invalid = err.metadata.get(ERROR_INVALID_HEADER) === "1";
  return failure;
}

function statusOf(g: GroupStatusMessage): GroupStatus {
  return {
    leaderId: g.leaderId || undefined,
    leading: g.leading,
    term: Number(g.term),
    voters: g.voters,
    learners: g.learners,
    commit: Number(g.commit),
    membershipCommitted: g.membershipCommitted,
    applied: Number(g.applied),
    match: new Map(g.match.map((m) => [m.nodeId, Number(m.match)])),
  };
}
