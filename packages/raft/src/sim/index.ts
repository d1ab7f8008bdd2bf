export { SimNetwork, type NetworkFaults, type NetworkStats } from "./network.js";
export { SafetyChecker, SafetyViolation, entryKey } from "./checker.js";
export { SimCluster, SimNode, type SimNodeOptions, type Proposal } from "./cluster.js";
export { runScenario, type ScenarioOptions, type ScenarioResult, type FaultCounts } from "./scenario.js";
