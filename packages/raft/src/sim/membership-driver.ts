import type { ConfState } from "../conf-state.js";
import type { ConfChange } from "../membership/conf-change.js";
import type { SeededRandom } from "../random.js";
import type { NodeId } from "../types.js";

/**
 * The simulator's placement driver: picks the next membership change for the
 * group, one server at a time (thesis §4.1), so that over a run the group
 * cycles between configurations: servers join as learners and are promoted
 * (thesis §4.2.1), voters and learners leave, the leader removes itself
 * (thesis §4.2.2), and removed servers come back later with their old disks.
 * Returns undefined when nothing fits.
 */
export function chooseConfChange(
  conf: ConfState,
  nodes: readonly NodeId[],
  leader: NodeId,
  caughtUp: (id: NodeId) => boolean,
  random: SeededRandom,
): ConfChange | undefined {
  const outside = nodes.filter((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
  // Thesis §4.2.1: a server becomes a voter only once it caught up, or the group could
  // stall waiting for it. Only learners and outsiders that caught up qualify.
  const readyOutside = outside.filter(caughtUp);
  const readyLearners = conf.learners.filter(caughtUp);
  const options: Array<[number, () => ConfChange | undefined]> = [
    [outside.length > 0 ? 4 : 0, () => ({ kind: "addLearner", node: random.pick(outside) })],
    [readyOutside.length > 0 ? 1 : 0, () => ({ kind: "addVoter", node: random.pick(readyOutside) })],
    [readyLearners.length > 0 ? 4 : 0, () => ({ kind: "promoteLearner", node: random.pick(readyLearners) })],
    [conf.learners.length > 0 ? 1 : 0, () => ({ kind: "removeNode", node: random.pick(conf.learners) })],
    // Fewer voters than servers: mostly grow back; the group may shrink to one voter.
    [conf.voters.length > 1 ? 3 : 0, () => ({ kind: "removeNode", node: random.pick(conf.voters.filter((id) => id !== leader)) })],
    [conf.voters.length > 1 ? 1 : 0, () => ({ kind: "removeNode", node: leader })],
  ];
  let total = 0;
  for (const [weight] of options) total += weight;
  if (total === 0) return undefined;
  let pick = random.nextInt(total);
  for (const [weight, make] of options) {
    if (pick < weight) return make();
    pick -= weight;
  }
  return undefined;
}
