export * from "./io.js";
export { toJson, formatBytes, formatTimestamp, formatRange } from "./format.js";
export { runScan, scanReport, renderScan, type ScanOptions, type ScanReport } from "./commands/scan.js";
export { runVerifyData, renderVerify, type VerifyDataOptions } from "./commands/verify-data.js";
export { runRepairSegment, repairSegment, repairMode, type RepairSegmentOptions, type SegmentRepairReport } from "./commands/repair.js";
export { runRebuildIndex, type RebuildIndexOptions } from "./commands/rebuild-index.js";
export { runInspectIndex, inspectIndex, type InspectIndexOptions } from "./commands/inspect-index.js";
export { runListTopicsOffline, listTopicsOffline, type OfflineTopic } from "./commands/list-topics.js";
export { resolveTopicDir } from "./commands/topics.js";
export { runScanWal, runRepairWal } from "./commands/wal.js";
export { runScanPath, runRepairPath } from "./commands/dispatch.js";
export { DEFAULT_SERVER, cliClient, withClient, parseU64, securityOf, type RemoteOptions, type RemoteSecurity } from "./remote/session.js";
export {
  runListTopicsRemote,
  runTopicInfo,
  runCreateTopic,
  runDeleteTopic,
  runSetRetention,
  listTopicsMode,
  type ListTopicsRemoteOptions,
  type TopicInfoOptions,
  type CreateTopicOptions,
  type DeleteTopicOptions,
  type SetRetentionOptions,
} from "./remote/topics.js";
export { runProduce, type ProduceOptions } from "./remote/produce.js";
export { runConsume, parseStart, DEFAULT_OFFSETS_DIR, type ConsumeOptions } from "./remote/consume.js";
export { runBench, renderBench, percentile, benchPayload, BENCH_DEFAULTS, type BenchOptions, type BenchReport, type LatencySummary } from "./remote/bench.js";
export { runExportTopic, exportTopic, renderExport, divergentTopicDir, type ExportTopicOptions, type ExportReport } from "./commands/export-topic.js";
export { runImportTopic, importTopic, renderImport, type ImportTopicOptions, type ImportReport } from "./commands/import-topic.js";
export { ArchiveReader } from "./archive/reader.js";
export { crc32cCombine, Crc32cStream } from "./archive/crc-stream.js";
export * from "./archive/format.js";
export { runClusterStatus, clusterProblems, type ClusterStatusOptions } from "./remote/cluster-status.js";
export {
  runChaos,
  runChaosCommand,
  renderChaos,
  CHAOS_DEFAULTS,
  ChaosChecker,
  attemptOutcome,
  chaosProblems,
  checkChaosStream,
  encodeChaosPayload,
  decodeChaosPayload,
  CHAOS_HEADER_SIZE,
  CHAOS_MAGIC,
  CHAOS_VERSION,
  type ChaosOptions,
  type ChaosCommandOptions,
  type ChaosReport,
  type ChaosProgress,
  type ChaosHooks,
  type ChaosCheckResult,
  type ChaosRecord,
  type ChaosDecode,
  type AttemptOutcome,
  type ProducedRecord,
} from "./remote/chaos.js";
