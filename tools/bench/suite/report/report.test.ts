import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ESM script, without declarations
import { xmlProblems } from "./well-formed.mjs";
// @ts-expect-error: a plain ESM script, without declarations
import { barChart, lineChart, ticks } from "./svg.mjs";

type Check = { problems: string[]; root: string | undefined };
const check = xmlProblems as (text: string) => Check;

describe("the well-formedness check", () => {
  it("takes a document with nested, self-closed and escaped content", () => {
    expect(check('<svg a="1"><g><rect x="0"/><text>a &amp; b &lt; c</text></g></svg>\n')).toEqual({ problems: [], root: "svg" });
  });

  it("refuses unclosed, misnested, unquoted, bare-ampersand and two-root documents", () => {
    expect(check("<svg><g></svg>").problems.length).toBeGreaterThan(0);
    expect(check("<svg><g></svg></g>").problems.length).toBeGreaterThan(0);
    expect(check("<svg a=1></svg>").problems.length).toBeGreaterThan(0);
    expect(check("<svg><text>a & b</text></svg>").problems.length).toBeGreaterThan(0);
    expect(check("<svg/><svg/>").problems.length).toBeGreaterThan(0);
  });
});

describe("the charts", () => {
  const series = [
    { name: "a <b> & c", values: [1200, null, 3] },
    { name: "d", values: [0, 5, 7] },
  ];

  it("are well-formed SVG, with names escaped and missing values left out", () => {
    const bars = (barChart as (c: object) => string)({ title: "t & u", unit: "ops/s", categories: ["w1", "w2", "w3"], series });
    expect(check(bars)).toEqual({ problems: [], root: "svg" });
    expect(bars).toContain("a &lt;b&gt; &amp; c");
    // Five bars drawn: one value is null.
    expect(bars.match(/<rect [^>]*><title>/g)).toHaveLength(5);
    const lines = (lineChart as (c: object) => string)({ title: "sweep", unit: "ops/s", xLabel: "c", xs: [1, 4, 16], series });
    expect(check(lines)).toEqual({ problems: [], root: "svg" });
    expect(lines.match(/<polyline/g)).toHaveLength(2);
  });

  it("puts ticks 1, 2 or 5 times a power of ten apart, up to at least the largest value", () => {
    const t = (ticks as (max: number) => number[])(1234);
    expect(t[0]).toBe(0);
    expect(t.at(-1)).toBeGreaterThanOrEqual(1234);
    const step = t[1]! - t[0]!;
    expect([100, 200, 500]).toContain(step);
  });
});
