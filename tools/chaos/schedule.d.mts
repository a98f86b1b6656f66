// Types of schedule.mjs, for the TypeScript tests.
export interface Fault {
  kind: string;
  params: Record<string, unknown>;
}
export interface Window {
  startMs: number;
  endMs: number;
  faults: Fault[];
}
export interface Schedule {
  windows: Window[];
  healAtMs: number;
  maxLinkDelayMs: number;
  clockSkewMax: number;
  mix?: { register: number; counter: number; ttl: number };
  clients?: { sdk: number; raw: number; session: number };
  proxyClients?: boolean;
  about?: string;
}
export interface ScheduleContext {
  seed: string;
  durationMs: number;
  warmupMs: number;
  healMs: number;
  ids: string[];
  shardCount: number;
  enabled: string[];
  proxyClients: boolean;
  maxDelayMs: number;
  /** The most members the run may have at once (default: 2 more than ids). */
  nodesMax?: number;
}
export declare const PROCESS_NEMESES: readonly string[];
export declare const CRASH_NEMESIS: string;
export declare const PARTITION_NEMESES: readonly string[];
export declare const LINK_NEMESES: readonly string[];
export declare const CLOCK_NEMESES: readonly string[];
export declare const MEMBERSHIP_NEMESES: readonly string[];
export declare const MEMBERS_MIN: number;
export declare const MOVE_VICTIMS: readonly string[];
export declare const NEMESES: readonly string[];
export declare const CLOCK_SKEW_MAX: number;
export declare const TARGETED: Record<string, { about: string; nodeArgs?: string[]; logLevelMin?: string; durationDefault?: string }>;
export declare function nodesMaxOf(ctx: ScheduleContext): number;
export declare function randomSchedule(ctx: ScheduleContext): Schedule;
export declare function targetedSchedule(name: string, ctx: ScheduleContext): Schedule;
export declare function describeFault(fault: Fault): string;
export declare function describeSchedule(schedule: Schedule): string[];
