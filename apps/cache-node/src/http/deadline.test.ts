import type http from "node:http";
import { describe, expect, it } from "vitest";
import { DEADLINE_MS_MAX, clampDeadlineHeaders } from "./deadline.js";

function clamped(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  clampDeadlineHeaders(headers);
  return headers;
}

describe("clampDeadlineHeaders", () => {
  it("caps Connect and gRPC deadlines above what a timer holds", () => {
    expect(clamped({ "connect-timeout-ms": "9999999999" })["connect-timeout-ms"]).toBe(String(DEADLINE_MS_MAX));
    expect(clamped({ "connect-timeout-ms": String(DEADLINE_MS_MAX + 1) })["connect-timeout-ms"]).toBe(String(DEADLINE_MS_MAX));
    for (const long of ["99999999H", "99999999M", "2147484S", "99999999S"]) {
      expect(clamped({ "grpc-timeout": long })["grpc-timeout"], long).toBe("2147483S");
    }
  });

  it("leaves deadlines a timer holds, and headers that do not parse, as they are", () => {
    for (const value of [String(DEADLINE_MS_MAX), "0", "1500", "12345678901", "-5", "1e12", ""]) {
      expect(clamped({ "connect-timeout-ms": value })["connect-timeout-ms"]).toBe(value);
    }
    for (const value of ["2147483S", "596H", "99999999m", "99999999n", "1S", "123456789S", "5X", "H"]) {
      expect(clamped({ "grpc-timeout": value })["grpc-timeout"]).toBe(value);
    }
    expect(clamped({})).toEqual({});
  });
});
