import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ESM script, without declarations
import { freePorts } from "./local-nodes.mjs";

function ephemeralLow(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

describe("freePorts", () => {
  it("hands out distinct ports below the ephemeral range, where no outbound connection takes them while a node restarts", async () => {
    const ports = ((await freePorts(40)) as number[]).concat((await freePorts(40)) as number[]);
    expect(new Set(ports).size).toBe(80);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(1024);
      expect(port).toBeLessThan(ephemeralLow());
    }
  });
});
