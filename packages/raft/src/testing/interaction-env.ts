import type { RaftConfig } from "../config.js";
import { describeEntry, describeMessage, describeReady, describeSnapshot } from "../describe.js";
import { MemoryStorage } from "../memory-storage.js";
import type { InboundMessage } from "../message.js";
import { SeededRandom } from "../random.js";
import { RaftNode } from "../raft-node.js";
import type { ConfChangeKind } from "../membership/conf-change.js";
import type { Dropped } from "../rejection.js";
import type { LogIndex, NodeId } from "../types.js";

/**
 * Drives a group of in-process nodes from text commands for the datadriven
 * golden tests (testdata/*.txt). Messages wait in per-recipient queues until a
 * command delivers them, so a script controls every interleaving.
 */
export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  readonly options: ReadonlyMap<string, string>;
}

interface TestNode {
  node: RaftNode;
  readonly storage: MemoryStorage;
  readonly config: RaftConfig;
  readonly seed: number;
}

const STABILIZE_ROUNDS_MAX = 1000;

export function parseCommand(line: string): Command {
  const words = line.trim().split(/\s+/);
  const args: string[] = [];
  const options = new Map<string, string>();
  for (const word of words.slice(1)) {
    const eq = word.indexOf("=");
    if (eq > 0) options.set(word.slice(0, eq), word.slice(eq + 1));
    else args.push(word);
  }
  return { name: words[0] ?? "", args, options };
}

export class InteractionEnv {
  private readonly nodes = new Map<NodeId, TestNode>();
  private readonly inboxes = new Map<NodeId, InboundMessage[]>();
  /** Directed links that drop messages: "from->to". */
  private readonly blocked = new Set<string>();
  private output: string[] = [];

  /** Runs one command and returns its trace lines. */
  handle(command: Command): string[] {
    this.output = [];
    const handler = this.handlers[command.name];
    if (handler === undefined) throw new Error(`unknown command ${command.name}`);
    handler(command);
    return this.output.length === 0 ? ["ok"] : this.output;
  }

  private readonly handlers: Record<string, (command: Command) => void> = {
    "add-nodes": (c) => this.addNodes(c),
    campaign: (c) => this.forEachNode(c, (n) => n.node.campaign()),
    tick: (c) => this.tick(c),
    propose: (c) => this.print(describeResult(this.node(c.args[0]).node.propose(bytes(c.args[1] ?? "")))),
    "read-index": (c) => this.print(describeResult(this.node(c.args[0]).node.readIndex(bytes(c.args[1] ?? "")))),
    "transfer-leader": (c) => this.print(describeResult(this.node(c.args[0]).node.transferLeader(c.args[1] as NodeId))),
    "process-ready": (c) => this.forEachId(c, (id) => this.processReady(id)),
    "deliver-msgs": (c) => this.forEachId(c, (id) => this.deliver(id, c.options.get("drop") === "true")),
    stabilize: (c) => this.stabilize(c.args.length === 0 ? [...this.nodes.keys()] : (c.args as NodeId[])),
    isolate: (c) => this.isolate(c.args[0] as NodeId),
    cut: (c) => this.cut(c.args[0] as NodeId, c.args[1] as NodeId, c.options.get("oneway") === "true"),
    heal: () => this.blocked.clear(),
    "raft-state": () => this.raftState(),
    "raft-log": (c) => this.raftLog(c.args[0] as NodeId),
    "raft-progress": (c) => this.raftProgress(c.args[0] as NodeId),
    "raft-config": () => this.raftConfig(),
    "start-node": (c) => this.startNode(c.args[0] as NodeId),
    "propose-conf-change": (c) => this.proposeConfChange(c),
    compact: (c) => this.compact(c.args[0] as NodeId, Number(c.args[1])),
    restart: (c) => this.restart(c.args[0] as NodeId),
    "report-snapshot": (c) => this.node(c.args[0]).node.reportSnapshot(c.args[1] as NodeId, c.options.get("ok") !== "false"),
  };

  private print(line: string): void {
    this.output.push(line);
  }

  private node(id: string | undefined): TestNode {
    const node = this.nodes.get(id as NodeId);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  private forEachId(command: Command, fn: (id: NodeId) => void): void {
    const ids = command.args.length === 0 ? [...this.nodes.keys()] : (command.args as NodeId[]);
    for (const id of ids) fn(id);
  }

  private forEachNode(command: Command, fn: (node: TestNode) => void): void {
    this.forEachId(command, (id) => fn(this.node(id)));
  }

  private addNodes(command: Command): void {
    const count = Number(command.args[0]);
    const voters = Array.from({ length: count }, (_, i) => `n${i + 1}` as NodeId);
    this.bootstrapVoters = voters;
    for (const id of voters) this.createNode(id, voters, command);
    this.raftState();
  }

  /**
   * A new server that will join the group: it starts with the group's
   * bootstrap membership, which does not include it, and learns the rest from
   * the leader's log.
   */
  private startNode(id: NodeId): void {
    this.createNode(id, this.bootstrapVoters, { name: "start-node", args: [], options: this.lastOptions });
    this.print(`${id} started outside the group`);
  }

  private lastOptions: ReadonlyMap<string, string> = new Map();
  private bootstrapVoters: readonly NodeId[] = [];

  /** `options` are add-nodes' (a started node reuses the last ones, so the group shares its timing). */
  private createNode(id: NodeId, voters: readonly NodeId[], command: Command): void {
    this.lastOptions = command.options;
    const options = command.options;
    const option = (name: string): number | undefined => (options.has(name) ? Number(options.get(name)) : undefined);
    const seed = this.nodes.size + 1;
    const config: RaftConfig = {
      id,
      voters,
      preVote: options.get("prevote") !== "false",
      checkQuorum: options.get("checkquorum") !== "false",
      electionTimeoutTicks: option("election") ?? 10,
      heartbeatIntervalTicks: option("heartbeat") ?? 1,
      messageBytesMax: option("max-size-per-msg") ?? 1 << 20,
      inflightMessagesMax: option("max-inflight") ?? 256,
      testingBugs: { commitPreviousTermByCounting: options.get("bug-commit-old-term") === "true" },
    };
    const storage = new MemoryStorage(voters);
    this.nodes.set(id, { node: new RaftNode({ config, storage, random: new SeededRandom(seed) }), storage, config, seed });
    this.inboxes.set(id, []);
  }

  /** propose-conf-change <node> <addLearner|promoteLearner|addVoter|removeNode> <target> */
  private proposeConfChange(command: Command): void {
    const change = { kind: command.args[1] as ConfChangeKind, node: command.args[2] as NodeId };
    this.print(describeResult(this.node(command.args[0]).node.proposeConfChange(change)));
  }

  private raftConfig(): void {
    for (const [id, { node }] of this.nodes) {
      const s = node.status();
      this.print(`${id}: voters=[${s.voters.join(",")}] learners=[${s.learners.join(",")}]`);
    }
  }

  private tick(command: Command): void {
    const count = Number(command.options.get("count") ?? "1");
    this.forEachNode(command, (n) => {
      for (let i = 0; i < count; i += 1) n.node.tick();
    });
  }

  /** Persists, sends, applies and advances one Ready, printing it. Returns false if there was none. */
  private processReady(id: NodeId): boolean {
    const { node, storage } = this.node(id);
    const ready = node.ready();
    if (ready === undefined) return false;
    this.print(`> ${id} handling Ready`);
    for (const line of describeReady(ready)) this.print(`  ${line}`);
    // The snapshot's data would be streamed and restored here; this host has no state machine.
    if (ready.snapshot !== undefined) storage.applySnapshot(ready.snapshot);
    storage.append(ready.entries);
    if (ready.hardState !== undefined) storage.setHardState(ready.hardState);
    for (const message of [...ready.immediateMessages, ...ready.snapshotsToSend, ...ready.messages]) {
      // A partition drops messages as they leave, so traces do not fill with dead heartbeats.
      if (!this.blocked.has(`${message.from}->${message.to}`)) this.inboxes.get(message.to)?.push(message);
    }
    node.advance(ready);
    return true;
  }

  private deliver(id: NodeId, drop: boolean): boolean {
    const inbox = this.inboxes.get(id) ?? [];
    if (inbox.length === 0) return false;
    this.inboxes.set(id, []);
    this.print(`> ${id} receiving messages`);
    for (const message of inbox) {
      if (drop) {
        this.print(`  ${describeMessage(message)} (dropped)`);
        continue;
      }
      this.print(`  ${describeMessage(message)}`);
      this.node(id).node.step(message);
    }
    return true;
  }

  private stabilize(ids: readonly NodeId[]): void {
    for (let round = 0; round < STABILIZE_ROUNDS_MAX; round += 1) {
      let progressed = false;
      for (const id of ids) while (this.processReady(id)) progressed = true;
      for (const id of ids) if (this.deliver(id, false)) progressed = true;
      if (!progressed) return;
    }
    throw new Error("stabilize did not converge");
  }

  private isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other, false);
  }

  private cut(a: NodeId, b: NodeId, oneway: boolean): void {
    this.blocked.add(`${a}->${b}`);
    if (!oneway) this.blocked.add(`${b}->${a}`);
  }

  private raftState(): void {
    for (const [id, { node }] of this.nodes) {
      const s = node.status();
      this.print(`${id}: ${s.role} term=${s.term} vote=${s.vote ?? "-"} lead=${s.lead ?? "-"} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}`);
    }
  }

  /** The leader's view of each member. */
  private raftProgress(id: NodeId): void {
    const status = this.node(id).node.status();
    for (const p of status.progress) this.print(`${p.id}: ${p.state} match=${p.match} next=${p.next}`);
    for (const p of status.learnerProgress) this.print(`${p.id} (learner): ${p.state} match=${p.match} next=${p.next}`);
  }

  private raftLog(id: NodeId): void {
    const { storage } = this.node(id);
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    if (first > 1) this.print(`snapshot ${describeSnapshot(storage.snapshot())}`);
    if (last < first) this.print("log is empty");
    for (const entry of storage.entries(first, (last + 1) as LogIndex, Number.MAX_SAFE_INTEGER)) this.print(describeEntry(entry));
  }

  /** The host's state machine saved a snapshot at `index`: compact the log to it. */
  private compact(id: NodeId, index: number): void {
    const { node, storage } = this.node(id);
    const meta = node.snapshotMetadata(index as LogIndex);
    storage.compact(meta);
    this.print(`${id} compacted to ${describeSnapshot(meta)}`);
  }

  /** Crash and restart from what storage holds (messages in flight to it are kept). */
  private restart(id: NodeId): void {
    const test = this.node(id);
    test.node = new RaftNode({ config: test.config, storage: test.storage, random: new SeededRandom(test.seed) });
    const s = test.node.status();
    this.print(`${id} restarted: ${s.role} term=${s.term} commit=${s.commit} applied=${s.applied} first=${test.storage.firstIndex()} last=${s.lastIndex}`);
  }
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function describeResult(result: { accepted: true; term?: number; index?: number } | Dropped): string {
  if (!result.accepted)
    return `dropped reason=${result.reason} leader-hint=${result.leaderHint ?? "-"}${result.detail === undefined ? "" : ` (${result.detail})`}`;
  return result.index === undefined ? "accepted" : `accepted at ${result.term}/${result.index}`;
}
