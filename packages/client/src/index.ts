export { DEFAULT_PORT, DEFAULT_SERVER, parseAddress, formatAddress, type ServerAddress } from "./address.js";
export { ClientError, isClientError, serverError, type ClientErrorCode, type ClientErrorDetails } from "./errors.js";
export { Connection, nowNs, type ClientTlsOptions, type ConnectionOptions, type FetchResult } from "./connection.js";
export { LanceClient, DEFAULT_RETRY, type ClientOptions, type RetryOptions } from "./client.js";
export { TLV_HEADER_SIZE, RECORD_TYPE_DATA, encodeTlv, decodeTlv, type TlvRecord } from "./framing.js";
export { Producer, type Framing, type ProducerOptions, type ProducerStats, type IngestAttempt } from "./producer.js";
export { Consumer, type ConsumerEvent, type ConsumerOptions, type StartPosition } from "./consumer.js";
export { FileOffsetStore } from "./offset-store.js";
export { Admin, type TopicWithRetention, type RetentionInput, type ClusterStatus, type Retention, type TopicInfo } from "./admin.js";
