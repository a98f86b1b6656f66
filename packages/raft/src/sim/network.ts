import type { PeerMessage } from "../message.js";
import type { SeededRandom } from "../random.js";
import type { NodeId } from "../types.js";
import type { NetworkOptions } from "./options.js";

export interface NetworkStats {
  sent: number;
  dropped: number;
  duplicated: number;
  blocked: number;
}

/**
 * A packet simulator: each message is dropped, delayed (which reorders) or
 * duplicated at random, and directed links can be cut to model symmetric and
 * one-way partitions. Delivery is scheduled through the callback.
 */
export class SimNetwork {
  private options: NetworkOptions;
  private readonly random: SeededRandom;
  private readonly blockedLinks = new Set<string>();
  readonly stats: NetworkStats = { sent: 0, dropped: 0, duplicated: 0, blocked: 0 };

  constructor(options: NetworkOptions, random: SeededRandom) {
    this.options = options;
    this.random = random;
  }

  /** After healing, the liveness phase runs on a network that loses nothing. */
  makeReliable(): void {
    this.options = { dropRate: 0, duplicateRate: 0, delayMinUnits: 1, delayMaxUnits: Math.min(this.options.delayMaxUnits, 10), spikeRate: 0, spikeMaxUnits: 0 };
    this.blockedLinks.clear();
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blockedLinks.has(`${from}->${to}`);
  }

  get partitioned(): boolean {
    return this.blockedLinks.size > 0;
  }

  cut(from: NodeId, to: NodeId): void {
    this.blockedLinks.add(`${from}->${to}`);
  }

  heal(): void {
    this.blockedLinks.clear();
  }

  /** Sends `message`, calling `deliverAt(delayUnits, message)` zero, one or two times. */
  send(message: PeerMessage, deliverAt: (delayUnits: number, message: PeerMessage) => void): void {
    this.stats.sent += 1;
    if (this.isBlocked(message.from, message.to)) {
      this.stats.blocked += 1;
      return;
    }
    if (this.random.chance(this.options.dropRate)) {
      this.stats.dropped += 1;
      return;
    }
    deliverAt(this.delay(), message);
    if (this.random.chance(this.options.duplicateRate)) {
      this.stats.duplicated += 1;
      deliverAt(this.delay(), message);
    }
  }

  private delay(): number {
    const { delayMinUnits, delayMaxUnits, spikeRate, spikeMaxUnits } = this.options;
    if (this.random.chance(spikeRate)) return this.random.between(delayMaxUnits, Math.max(delayMaxUnits, spikeMaxUnits));
    return this.random.between(delayMinUnits, delayMaxUnits);
  }
}
