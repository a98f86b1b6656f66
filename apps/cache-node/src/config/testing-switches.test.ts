import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config.js";
import { PLANTED_BUGS, TESTING_KEYS, describeTestingSwitches, hasBug } from "./testing-switches.js";

/** Each test-only switch, with a value it accepts. */
const SWITCHES: [flag: string, value: string][] = [
  ["--testing-control", "/tmp/control.json"],
  ["--testing-clock-offset-ms", "-1500"],
  ["--testing-storage", "lossy"],
  ...Object.keys(PLANTED_BUGS).map((bug): [string, string] => ["--testing-bug", bug]),
];

describe("test-only switches", () => {
  it("cover every testing key", () => {
    expect(new Set(SWITCHES.map(([flag]) => flag))).toEqual(new Set(Object.values(TESTING_KEYS)));
  });

  it.each(SWITCHES)("refuses %s %s without --testing", (flag, value) => {
    expect(() => parseConfig([flag, value])).toThrow(ConfigError);
    expect(() => parseConfig([flag, value])).toThrow(`${flag}: test-only, accepted only with --testing (never on a production node)`);
  });

  it("refuses them from a config file too, and refuses testing there: only the flag turns them on", () => {
    const dir = mkdtempSync(join(tmpdir(), "distcache-testing-"));
    try {
      const file = join(dir, "node.json");
      writeFileSync(file, JSON.stringify({ testingBug: "incr-twice", testingClockOffsetMs: 10 }));
      expect(() => parseConfig(["--config", file])).toThrow("--testing-clock-offset-ms, --testing-bug: test-only");
      writeFileSync(file, JSON.stringify({ testing: true, testingBug: "incr-twice" }));
      expect(() => parseConfig(["--config", file])).toThrow('"testing" is accepted only as the --testing flag');
      writeFileSync(file, JSON.stringify({ testingBug: "incr-twice" }));
      expect(parseConfig(["--testing", "--config", file]).testing?.bugs).toEqual(new Set(["incr-twice"]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(SWITCHES)("accepts %s %s with --testing", (flag, value) => {
    const testing = parseConfig(["--testing", flag, value]).testing;
    expect(testing).toBeDefined();
    expect(describeTestingSwitches(testing!)).toBeTypeOf("object");
  });

  it("refuses --client-dial and --peer-dial entries for nodes outside --initial-cluster", () => {
    const cluster = [
      "--node-id",
      "n1",
      "--peer-secret",
      "0123456789abcdef",
      "--initial-cluster",
      "n1=127.0.0.1:7301/127.0.0.1:7401,n2=127.0.0.1:7302/127.0.0.1:7402",
    ];
    expect(parseConfig([...cluster, "--client-dial", "n2=127.0.0.1:9000"]).clientDial.get("n2")).toBe("127.0.0.1:9000");
    expect(() => parseConfig([...cluster, "--client-dial", "n9=127.0.0.1:9000"])).toThrow("--client-dial names n9, not in --initial-cluster");
    expect(() => parseConfig([...cluster, "--peer-dial", "n3=127.0.0.1:9000"])).toThrow("--peer-dial names n3, not in --initial-cluster");
  });

  it("reads the switches' values", () => {
    const testing = parseConfig(["--testing", "--testing-clock-offset-ms", "-1500", "--testing-bug", "incr-twice, stale-read-index"]).testing!;
    expect(testing.clockOffsetMs).toBe(-1500);
    expect(testing.bugs).toEqual(new Set(["incr-twice", "stale-read-index"]));
    expect(hasBug(testing, "incr-twice")).toBe(true);
    expect(hasBug(testing, "ack-before-commit")).toBe(false);
    expect(describeTestingSwitches(testing).plantedBugs).toEqual([
      `incr-twice: ${PLANTED_BUGS["incr-twice"]}`,
      `stale-read-index: ${PLANTED_BUGS["stale-read-index"]}`,
    ]);
  });

  it("leaves a node without --testing with none", () => {
    const config = parseConfig([]);
    expect(config.testing).toBeUndefined();
    expect(hasBug(config.testing, "incr-twice")).toBe(false);
    expect(parseConfig(["--testing"]).testing).toEqual({ controlFile: undefined, clockOffsetMs: 0, bugs: new Set(), storage: "real" });
  });

  it.each([
    [["--testing", "--testing-bug", "no-such-bug"], /no planted bug "no-such-bug"/],
    [["--testing", "--testing-storage", "flaky"], /--testing-storage must be one of real, lossy/],
    [["--testing", "--testing-clock-offset-ms", "1.5"], /--testing-clock-offset-ms must be an integer/],
    [["--testing", "--testing-clock-offset-ms", String(25 * 3600 * 1000)], /must be an integer in \[-86400000, 86400000\]/],
  ])("rejects %j", (argv, message) => {
    expect(() => parseConfig(argv)).toThrow(message);
  });
});
