import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ERROR_MESSAGE_BYTES_MAX, answerableError } from "./rpc-error-response.js";

describe("answerableError", () => {
  it("cuts a long message and says how much it cut, keeping code and details", () => {
    const err = new ConnectError(`unknown node "${"x".repeat(70_000)}"`, Code.InvalidArgument);
    err.details = [{ type: "distcache.v1.NotLeader", value: new Uint8Array([1]) }];
    const out = answerableError(err);
    expect(Buffer.byteLength(out.rawMessage)).toBeLessThan(ERROR_MESSAGE_BYTES_MAX + 40);
    expect(out.rawMessage).toMatch(/… \(67\d+ more bytes\)$/);
    // Counted in bytes: 2,000 three-byte characters are cut too.
    const wide = answerableError(new ConnectError("漢".repeat(2000), Code.InvalidArgument));
    expect(Buffer.byteLength(wide.rawMessage)).toBeLessThan(ERROR_MESSAGE_BYTES_MAX + 40);
    expect(out.code).toBe(Code.InvalidArgument);
    expect(out.details).toEqual(err.details);
  });

  it("replaces lone surrogates, which gRPC cannot percent-encode, and keeps pairs", () => {
    const out = answerableError(new ConnectError("key a\ud800b and 🙂", Code.InvalidArgument));
    expect(out.rawMessage).toBe("key a\ufffdb and 🙂");
    expect(() => encodeURIComponent(out.rawMessage)).not.toThrow();
    // A cut that would split a pair leaves no half of it behind either.
    const split = answerableError(new ConnectError(`${"a".repeat(ERROR_MESSAGE_BYTES_MAX - 1)}🙂tail`, Code.NotFound));
    expect(() => encodeURIComponent(split.rawMessage)).not.toThrow();
  });

  it("drops connection and body headers from the metadata and keeps the rest", () => {
    const err = new ConnectError("no", Code.FailedPrecondition, {
      connection: "keep-alive",
      "keep-alive": "timeout=5",
      "content-length": "9",
      "x-distcache-leader": "n2",
    });
    const out = answerableError(err);
    expect([...out.metadata.keys()]).toEqual(["x-distcache-leader"]);
    const clean = new ConnectError("fine", Code.NotFound, { "x-a": "1" });
    expect(answerableError(clean)).toBe(clean);
  });
});
