import { assert, fail } from "../assert.js";
import type { ConfState } from "../conf-state.js";
import type { Entry } from "../entry.js";
import type { LogIndex } from "../types.js";
import { applyConfChange, decodeConfChange } from "./conf-change.js";

interface ConfigRecord {
  readonly index: LogIndex;
  readonly conf: ConfState;
}

/**
 * The membership in force at every index of one node's log. A server uses the
 * latest configuration in its log, committed or not (thesis §4.1), so a
 * config entry takes effect when appended, and is undone if a new leader
 * overwrites it. `base` is the configuration at `baseIndex` (the snapshot, or
 * the bootstrap membership at index 0); each record is the configuration after
 * the config entry at its index.
 *
 * Invariant: records are in increasing index order, all above baseIndex, and
 * each differs from the one before it by at most one voter (single-server
 * changes, thesis §4.1).
 */
export class ConfigHistory {
  private baseIndex: LogIndex;
  private base: ConfState;
  private records: ConfigRecord[] = [];

  constructor(baseIndex: LogIndex, base: ConfState) {
    this.baseIndex = baseIndex;
    this.base = base;
  }

  /** The configuration in force: the latest in the log. */
  latest(): ConfState {
    return this.records[this.records.length - 1]?.conf ?? this.base;
  }

  /** Index of the entry that set the latest configuration (the base index if none in the log). */
  latestIndex(): LogIndex {
    return this.records[this.records.length - 1]?.index ?? this.baseIndex;
  }

  /** Config entries in the log above `index`. */
  countAbove(index: LogIndex): number {
    let count = 0;
    for (let i = this.records.length - 1; i >= 0 && this.records[i]!.index > index; i -= 1) count += 1;
    return count;
  }

  /** The configuration in force at `index` (after every config entry up to it). */
  at(index: LogIndex): ConfState {
    assert(index >= this.baseIndex, `no configuration is known before index ${this.baseIndex}`);
    let conf = this.base;
    for (const record of this.records) {
      if (record.index > index) break;
      conf = record.conf;
    }
    return conf;
  }

  /** Entries were appended after discarding the log from entries[0].index on (paper §5.3). */
  onAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    this.truncateFrom(first.index);
    for (const entry of entries) if (entry.kind === "config") this.push(entry);
  }

  /** Entries from `index` on left the log: their configurations are undone (thesis §4.1). */
  truncateFrom(index: LogIndex): void {
    while (this.records.length > 0 && this.records[this.records.length - 1]!.index >= index) this.records.pop();
  }

  /** A snapshot replaced the log: its configuration is the new base. */
  restore(index: LogIndex, conf: ConfState): void {
    this.baseIndex = index;
    this.base = conf;
    this.records = [];
  }

  /** Forgets configurations before `index`, which the log no longer holds. */
  compactTo(index: LogIndex): void {
    if (index <= this.baseIndex) return;
    this.base = this.at(index);
    this.baseIndex = index;
    this.records = this.records.filter((record) => record.index > index);
  }

  private push(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    if (typeof change === "string") fail(`config entry ${entry.index}: ${change}`);
    const before = this.latest();
    const conf = applyConfChange(before, change);
    // Thesis §4.1: one server at a time, so any majority of the old voters meets any majority of the new.
    let changedVoters = 0;
    for (const id of conf.voters) if (!before.voters.includes(id)) changedVoters += 1;
    for (const id of before.voters) if (!conf.voters.includes(id)) changedVoters += 1;
    assert(changedVoters <= 1, `config entry ${entry.index} changes ${changedVoters} voters at once`);
    assert(entry.index > this.latestIndex(), "config entries are recorded in log order");
    this.records.push({ index: entry.index, conf });
  }
}
