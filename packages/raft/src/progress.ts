import type { SnapshotMeta } from "./types.js";

/**
 * How the leader talks to one follower:
 * - probe: one append at a time until the follower's match point is found;
 * - replicate: stream appends optimistically, at most maxInflight unacknowledged;
 * - snapshot: the follower is behind the leader's first log index and gets InstallSnapshot.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** Leader-side sending state of one InstallSnapshot transfer. */
export interface SnapshotTransfer {
  meta: SnapshotMeta;
  /** Every byte before this offset is staged on the follower. */
  acked: number;
  /** Bytes before this offset have been sent at least once. */
  sent: number;
  /** For a zero-byte snapshot: its single empty chunk went out. */
  emptySent: boolean;
  /** An ack moved `acked` since the last heartbeat (otherwise the leader resends from `acked`). */
  progressed: boolean;
  /** The offset the leader last went back to on a gap report; once per offset, so duplicated and reordered reports cannot multiply traffic. */
  rewoundAt: number;
  /** Lowest offset below `acked` reported since the last heartbeat: the follower may have lost its staging. */
  lowestReport: number | null;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append is out and unanswered. */
  probeSent = false;
  /** Heard from this peer since the last check-quorum round. */
  recentActive = false;
  snapshot: SnapshotTransfer | null = null;
  /** Last index of every unacknowledged append in replicate state, oldest first. */
  private inflight: number[] = [];
  private readonly maxInflight: number;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.maxInflight = maxInflight;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflight.length >= this.maxInflight;
      case "snapshot":
        return true;
    }
  }

  becomeProbe(): void {
    if (this.state === "snapshot" && this.snapshot !== null) {
      this.next = Math.max(this.match + 1, this.snapshot.meta.index + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset("probe");
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset("replicate");
  }

  becomeSnapshot(meta: SnapshotMeta): void {
    this.reset("snapshot");
    this.snapshot = { meta, acked: 0, sent: 0, emptySent: false, progressed: true, rewoundAt: -1, lowestReport: null };
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.inflight = [];
    this.snapshot = null;
  }

  /** A successful append response for `index`. Returns whether match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** Sent entries through `last` in replicate state. */
  sentEntries(last: number): void {
    this.next = last + 1;
    this.inflight.push(last);
  }

  freeInflightsTo(index: number): void {
    let i = 0;
    while (i < this.inflight.length && this.inflight[i]! <= index) i++;
    if (i > 0) this.inflight = this.inflight.slice(i);
  }

  freeFirstInflight(): void {
    this.inflight.shift();
  }

  isInflightFull(): boolean {
    return this.inflight.length >= this.maxInflight;
  }

  /**
   * A rejected append of prev index `rejected`; `hint` is where the follower suggests to retry.
   * Returns false when the rejection is stale (answers an older append) and must be ignored.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** The follower restarted from an empty disk: whatever it acknowledged before is gone. */
  lostData(lastIndex: number): void {
    this.match = Math.min(this.match, lastIndex);
    this.next = this.match + 1;
    this.reset("probe");
  }
}
