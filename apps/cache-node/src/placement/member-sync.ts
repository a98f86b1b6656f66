import type { Logger } from "pino";
import type { MetaSummary } from "./meta-view.js";
import type { NodeBook } from "./node-book.js";
import { PeriodicRound } from "./periodic-round.js";

export interface MemberSyncOptions {
  nodeId: string;
  /** The meta document's nodes as this node knows them (its own replica's, or fetched). */
  summary: () => Promise<MetaSummary | undefined>;
  /** The nodes this node knows, kept in its data dir. */
  book: NodeBook;
  /** Dials `id` at `peerAddress` and takes its connections and messages from now on. */
  addPeer: (id: string, peerAddress: string) => void;
  /** Stops taking `id`'s connections and messages. */
  removePeer: (id: string) => void;
  /** This node is no longer in the document that held it: the cluster removed it. */
  onRemoved: (epoch: number) => void;
  intervalMs: number;
  logger: Logger;
}

/**
 * Keeps the nodes this node talks to in step with the meta document: a node that joined
 * the cluster (AddNode) becomes a peer of every node, dialled at the peer address it
 * advertised, whose handshake and Raft messages are taken from then on, so it can be
 * given replicas; before that, its handshake is refused like any stranger's. A node the
 * document no longer holds (removed) is dropped: its handshakes are refused again. And
 * a document without this node, as recent as the one that made it a member, means the
 * cluster removed it (a restarted node learns that even if its marker is gone).
 */
export class MemberSync {
  private readonly rounds: PeriodicRound;
  /** The epoch of a document that held this node: from the start, the one that made it a member (1 for a bootstrap member). */
  private seenSelfAt: number;
  private removed = false;

  constructor(private readonly options: MemberSyncOptions) {
    this.seenSelfAt = Math.max(1, options.book.joinedAt);
    this.rounds = new PeriodicRound(
      options.intervalMs,
      () => this.followOnce(),
      (err) => options.logger.debug({ err }, "member sync round failed"),
    );
  }

  start(): void {
    this.rounds.start();
  }

  stop(): void {
    this.rounds.stop();
  }

  /** One round: the book and the peers follow the document's nodes. */
  round(): Promise<void> {
    return this.rounds.run();
  }

  private async followOnce(): Promise<void> {
    if (this.removed) return;
    const summary = await this.options.summary();
    if (summary && summary.epoch > 0) await this.follow(summary);
  }

  private async follow(summary: MetaSummary): Promise<void> {
    const { nodeId, book, logger } = this.options;
    if (summary.nodes.some((n) => n.id === nodeId)) this.seenSelfAt = Math.max(this.seenSelfAt, summary.epoch);
    else if (summary.epoch >= this.seenSelfAt) {
      this.removed = true;
      this.options.onRemoved(summary.epoch);
      return;
    }
    const { added, dropped } = await book.learn(summary.nodes, true);
    for (const node of added) {
      if (node.id === nodeId) continue;
      this.options.addPeer(node.id, node.peerAddress);
      logger.info({ peer: node.id, peerAddress: node.peerAddress, epoch: summary.epoch }, "a node of the cluster is now a peer");
    }
    for (const id of dropped) {
      if (id === nodeId) continue;
      this.options.removePeer(id);
      logger.info({ peer: id, epoch: summary.epoch }, "a node left the cluster: no longer a peer");
    }
  }
}
