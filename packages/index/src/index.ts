export * from "./segment-index.js";
export * from "./lookup.js";
export * from "./catalog.js";
export * from "./rebuild.js";
export { segmentIndexPath, catalogPath, quarantinedBases } from "./topic-paths.js";
export * from "./verify.js";
export * from "./topic-writer.js";
export * from "./topic-reader.js";
