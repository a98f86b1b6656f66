import { describe, expect, it } from "vitest";
import type { ConsensusPort } from "../consensus/consensus-port.js";
import { NodeMetrics, type PlacementSource } from "./metrics.js";

const noShards = { shardCount: 0, hosts: () => false } as unknown as ConsensusPort;

describe("NodeMetrics, placement", () => {
  it("shows the moves under way with their phases, the driver's counts, and the snapshot bytes sent", async () => {
    const moves = [{ shard: 3, from: "n1", to: "n4", phase: "catch-up" }];
    const placement: PlacementSource = { moves: () => moves, counts: { movesStarted: 5, moved: 4, leaderTransfers: 3 } };
    const metrics = new NodeMetrics(noShards, () => ({ snapshotsBytesSent: 12345, peerBytesReceived: 777 }), placement);
    let body = (await metrics.render()).body;
    expect(body).toMatch(/^distcache_replica_moves 1$/m);
    expect(body).toMatch(/^distcache_replica_move_phase\{shard="3",from="n1",to="n4",phase="catch-up"\} 1$/m);
    expect(body).toMatch(/^distcache_placement_events\{event="moved"\} 4$/m);
    expect(body).toMatch(/^distcache_placement_events\{event="leaderTransfers"\} 3$/m);
    expect(body).toMatch(/^distcache_snapshot_bytes_sent 12345$/m);
    expect(body).toMatch(/^distcache_peer_bytes_received 777$/m);
    // A move that ended is no longer shown at its last phase.
    moves.length = 0;
    body = (await metrics.render()).body;
    expect(body).toMatch(/^distcache_replica_moves 0$/m);
    expect(body).not.toMatch(/^distcache_replica_move_phase\{/m);
  });

  it("counts server streams by outcome and those open now", async () => {
    const metrics = new NodeMetrics(noShards);
    for (const outcome of ["opened", "opened", "refused", "dropped", "ended"] as const) metrics.stream(outcome);
    const body = (await metrics.render()).body;
    expect(body).toMatch(/^distcache_streams_open 1$/m);
    expect(body).toMatch(/^distcache_streams_total\{outcome="refused"\} 1$/m);
  });
});
