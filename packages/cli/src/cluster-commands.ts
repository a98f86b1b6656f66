import type { Command } from "commander";
import { UnauthenticatedError, type AdminOptions } from "@distcache/client";
import { HOW_TO_SUPPLY, resolveAdminToken, type TokenFlags } from "./admin-token.js";
import { clusterStatus, formatClusterStatus, formatEpoch } from "./cluster-format.js";
import { argument, EXIT_OK, EXIT_SERVER_ERROR, LateUsageError, type CliDeps, type WithClient } from "./command-support.js";
import { formatError } from "./format.js";
import { parseHostPort, parseNodeId, parseShard } from "./parse.js";

/*
 * `distcache cluster ...`: the cluster's status, membership changes and leadership moves.
 */

/** `transfer-leader <shard> [node]`, under `parent` (the top level keeps one too). */
export function addTransferLeaderCommand(parent: Command, deps: CliDeps, withClient: WithClient): void {
  parent
    .command("transfer-leader <shard> [node]")
    .description("move a shard's leadership to a node (default: the most caught-up follower) and print the new leader")
    .action((shard: string, node: string | undefined, _opts: object, command: Command) => {
      const parsed = parseShard(shard);
      if (!parsed.ok) throw new LateUsageError(`shard: ${parsed.error}`);
      return withClient(command, async (client) => {
        deps.stdout(`${await client.transferLeader(parsed.value, node)}\n`);
        return EXIT_OK;
      });
    });
}

export function addClusterCommands(program: Command, deps: CliDeps, withClient: WithClient): void {
  const cluster = program.command("cluster").description("show the cluster's nodes, shards and replicas; add and remove nodes; move leaderships");
  cluster
    .command("status")
    .description("print the nodes and, per shard, its leader, term, voters, learners and replica lag")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        const topology = await client.topology();
        const stats = await client.stats();
        deps.stdout(formatClusterStatus(clusterStatus(topology, stats), opts.json === true));
        if (stats.nodes.length > 0) return EXIT_OK;
        deps.stderr("error: no node answered Stats\n");
        return EXIT_SERVER_ERROR;
      }),
    );
  addMembershipCommands(cluster, deps, withClient);
  addTransferLeaderCommand(cluster, deps, withClient);
}

interface MembershipFlags extends TokenFlags {
  json?: boolean;
}

/** The --admin-token, --peer-secret-file and --json options of a membership command. */
function withTokenOptions(command: Command): Command {
  return (
    command
      // Parsed in the action, not by commander, whose message would quote the token.
      .option("--admin-token <hex>", "the cluster's admin token (default: $DISTCACHE_ADMIN_TOKEN)")
      .option("--peer-secret-file <path>", "derive the admin token from the cluster's peer secret file, as the nodes do")
      .option("--json", "print JSON")
  );
}

function addMembershipCommands(cluster: Command, deps: CliDeps, withClient: WithClient): void {
  withTokenOptions(
    cluster.command("add-node <id> <client-address> <peer-address>").description("add a node (addresses as host:port) and print the epoch"),
  ).action((id: string, clientAddress: string, peerAddress: string, opts: MembershipFlags, command: Command) => {
    const node = {
      id: argument("id", parseNodeId(id)),
      clientAddress: argument("client-address", parseHostPort(clientAddress)),
      peerAddress: argument("peer-address", parseHostPort(peerAddress)),
    };
    const token = adminToken(opts, deps);
    return withClient(command, (client) => changeMembership(deps, node.id, opts, (o) => client.addNode(node, o), token));
  });
  withTokenOptions(cluster.command("remove-node <id>").description("remove a node (its replicas move away first) and print the epoch")).action(
    (id: string, opts: MembershipFlags, command: Command) => {
      const nodeId = argument("id", parseNodeId(id));
      const token = adminToken(opts, deps);
      return withClient(command, (client) => changeMembership(deps, nodeId, opts, (o) => client.removeNode(nodeId, o), token));
    },
  );
}

/** The admin token the flags or the environment give; a usage error saying how to supply one when none does. */
function adminToken(flags: TokenFlags, deps: CliDeps): string {
  const token = resolveAdminToken(flags, deps.env);
  if (!token.ok) throw new LateUsageError(token.error);
  return token.value;
}

/** Runs a membership change and prints its epoch; a refused token gets a hint on how to supply the right one. */
async function changeMembership(
  deps: CliDeps,
  nodeId: string,
  opts: MembershipFlags,
  change: (options: AdminOptions) => Promise<bigint>,
  adminToken: string,
): Promise<number> {
  try {
    deps.stdout(formatEpoch(nodeId, await change({ adminToken }), opts.json === true));
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof UnauthenticatedError)) throw err;
    deps.stderr(formatError(err));
    deps.stderr(`hint: the cluster refused the admin token; it must come from the cluster's peer secret: ${HOW_TO_SUPPLY}\n`);
    return EXIT_SERVER_ERROR;
  }
}
