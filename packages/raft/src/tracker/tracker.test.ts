import { describe, expect, it } from "vitest";
import { quorumSize, quorumValue, voteResult } from "../quorum/majority.js";
import type { LogIndex } from "../types.js";
import { Inflights } from "./inflights.js";
import { Progress } from "./progress.js";

const at = (n: number): LogIndex => n as LogIndex;

describe("quorum", () => {
  it("takes the quorum-th largest value", () => {
    expect(quorumSize(3)).toBe(2);
    expect(quorumSize(4)).toBe(3);
    expect(quorumValue([5, 1, 3])).toBe(3);
    expect(quorumValue([5, 1, 3, 4, 2])).toBe(3);
    expect(quorumValue([7])).toBe(7);
  });

  it("decides elections as soon as the outcome is certain", () => {
    expect(voteResult(3, 2, 0)).toBe("won");
    expect(voteResult(3, 1, 1)).toBe("pending");
    expect(voteResult(3, 1, 2)).toBe("lost");
    expect(voteResult(5, 2, 3)).toBe("lost");
  });
});

describe("Inflights", () => {
  it("bounds the window and frees acknowledged messages", () => {
    const inflights = new Inflights(3);
    inflights.add(at(2));
    inflights.add(at(4));
    inflights.add(at(6));
    expect(inflights.full()).toBe(true);
    expect(() => inflights.add(at(8))).toThrow(/full/);
    inflights.freeLE(at(4));
    expect(inflights.size).toBe(1);
    inflights.add(at(8));
    inflights.add(at(9));
    expect(inflights.full()).toBe(true);
    inflights.freeLE(at(100));
    expect(inflights.size).toBe(0);
  });
});

describe("Progress", () => {
  it("keeps match < next and ignores stale rejections", () => {
    const progress = new Progress(at(11), 4);
    expect(progress.maybeDecrTo(at(5), at(3))).toBe(false); // probe: not the message we sent
    expect(progress.maybeDecrTo(at(10), at(3))).toBe(true);
    expect(progress.next).toBe(3);
    progress.maybeUpdate(at(2));
    progress.becomeReplicate();
    progress.sentEntries(at(5), 3);
    expect(progress.next).toBe(6);
    expect(progress.maybeDecrTo(at(2), at(1))).toBe(false); // already matched
    expect(progress.maybeDecrTo(at(5), at(1))).toBe(true);
    expect(progress.next).toBe(3);
  });

  it("pauses a probe until answered", () => {
    const progress = new Progress(at(1), 4);
    expect(progress.isPaused()).toBe(false);
    progress.sentEntries(at(1), 1);
    expect(progress.isPaused()).toBe(true);
    progress.maybeUpdate(at(1));
    expect(progress.isPaused()).toBe(false);
  });
});
