import { create } from "@bufbuild/protobuf";
import { SetCondition, SetOpSchema } from "@distcache/proto/raft";
import type { ConsensusPort } from "../consensus/consensus-port.js";
import { EMPTY_META_STATE, applyMeta, type MetaCommand, type MetaResult, type MetaState } from "../state-machine/meta-state.js";
import { META_KEY, decodeMetaState, encodeMetaState } from "./meta-group.js";

/** The meta document as one replica holds it, with the store version of the write that put it there. */
export interface MetaRead {
  state: MetaState;
  version: number;
}

/** How many times a change is computed again when another writer changed the document first. */
const CONFLICT_ATTEMPTS = 8;

/** Raised when the meta group's store refused or lost a write of the document for a reason no retry here can fix. */
export class MetaWriteError extends Error {
  override name = "MetaWriteError";
}

/**
 * Reads and changes the meta document through this node's replica of the meta group.
 * A change is pure (applyMeta) and written by compare-and-set on the version it was
 * computed from, so two writers (an old and a new meta leader) can never interleave: the
 * one that read an older document fails its condition, reads again, and decides again.
 */
export class MetaStore {
  constructor(
    private readonly consensus: ConsensusPort,
    /** The meta group's id (metaGroupOf). */
    readonly group: number,
  ) {}

  /** Whether this node holds a replica of the meta group. */
  hosted(): boolean {
    return this.consensus.hosts(this.group);
  }

  /** Whether this node leads the meta group, as far as it knows. */
  leads(nodeId: string): boolean {
    return this.hosted() && this.consensus.status(this.group).leaderId === nodeId;
  }

  /** The meta group's leader as this node's replica knows it (undefined when none, or no replica). */
  leaderId(): string | undefined {
    return this.hosted() ? this.consensus.status(this.group).leaderId : undefined;
  }

  /** The document this node's replica applied, which may trail the group's; undefined when it holds none (or no replica). */
  local(): MetaRead | undefined {
    if (!this.hosted()) return undefined;
    const replica = this.consensus.replica(this.group);
    const entry = replica.store.peek(META_KEY, replica.lastStampMs);
    if (!entry) return undefined;
    const state = decodeMetaState(entry.value);
    return state && { state, version: entry.version };
  }

  /** The document as of now (a ReadIndex read of the local replica). */
  async read(): Promise<MetaRead | undefined> {
    await this.consensus.readBarrier(this.group);
    return this.local();
  }

  /**
   * Applies `command` to the current document and writes the result, at the meta group's
   * leader (elsewhere the proposal fails with NotLeaderError). Resolves with the
   * command's result: a refusal changes nothing. A write whose outcome is unknown
   * (IndeterminateError) rejects; the caller reads the document again to learn it.
   * `command` may be a function of the current document, called again on each attempt
   * (a change whose placement is planned from the document it replaces).
   */
  async apply(command: MetaCommand | ((current: MetaState) => MetaCommand)): Promise<MetaResult> {
    const kind = typeof command === "function" ? "change" : command.kind;
    for (let attempt = 0; attempt < CONFLICT_ATTEMPTS; attempt++) {
      const current = await this.read();
      const base = current?.state ?? EMPTY_META_STATE;
      const { state, result } = applyMeta(base, typeof command === "function" ? command(base) : command);
      if (!result.ok) return result;
      const op = create(SetOpSchema, {
        key: META_KEY,
        value: encodeMetaState(state),
        text: true,
        condition: current ? SetCondition.IF_VERSION : SetCondition.IF_ABSENT,
        expectedVersion: BigInt(current?.version ?? 0),
      });
      const written = await this.consensus.propose(this.group, { case: "set", value: op });
      if (written.type !== "set") throw new MetaWriteError(`the meta group refused the document: ${JSON.stringify(written)}`);
      if (written.result.ok) return result;
      // Another writer changed the document since it was read: decide again on the new one.
    }
    throw new MetaWriteError(`the meta document changed under ${CONFLICT_ATTEMPTS} attempts in a row to apply ${kind}`);
  }
}
