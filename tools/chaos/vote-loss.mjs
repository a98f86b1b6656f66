// The vote-loss fault (the vote-loss schedule), on one shard of a 3-node cluster with
// leader L and followers C and V. It makes a voter lose a vote it granted, if its hard
// state was not written before it answered, and gives L the chance to win the same term
// with that voter while the first winner still leads:
//   1. isolate L (it learns nothing of the coming term) and delay C<->V by delayMs, so an
//      election between C and V is slow, and so is the winner's first append;
//   2. wait until C or V leads the shard in a new term t: the winner Y, and the voter X;
//   3. cut Y->X and crash X (a power loss) before Y's first append reaches it;
//   4. restart X and reconnect L with X: L, still in the term before t, campaigns in t,
//      and X, if it lost its vote, grants it.
// A correct node wrote its vote before answering, so X refuses L in term t, and L wins
// only a later term. With the planted bug unsynced-vote, Y and L both lead term t: the
// entries Y appended in term t (clients reach it while it leads) and L's differ at the
// same indexes with the same term, so once healed Y keeps its own as matching, applies
// them when L commits those indexes, and the replicas' digests differ.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The node among `candidates` that says it leads `shard` in a term above `aboveTerm`.
 * @param {import("./nodes.mjs").ChaosCluster} cluster
 */
async function newLeader(cluster, shard, candidates, aboveTerm) {
  for (const id of candidates) {
    try {
      const { topology } = await cluster.control.get(id).cluster.getTopology({}, { timeoutMs: 500 });
      const s = topology.shards.find((x) => x.id === shard);
      if (s && s.leaderId === id && s.term > aboveTerm) return id;
    } catch {
      // no answer from this node: ask the other
    }
  }
  return undefined;
}

/**
 * Runs steps 1-4; returns the heal (which removes every link fault it added), or why the
 * fault could not be applied.
 * @param {import("./nemesis.mjs").Nemesis} nemesis
 * @param {{ shard: number, delayMs: number, electionWaitMs: number }} p
 * @param {import("./nemesis.mjs").FaultRecord} record
 * @returns {Promise<{ heal: () => Promise<void> } | { skipped: string }>}
 */
export async function loseVote(nemesis, p, record) {
  const { cluster } = nemesis;
  const s = (await cluster.leaders()).shards.get(p.shard);
  if (!s?.leaderId) return { skipped: "no leader known" };
  const leader = s.leaderId;
  const followers = s.replicas.filter((r) => r !== leader);
  if (followers.length !== 2 || s.replicas.some((id) => cluster.members.get(id)?.state !== "up")) return { skipped: "needs 3 running replicas" };
  const layer = `vote-loss-${++nemesis.layerSerial}`;
  const add = (from, to, spec, name = layer) => cluster.link(from, to).policy.add(name, spec);
  const heal = async () => {
    for (const link of cluster.links.values()) for (const name of [layer, `${layer}-x`, `${layer}-y`]) link.policy.remove(name);
  };
  for (const f of followers) {
    add(leader, f, { cut: true }, `${layer}-x`);
    add(f, leader, { cut: true }, `${layer}-x`);
  }
  add(followers[0], followers[1], { delayMs: p.delayMs });
  add(followers[1], followers[0], { delayMs: p.delayMs });
  const deadline = nemesis.now() + p.electionWaitMs;
  let winner;
  while (!winner && nemesis.now() < deadline) {
    winner = await newLeader(cluster, p.shard, followers, s.term);
    if (!winner) await sleep(50);
  }
  if (!winner) {
    record.detail = `vote loss on shard ${p.shard}: isolated ${leader}, but neither ${followers.join(" nor ")} won an election`;
    return { heal };
  }
  const voter = followers.find((f) => f !== winner);
  add(winner, voter, { cut: true }, `${layer}-y`);
  await cluster.kill(voter, { lossy: true });
  await nemesis.restart(voter, record);
  // L and X meet again; Y stays cut off from both.
  cluster.link(leader, voter).policy.remove(`${layer}-x`);
  cluster.link(voter, leader).policy.remove(`${layer}-x`);
  record.detail = `vote loss on shard ${p.shard}: ${winner} won with ${voter}'s vote, ${voter} crashed, ${leader} campaigns with ${voter}`;
  return { heal };
}
