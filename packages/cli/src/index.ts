export type { CliDeps } from "./run-cli.js";
export { EXIT_NOT_FOUND, EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE, runCli } from "./run-cli.js";
export type { Parsed } from "./parse.js";
export { DEFAULT_ENDPOINT, ENDPOINTS_ENV, parseDelta, parseEndpoints, parseMilliseconds, parseVersion, resolveEndpoints } from "./parse.js";
export {
  displayValue,
  formatCounter,
  formatDeleted,
  formatError,
  formatGet,
  formatMget,
  formatStats,
  formatTopology,
  formatVersion,
  jsonLine,
} from "./format.js";
