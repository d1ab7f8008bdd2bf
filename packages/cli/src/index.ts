export * from "./io.js";
export { toJson, formatBytes, formatTimestamp, formatRange } from "./format.js";
export { runScan, scanReport, renderScan, type ScanOptions, type ScanReport } from "./commands/scan.js";
export { runVerifyData, renderVerify, type VerifyDataOptions } from "./commands/verify-data.js";
export { runRepairSegment, repairSegment, repairMode, type RepairSegmentOptions, type SegmentRepairReport } from "./commands/repair.js";
export { runRebuildIndex, type RebuildIndexOptions } from "./commands/rebuild-index.js";
export { runInspectIndex, inspectIndex, type InspectIndexOptions } from "./commands/inspect-index.js";
export { runListTopicsOffline, listTopicsOffline, type OfflineTopic } from "./commands/list-topics.js";
export { resolveTopicDir } from "./commands/topics.js";
