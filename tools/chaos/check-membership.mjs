// After healing: the membership the run asked for is the one the cluster ends with. Every
// node asked to leave (RemoveNode) stopped by itself, as removed; every node that joined
// and was not asked to leave is a member of the final topology, and running; the final
// topology lists no node the harness saw removed, and none it never started.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sec = (ms) => `+${(ms / 1000).toFixed(1)} s`;

/**
 * Waits (up to timeoutMs) for every node asked to leave to stop and every node that joined
 * to be listed, then judges the membership against the newest topology the members report.
 * @param {import("./nodes.mjs").ChaosCluster} cluster
 */
export async function settleMembership(cluster, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  const records = () => [...cluster.members.values()];
  while (records().some((m) => m.removingSinceMs !== undefined && m.state !== "removed") && performance.now() < deadline) await sleep(300);
  for (const m of records()) {
    if (m.joined && m.state !== "removed" && m.removingSinceMs === undefined) await cluster.waitForMember(m.id, Math.max(0, deadline - performance.now()));
  }
  const { nodes } = await cluster.leaders(2000);
  return judgeMembership(records(), nodes);
}

/**
 * @param {import("./nodes.mjs").Member[]} members every node the run started (or tried to)
 * @param {string[]} finalNodes the members of the final topology
 */
export function judgeMembership(members, finalNodes) {
  const problems = [];
  const known = new Set(members.map((m) => m.id));
  for (const m of members) {
    const listed = finalNodes.includes(m.id);
    if (m.removingSinceMs !== undefined && m.state !== "removed") {
      problems.push(`${m.id} was asked to leave at ${sec(m.removingSinceMs)} and had not stopped by itself by the end (${m.state})`);
    } else if (m.state === "removed" && listed) {
      problems.push(`${m.id} stopped as removed at ${sec(m.removedAtMs)}, yet the final topology lists it`);
    } else if (m.state !== "removed" && !listed) {
      problems.push(m.joined ? `${m.id} joined, but the final topology does not list it` : `${m.id} is missing from the final topology`);
    } else if (m.state !== "removed" && m.state !== "up") {
      problems.push(`${m.id} is a member, but ${m.state} at the end`);
    }
  }
  for (const id of finalNodes) if (!known.has(id)) problems.push(`the final topology lists ${id}, a node the run never started`);
  const joined = members.filter((m) => m.joined).map((m) => ({ id: m.id, memberAtMs: m.memberAtMs, removedAtMs: m.removedAtMs }));
  const removed = members.filter((m) => m.removingSinceMs !== undefined).map((m) => ({ id: m.id, askedAtMs: m.removingSinceMs, removedAtMs: m.removedAtMs }));
  return { members: finalNodes, joined, removed, problems };
}
