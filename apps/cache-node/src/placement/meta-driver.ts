import type { Logger } from "pino";
import type { MetaCommand } from "../state-machine/meta-state.js";
import type { MetaStore } from "./meta-store.js";
import { PeriodicRound } from "./periodic-round.js";
import type { PlacementDriver } from "./placement-driver.js";

export interface MetaDriverOptions {
  nodeId: string;
  meta: MetaStore;
  /** The document a new cluster starts from (its --initial-cluster and placement). */
  bootstrap: MetaCommand;
  /** How often the driver looks at the meta group. */
  intervalMs: number;
  /** Steers the groups toward the document's placement, once there is one. */
  placement?: PlacementDriver;
  logger: Logger;
}

/**
 * Work that only the meta group's leader does, run on every node that holds a replica of
 * the group and done only while it leads: writes the bootstrap document into a new
 * cluster's empty meta group. A leader change needs no hand-over: each round reads the
 * group's document again, and writes go by compare-and-set, so a deposed leader's round
 * fails its condition or its proposal. Once there is a document, each round is a round
 * of the placement driver.
 */
export class MetaDriver {
  private readonly rounds: PeriodicRound;

  constructor(private readonly options: MetaDriverOptions) {
    // Not the leader any more, a lost or timed-out write: the next round reads again.
    this.rounds = new PeriodicRound(
      options.intervalMs,
      () => this.lead(),
      (err) => options.logger.debug({ err }, "meta round failed"),
    );
  }

  start(): void {
    this.rounds.start();
  }

  stop(): void {
    this.rounds.stop();
  }

  /** One round; a round still running when the next is due makes that one a no-op. */
  round(): Promise<void> {
    return this.rounds.run();
  }

  private async lead(): Promise<void> {
    const { meta, nodeId, logger } = this.options;
    if (!meta.leads(nodeId)) return;
    const current = await meta.read();
    if (current) {
      await this.options.placement?.round(current.state);
      return;
    }
    const result = await meta.apply(this.options.bootstrap);
    if (result.ok) logger.info({ epoch: result.epoch }, "meta document bootstrapped from --initial-cluster");
    else logger.debug({ refusal: result.refusal }, "meta bootstrap refused");
  }
}
