// Small SVG charts, written by hand so they need no browser and no library: grouped bars
// and lines, with axes, ticks and a legend. Text is escaped; every chart is a standalone
// well-formed document.

const COLORS = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477"];
const escape = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Tick values for an axis from 0 to about `max`: 1, 2 or 5 times a power of ten apart. */
export function ticks(max) {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(Number(v.toPrecision(12)));
  if (out.at(-1) < max) out.push(Number((out.at(-1) + step).toPrecision(12)));
  return out;
}

const label = (v) => (v >= 1e6 ? `${v / 1e6}M` : v >= 1e4 ? `${v / 1e3}k` : String(v));

function frame(width, height, title, body, legend) {
  // Each legend entry as wide as its name (about 7 px a character at 12 px).
  let x = 70;
  const items = legend
    .map((name, i) => {
      const item =
        `<rect x="${x}" y="${height - 22}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>` +
        `<text x="${x + 16}" y="${height - 12}">${escape(name)}</text>`;
      x += 36 + 7 * String(name).length;
      return item;
    })
    .join("");
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">` +
    `<rect width="${width}" height="${height}" fill="white"/>` +
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>` +
    `${body}${items}</svg>\n`
  );
}

function yAxis(x0, y0, plotHeight, plotWidth, top, unit) {
  return (
    ticks(top)
      .map((t) => {
        const y = y0 - (t / top) * plotHeight;
        return (
          `<line x1="${x0}" y1="${y}" x2="${x0 + plotWidth}" y2="${y}" stroke="#ddd"/>` +
          `<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${label(t)}</text>`
        );
      })
      .join("") + `<text x="14" y="${y0 - plotHeight / 2}" transform="rotate(-90 14 ${y0 - plotHeight / 2})" text-anchor="middle">${escape(unit)}</text>`
  );
}

function xAxisLine(x0, y0, plotWidth) {
  return `<line x1="${x0}" y1="${y0}" x2="${x0 + plotWidth}" y2="${y0}" stroke="black"/>`;
}

/** A log10 y scale from 1 to the power of ten above the largest value. */
function logScale(series, plotHeight) {
  const max = Math.max(10, ...series.flatMap((s) => s.values.filter((v) => v !== null && v > 0)));
  const top = 10 ** Math.ceil(Math.log10(max));
  return { top, height: (v) => (Math.log10(Math.max(1, v)) / Math.log10(top)) * plotHeight };
}

function logAxis(x0, y0, plotHeight, plotWidth, top, unit) {
  let out = "";
  for (let t = 1; t <= top; t *= 10) {
    const y = y0 - (Math.log10(t) / Math.log10(top)) * plotHeight;
    out +=
      `<line x1="${x0}" y1="${y}" x2="${x0 + plotWidth}" y2="${y}" stroke="#ddd"/>` + `<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${label(t)}</text>`;
  }
  return (
    out +
    `<text x="14" y="${y0 - plotHeight / 2}" transform="rotate(-90 14 ${y0 - plotHeight / 2})" text-anchor="middle">${escape(`${unit}, log scale`)}</text>`
  );
}

/** Where a chart plots (a fixed left margin for the axis labels) and the top of its y axis. */
function plotArea(width, height, margins, series) {
  const x0 = 70;
  const y0 = height - margins.bottom;
  const max = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null)));
  return { x0, y0, plotHeight: y0 - 40, plotWidth: width - x0 - margins.right, top: ticks(max).at(-1) || 1 };
}

/**
 * Grouped bars: one group per category, one bar per series (null values are left out).
 * @param {{ title: string, unit: string, categories: string[], series: { name: string, values: (number | null)[] }[] }} chart
 */
export function barChart({ title, unit, categories, series, log = false }) {
  const legendWidth = 100 + series.reduce((n, s) => n + 36 + 7 * s.name.length, 0);
  const width = Math.max(640, legendWidth, 90 + categories.length * (series.length * 18 + 30));
  // Room below the plot for the slanted category names, then the legend.
  const longest = Math.max(0, ...categories.map((c) => String(c).length));
  const bottom = 50 + Math.round(longest * 3.6);
  const height = 320 + bottom;
  const area = plotArea(width, height, { bottom, right: 20 }, series);
  const { x0, y0, plotHeight, plotWidth } = area;
  const scale = log ? logScale(series, plotHeight) : { top: area.top, height: (v) => (v / area.top) * plotHeight };
  const group = plotWidth / Math.max(1, categories.length);
  const bar = Math.min(24, (group - 12) / Math.max(1, series.length));
  let body = log ? logAxis(x0, y0, plotHeight, plotWidth, scale.top, unit) : yAxis(x0, y0, plotHeight, plotWidth, scale.top, unit);
  categories.forEach((category, c) => {
    const gx = x0 + c * group + (group - bar * series.length) / 2;
    series.forEach((s, i) => {
      const v = s.values[c];
      if (v === null || v === undefined || (log && v <= 0)) return;
      const h = scale.height(v);
      const box = `x="${(gx + i * bar).toFixed(1)}" y="${(y0 - h).toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${h.toFixed(1)}"`;
      body += `<rect ${box} fill="${COLORS[i % COLORS.length]}"><title>${escape(`${s.name}, ${category}: ${v}`)}</title></rect>`;
    });
    const cx = x0 + c * group + group / 2;
    body += `<text x="${cx}" y="${y0 + 14}" text-anchor="end" transform="rotate(-30 ${cx} ${y0 + 14})">${escape(category)}</text>`;
  });
  return frame(
    width,
    height,
    title,
    body + xAxisLine(x0, y0, plotWidth),
    series.map((s) => s.name),
  );
}

/**
 * Lines over a logarithmic x axis (concurrency 1 to 256).
 * @param {{ title: string, unit: string, xLabel: string, xs: number[], series: { name: string, values: (number | null)[] }[] }} chart
 */
export function lineChart({ title, unit, xLabel, xs, series }) {
  const width = 640;
  const height = 400;
  const { x0, y0, plotHeight, plotWidth, top } = plotArea(width, height, { bottom: 80, right: 30 }, series);
  const logs = xs.map((x) => Math.log2(x));
  const span = Math.max(1e-9, Math.max(...logs) - Math.min(...logs));
  const px = (i) => x0 + ((logs[i] - Math.min(...logs)) / span) * plotWidth;
  let body = yAxis(x0, y0, plotHeight, plotWidth, top, unit);
  xs.forEach((x, i) => (body += `<text x="${px(i)}" y="${y0 + 16}" text-anchor="middle">${x}</text>`));
  body += `<text x="${x0 + plotWidth / 2}" y="${y0 + 34}" text-anchor="middle">${escape(xLabel)}</text>`;
  series.forEach((s, i) => {
    const points = s.values.map((v, j) => (v === null ? null : `${px(j).toFixed(1)},${(y0 - (v / top) * plotHeight).toFixed(1)}`)).filter(Boolean);
    if (points.length === 0) return;
    body += `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${points.join(" ")}"/>`;
    for (const p of points) body += `<circle cx="${p.split(",")[0]}" cy="${p.split(",")[1]}" r="3" fill="${COLORS[i % COLORS.length]}"/>`;
  });
  return frame(
    width,
    height,
    title,
    body + xAxisLine(x0, y0, plotWidth),
    series.map((s) => s.name),
  );
}
