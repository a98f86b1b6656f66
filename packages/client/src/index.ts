export type {
  AdminOptions,
  CacheClient,
  GetOptions,
  GetOrLoadOptions,
  ReadConsistency,
  RequestOptions,
  SetItem,
  SetOptions,
  StatsOptions,
  WriteOptions,
} from "./cache-client.js";
export { createCacheClient } from "./cache-client.js";
export type { CacheClientOptions, Clock, Sleep, TransportFactory } from "./client-options.js";
export {
  ATTEMPTS_MAX_DEFAULT,
  BACKOFF_MS_MAX_DEFAULT,
  BACKOFF_MS_MIN_DEFAULT,
  BATCH_KEYS_MAX_DEFAULT,
  TIMEOUT_MS_DEFAULT,
  WRITES_IN_FLIGHT_MAX_DEFAULT,
} from "./client-options.js";
export type { LimitExceededInfo } from "./errors.js";
export {
  CacheError,
  CanceledError,
  ClientClosedError,
  CounterOverflowError,
  IndeterminateWriteError,
  InvalidArgumentError,
  KeyExistsError,
  NotACounterError,
  ResourceExhaustedError,
  ServerError,
  SessionExpiredError,
  TimeoutError,
  TooManyInFlightError,
  UnauthenticatedError,
  UnavailableError,
  VersionMismatchError,
  WatchCompactedError,
  WriteResultForgottenError,
} from "./errors.js";
export type { CacheEvent, RetryReason } from "./events.js";
export type { ClusterStats, NodeStats, ShardReplicaStats, StoreCounters } from "./stats.js";
export type { Topology, TopologyNode, TopologyShard } from "./topology.js";
export type { ClusterNode } from "./membership.js";
export type { CacheValue, GetResult } from "./values.js";
export type { CacheWatch, WatchEvent, WatchEventType, WatchOptions, WatchPosition } from "./cache-watch.js";
export type { EvictionPolicyName, ShardStoreSettings, StoreSettingsChange } from "./store-settings.js";
export type { SingleFlightStats } from "./single-flight.js";
export { SingleFlight } from "./single-flight.js";
