// Reading Prometheus text exposition: the sum of a metric's samples whose labels match.

/** Fetches `url` and sums the samples of `name` (with labels containing `labels`, when given). */
export async function metricSum(url, name, labels = "") {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  return sumOf(text, name, labels);
}

export function sumOf(text, name, labels = "") {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    if (labels && !rest.includes(labels)) continue;
    total += Number(line.split(" ").at(-1)) || 0;
  }
  return total;
}

/** Each labelled sample of `name`, by its label set. */
export function samplesOf(text, name) {
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels = line.slice(name.length, line.indexOf("}") + 1);
    samples.set(labels, Number(line.split(" ").at(-1)) || 0);
  }
  return samples;
}
