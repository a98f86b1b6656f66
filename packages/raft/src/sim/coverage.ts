/** What a run exercised, so a passing run can be told apart from an idle one. */
export interface Coverage {
  elections: number;
  termMax: number;
  crashes: number;
  restarts: number;
  partitions: number;
  heals: number;
  transfersRequested: number;
  transfersCompleted: number;
  proposalsRejected: number;
  writesCompleted: number;
  readsCompleted: number;
  indeterminateOps: number;
  operationsChecked: number;
  entriesApplied: number;
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  linearizabilityUnknown: number;
  livenessTicks: number;
  compactions: number;
  snapshotsSent: number;
  snapshotsFailed: number;
  snapshotsInstalled: number;
  configChangesProposed: number;
  configChangesRejected: number;
  configChangesApplied: number;
  learnersAdded: number;
  learnersPromoted: number;
  nodesRemoved: number;
  leadersRemoved: number;
}

/** Sums coverage across runs (termMax takes the maximum). */
export function addCoverage(total: Coverage, one: Coverage): Coverage {
  const sum = { ...total };
  for (const key of Object.keys(one) as (keyof Coverage)[]) {
    sum[key] = key === "termMax" ? Math.max(total[key], one[key]) : total[key] + one[key];
  }
  return sum;
}

export function emptyCoverage(): Coverage {
  return {
    elections: 0,
    termMax: 0,
    crashes: 0,
    restarts: 0,
    partitions: 0,
    heals: 0,
    transfersRequested: 0,
    transfersCompleted: 0,
    proposalsRejected: 0,
    writesCompleted: 0,
    readsCompleted: 0,
    indeterminateOps: 0,
    operationsChecked: 0,
    entriesApplied: 0,
    messagesSent: 0,
    messagesDropped: 0,
    messagesDuplicated: 0,
    linearizabilityUnknown: 0,
    livenessTicks: 0,
    compactions: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
    snapshotsInstalled: 0,
    configChangesProposed: 0,
    configChangesRejected: 0,
    configChangesApplied: 0,
    learnersAdded: 0,
    learnersPromoted: 0,
    nodesRemoved: 0,
    leadersRemoved: 0,
  };
}

export function describeCoverage(coverage: Coverage): string {
  return [
    `elections=${coverage.elections} max-term=${coverage.termMax}`,
    `crashes=${coverage.crashes} restarts=${coverage.restarts} partitions=${coverage.partitions} heals=${coverage.heals}`,
    `transfers=${coverage.transfersCompleted}/${coverage.transfersRequested} proposals-rejected=${coverage.proposalsRejected}`,
    `writes=${coverage.writesCompleted} reads=${coverage.readsCompleted} indeterminate=${coverage.indeterminateOps}`,
    `operations-checked=${coverage.operationsChecked} linearizability-unknown=${coverage.linearizabilityUnknown}`,
    `entries-applied=${coverage.entriesApplied} messages=${coverage.messagesSent} ` +
      `dropped=${coverage.messagesDropped} duplicated=${coverage.messagesDuplicated}`,
    `compactions=${coverage.compactions} snapshots-sent=${coverage.snapshotsSent} failed=${coverage.snapshotsFailed} installed=${coverage.snapshotsInstalled}`,
    `config-changes=${coverage.configChangesApplied}/${coverage.configChangesProposed} rejected=${coverage.configChangesRejected} ` +
      `learners-added=${coverage.learnersAdded} promoted=${coverage.learnersPromoted} removed=${coverage.nodesRemoved} ` +
      `leaders-removed=${coverage.leadersRemoved}`,
    `liveness-ticks=${coverage.livenessTicks}`,
  ].join("\n");
}
