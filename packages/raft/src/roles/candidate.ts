import type { Message } from "../message.js";
import type { Raft } from "../raft.js";
import type { Dropped } from "../rejection.js";
import { dropped } from "../rejection.js";
import { handleAppend, handleHeartbeat, handleSnapshot } from "./follower.js";

/** Handler for candidates and pre-candidates (paper Figure 2, "Candidates"; thesis §9.6). */
export function stepCandidate(raft: Raft, message: Message): Dropped | undefined {
  switch (message.type) {
    case "propose":
    case "proposeConf":
    case "readIndex":
    case "transferLeader":
      return dropped("not-leader", undefined);
    case "app":
      // A leader exists in our term (paper §5.2): give up and follow it.
      raft.becomeFollower(raft.term, message.from);
      handleAppend(raft, message);
      return undefined;
    case "heartbeat":
      raft.becomeFollower(raft.term, message.from);
      handleHeartbeat(raft, message);
      return undefined;
    case "snapshot":
      raft.becomeFollower(raft.term, message.from);
      handleSnapshot(raft, message);
      return undefined;
    case "voteResp":
      if (raft.role === "candidate") raft.poll(message.from, !message.reject);
      return undefined;
    case "preVoteResp":
      if (raft.role === "preCandidate") raft.poll(message.from, !message.reject);
      return undefined;
    default:
      // timeoutNow: we are already campaigning.
      return undefined;
  }
}

/** Followers and candidates: campaign when no leader was heard from for a randomized timeout (paper §5.2). */
export function tickElection(raft: Raft): void {
  raft.electionElapsedTicks += 1;
  if (raft.electionElapsedTicks >= raft.randomizedElectionTimeoutTicks) {
    // A server that may not campaign (a learner, a removed server) keeps counting: its
    // leader lease must run out, or it would ignore a candidate for ever (thesis §4.2.3).
    if (!raft.canCampaign()) return;
    raft.electionElapsedTicks = 0;
    raft.step({ type: "hup", from: raft.id, to: raft.id, term: 0 as typeof raft.term, transfer: false });
  }
}
