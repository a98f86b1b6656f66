/**
 * A canonical, readable string for plain data: equal strings mean equal values.
 * Models use it for state keys and value comparison, so byte arrays, bigints,
 * nested arrays and objects (keys sorted) compare by content.
 *
 * Encodings never overlap: strings are JSON-quoted, bigints end in "n", byte
 * arrays read bytes(hex), arrays use [], objects use {}.
 */
export function canonicalKey(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "boolean":
      return String(value);
    case "undefined":
      return "undefined";
    case "object":
      return value === null ? "null" : canonicalObject(value);
    default:
      throw new TypeError(`canonicalKey: cannot encode a ${typeof value}`);
  }
}

function canonicalObject(value: object): string {
  if (value instanceof Uint8Array) return `bytes(${hex(value)})`;
  if (Array.isArray(value)) return `[${value.map(canonicalKey).join(",")}]`;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) {
    throw new TypeError(`canonicalKey: cannot encode an instance of ${value.constructor.name}`);
  }
  const record = value as Record<string, unknown>;
  const fields = Object.keys(record)
    .filter((name) => record[name] !== undefined)
    .sort()
    .map((name) => `${JSON.stringify(name)}:${canonicalKey(record[name])}`);
  return `{${fields.join(",")}}`;
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}
