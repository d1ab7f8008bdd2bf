export {
  MAGIC,
  PROTOCOL_VERSION,
  HEADER_SIZE,
  DEFAULT_MAX_PAYLOAD_LENGTH,
  MAX_FETCH_RESPONSE_DATA,
  U32_MAX,
  U64_MAX,
  TAIL_OFFSET,
  Flag,
  Command,
  type CommandCode,
} from "./constants.js";
export { ProtocolError, isProtocolError, type ProtocolErrorCode } from "./errors.js";
export { crc32 } from "./crc.js";
export { type FrameHeader, type HeaderFields, type FrameKind, headerCrc, parseHeader, classifyFrame } from "./header.js";
export { type Frame, encodeFrame, encodeFrameHeader, decodeFrame } from "./frame.js";
export { FrameDecoder, type FrameDecoderOptions } from "./frame-decoder.js";
export * from "./messages.js";
export { encodeMessage, decodeMessage, encodeFetchResponseParts } from "./message-codec.js";
export {
  ErrorPrefix,
  ErrorText,
  notLeaderText,
  noQuorumText,
  readOnlyText,
  parseErrorText,
  isRetryableErrorText,
  type ErrorTextKind,
} from "./error-text.js";
export { type TopicInfo, type Retention, type TopicResponseBody, formatTopicResponse, parseTopicResponse } from "./topic-json.js";
export { type ClusterStatus, type RaftStatus, formatClusterStatus, parseClusterStatus } from "./cluster-status-json.js";
export { utf8Strict } from "./wire-values.js";
