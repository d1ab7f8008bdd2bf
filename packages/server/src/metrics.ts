import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The server's Prometheus metrics (names follow upstream's `lance_` families, cluster.md §7.2). */
/** What the Raft gauges read when scraped (null before the replica exists). */
export interface RaftGaugeSource {
  term: number;
  isLeader: boolean;
  commit: number;
  applied: number;
  lastIndex: number;
  /** Leader only: entries each peer is behind. */
  peerLag: Array<{ peer: string; lag: number }>;
}

export function createMetrics(segmentCounts: () => Array<{ topic: string; segments: number }>, raft: () => RaftGaugeSource | null = () => null) {
  const registry = new Registry();
  const raftGauge = (name: string, help: string, read: (s: RaftGaugeSource) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const s = raft();
        if (s) this.set(read(s));
      },
    });
  collectDefaultMetrics({ register: registry, prefix: "lance_process_" });
  const r = [registry];
  return {
    registry,
    recordsIngested: new Counter({ name: "lance_records_ingested_total", help: "Records written (acknowledged ingests)", registers: r }),
    bytesIngested: new Counter({ name: "lance_bytes_ingested_total", help: "Payload bytes written", registers: r }),
    ingestLatency: new Histogram({ name: "lance_ingest_latency_seconds", help: "Ingest frame received to ack sent", buckets: LATENCY_BUCKETS, registers: r }),
    walSyncSeconds: new Histogram({ name: "lance_wal_fsync_latency_seconds", help: "WAL append to covering fdatasync", buckets: LATENCY_BUCKETS, registers: r }),
    reads: new Counter({ name: "lance_reads_total", help: "Fetch requests served", registers: r }),
    readBytes: new Counter({ name: "lance_read_bytes_total", help: "Payload bytes returned by fetch", registers: r }),
    fetchLatency: new Histogram({ name: "lance_fetch_latency_seconds", help: "Fetch request to reply", buckets: LATENCY_BUCKETS, registers: r }),
    connectionsActive: new Gauge({ name: "lance_connections_active", help: "Open client connections", registers: r }),
    connectionsTotal: new Counter({ name: "lance_connections_total", help: "Client connections accepted", registers: r }),
    errors: new Counter({ name: "lance_errors_total", help: "Errors by type", labelNames: ["type"] as const, registers: r }),
    authFailures: new Counter({
      name: "lance_auth_failures_total",
      help: "Refused Authenticate frames and commands refused for want of authentication, by reason",
      labelNames: ["reason"] as const,
      registers: r,
    }),
    limitEvents: new Counter({
      name: "lance_limit_events_total",
      help: "Connections refused, closed or paused by a [limits] setting, by limit",
      labelNames: ["limit"] as const,
      registers: r,
    }),
    backpressure: new Counter({ name: "lance_backpressure_events_total", help: "Ingests answered with Backpressure", registers: r }),
    raftTerm: raftGauge("lance_raft_term", "Current Raft term", (s) => s.term),
    raftIsLeader: raftGauge("lance_raft_is_leader", "1 while this node is the Raft leader", (s) => (s.isLeader ? 1 : 0)),
    raftCommit: raftGauge("lance_raft_commit_index", "Highest log index known committed", (s) => s.commit),
    raftApplied: raftGauge("lance_raft_applied_index", "Highest log index applied to the segments", (s) => s.applied),
    raftLastIndex: raftGauge("lance_raft_last_index", "Last index of this node's log", (s) => s.lastIndex),
    raftPeerLag: new Gauge({
      name: "lance_raft_peer_lag_entries",
      help: "Leader only: log entries each peer is behind",
      labelNames: ["peer"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const p of raft()?.peerLag ?? []) this.set({ peer: p.peer }, p.lag);
      },
    }),
    leaderChanges: new Counter({ name: "lance_raft_leader_changes_total", help: "Times this node saw the leader change (or get lost)", registers: r }),
    snapshotsInstalled: new Counter({ name: "lance_raft_snapshots_installed_total", help: "Snapshots received from a leader and installed", registers: r }),
    divergentRecords: new Counter({ name: "lance_divergent_records_total", help: "Records kept in divergent/ (replaced or unconfirmed log suffixes)", registers: r }),
    segments: new Gauge({
      name: "lance_segments",
      help: "Segment files per topic",
      labelNames: ["topic"] as const,
      registers: r,
      collect() {
        this.reset();
        for (const s of segmentCounts()) this.set({ topic: s.topic }, s.segments);
      },
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
