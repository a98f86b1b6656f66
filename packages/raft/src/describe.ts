import type { SnapshotMetadata } from "./conf-state.js";
import { describeConfState } from "./conf-state.js";
import type { Entry } from "./entry.js";
import { decodeConfChange, describeConfChange } from "./membership/conf-change.js";
import type { HardState } from "./hard-state.js";
import type { Message } from "./message.js";
import type { ReadState, Ready } from "./ready.js";

const PRINTABLE = /^[\x20-\x7e]*$/;
const TEXT_DECODER = new TextDecoder("utf-8", { fatal: false });

/** Bytes as a quoted string when printable ASCII, else as hex. */
export function describeBytes(bytes: Uint8Array): string {
  const text = TEXT_DECODER.decode(bytes);
  if (PRINTABLE.test(text) && !text.includes('"')) return `"${text}"`;
  let hex = "0x";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/** `term/index` followed by the payload, e.g. `2/5 "x"`, `2/4 noop` or `2/6 config addLearner n4`. */
export function describeEntry(entry: Entry): string {
  return `${entry.term}/${entry.index} ${describePayload(entry)}`;
}

function describePayload(entry: Entry): string {
  if (entry.kind === "noop") return "noop";
  if (entry.kind === "command") return describeBytes(entry.data);
  const change = decodeConfChange(entry.data);
  return typeof change === "string" ? `config (${change})` : `config ${describeConfChange(change)}`;
}

export function describeHardState(state: HardState): string {
  return `term=${state.term} vote=${state.vote ?? "-"} commit=${state.commit}`;
}

export function describeSnapshot(snapshot: SnapshotMetadata): string {
  return `index=${snapshot.index} term=${snapshot.term} ${describeConfState(snapshot.confState)}`;
}

export function describeReadState(state: ReadState): string {
  return `index=${state.index} ctx=${describeBytes(state.context)}`;
}

/** One line per message, used by golden traces and simulator logs. */
export function describeMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`;
  switch (message.type) {
    case "app": {
      const entries = message.entries.map(describeEntry).join(", ");
      return `${head} prev=${message.logTerm}/${message.index} commit=${message.commit} entries=[${entries}]`;
    }
    case "appResp":
      return message.reject ? `${head} reject index=${message.index} hint=${message.conflictTerm}/${message.conflictIndex}` : `${head} index=${message.index}`;
    case "vote":
    case "preVote":
      return `${head} last=${message.lastLogTerm}/${message.lastLogIndex}${message.transfer ? " transfer" : ""}`;
    case "voteResp":
    case "preVoteResp":
      return `${head} ${message.reject ? "rejected" : "granted"}`;
    case "heartbeat":
      return `${head} commit=${message.commit} read-round=${message.readRound}`;
    case "heartbeatResp":
      return `${head} read-round=${message.readRound}`;
    case "readIndex":
      return `${head} ctx=${describeBytes(message.context)}`;
    case "readIndexResp":
      return `${head} index=${message.index} ctx=${describeBytes(message.context)}`;
    case "transferLeader":
      return `${head} transferee=${message.transferee}`;
    case "propose":
      return `${head} data=${describeBytes(message.data)}`;
    case "hup":
      return `${head}${message.transfer ? " transfer" : ""}`;
    case "snapshot":
      return `${head} snapshot ${describeSnapshot(message.snapshot)}`;
    case "snapshotStatus":
      return `${head} ${message.reject ? "failed" : "ok"}`;
    default:
      return head;
  }
}

/** A Ready as indented lines; empty sections are left out. */
export function describeReady(ready: Ready): string[] {
  const lines: string[] = [];
  if (ready.softState !== undefined) lines.push(`role=${ready.softState.role} lead=${ready.softState.lead ?? "-"}`);
  if (ready.hardState !== undefined) lines.push(`hard-state ${describeHardState(ready.hardState)}`);
  const section = (title: string, items: readonly string[]): void => {
    if (items.length === 0) return;
    lines.push(`${title}:`);
    for (const item of items) lines.push(`  ${item}`);
  };
  if (ready.snapshot !== undefined) lines.push(`snapshot ${describeSnapshot(ready.snapshot)}`);
  section("entries", ready.entries.map(describeEntry));
  section("immediate-messages", ready.immediateMessages.map(describeMessage));
  section("snapshots-to-send", ready.snapshotsToSend.map(describeMessage));
  section("messages", ready.messages.map(describeMessage));
  section("committed", ready.committedEntries.map(describeEntry));
  section("read-states", ready.readStates.map(describeReadState));
  return lines;
}
