/** A configuration problem the operator must fix; the node refuses to start. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
